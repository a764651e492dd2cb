"""Outputs never destroy what knowtune did not write: a folder is replaced only when it is a
knowtune output of the same kind, '.' / '..' / empty names are refused, a run (or an
interrupted run's checkpoints) is replaced only with --overwrite."""

import json
import os

import pytest

from knowtune.cli import main
from knowtune.config import KnowtuneError, TrainConfig
from knowtune.config.fsutil import MARKER, atomic_dir, check_output
from knowtune.config.run import partial_dir
from knowtune.train.run import train_run


def run_cli(capsys, *args) -> tuple[int, str]:
    """Exit code and stderr of `knowtune ARGS`, run in this process."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exit_:
        code = exit_.code or 0
    return code, capsys.readouterr().err.strip()


def refused(code: int, err: str, *needles: str) -> bool:
    return code == 2 and err.startswith("error: ") and "\n" not in err and all(n in err for n in needles)


def test_data_build_keeps_a_users_folder(tmp_path, facts_file, capsys):
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "mine.txt").write_text("precious")
    code, err = run_cli(capsys, "data", "build", facts_file, "--out", keep)
    assert refused(code, err, str(keep), "--overwrite")
    assert sorted(p.name for p in keep.iterdir()) == ["mine.txt"]
    code, _ = run_cli(capsys, "data", "build", facts_file, "--out", keep, "--overwrite")
    assert code == 0 and (keep / "train.jsonl").is_file() and not (keep / "mine.txt").exists()


def test_data_build_replaces_its_own_data_set_and_marks_it(tmp_path, facts_file, capsys):
    out = tmp_path / "ds"
    assert run_cli(capsys, "data", "build", facts_file, "--out", out)[0] == 0
    assert json.loads((out / MARKER).read_text())["kind"] == "dataset"
    (out / "stale.txt").write_text("from the first build")
    assert run_cli(capsys, "data", "build", facts_file, "--out", out)[0] == 0
    assert not (out / "stale.txt").exists() and (out / "train.jsonl").is_file()


@pytest.mark.parametrize("name", [".", "..", "", "sub/..", "./"])
def test_dot_and_empty_output_names_are_refused(tmp_path, facts_file, capsys, monkeypatch, name):
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    (work / "mine.txt").write_text("precious")
    monkeypatch.chdir(work)
    code, err = run_cli(capsys, "data", "build", facts_file, "--out", name, "--overwrite")
    assert refused(code, err, "--out")
    assert (work / "mine.txt").read_text() == "precious"


def test_overwrite_never_replaces_the_current_folder(tmp_path, facts_file, capsys, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / "mine.txt").write_text("precious")
    monkeypatch.chdir(work)
    for target in (work, tmp_path):
        code, err = run_cli(capsys, "data", "build", facts_file, "--out", target, "--overwrite")
        assert refused(code, err, "current folder")
    assert (work / "mine.txt").is_file()


def test_another_kind_of_output_is_not_replaced(tmp_path):
    out = tmp_path / "x"
    with atomic_dir(out, kind="eval") as tmp:
        (tmp / "report.md").write_text("r")
    with pytest.raises(KnowtuneError, match="holds a knowtune eval, not a dataset"):
        check_output(out, "dataset")
    with pytest.raises(KnowtuneError, match="no knowtune marker"):
        (out / MARKER).unlink()
        check_output(out, "eval")
    assert check_output(tmp_path / "empty-later", "eval")  # absent: fine
    (tmp_path / "empty").mkdir()
    assert check_output(tmp_path / "empty", "eval")  # empty: nothing to lose


def test_a_file_in_the_way_is_not_replaced(tmp_path):
    (tmp_path / "f").write_text("mine")
    with pytest.raises(KnowtuneError, match="not a folder written by knowtune"):
        check_output(tmp_path / "f", "dataset")


def test_failed_writing_leaves_the_old_output(tmp_path):
    out = tmp_path / "x"
    with atomic_dir(out, kind="eval") as tmp:
        (tmp / "a").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_dir(out, kind="eval") as tmp:
            (tmp / "a").write_text("new")
            raise RuntimeError("half-way")
    assert (out / "a").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x"]


def test_a_finished_run_is_replaced_only_with_overwrite(tmp_path, facts_file):
    run = tmp_path / "run"
    run.mkdir()
    (run / MARKER).write_text(json.dumps({"kind": "run"}))
    (run / "adapter").mkdir()
    # refused before any model is loaded (a model that does not exist: a regression fails fast)
    with pytest.raises(KnowtuneError, match="already there; use --overwrite"):
        train_run(TrainConfig(model="no-such-model"), str(facts_file), run, quiet=True)
    assert (run / "adapter").is_dir()


def test_an_interrupted_runs_checkpoints_are_kept(tmp_path, facts_file):
    run = tmp_path / "run"
    step = partial_dir(run) / "checkpoints" / "step-3"
    step.mkdir(parents=True)
    (step / "step.json").write_text(json.dumps({"step": 3}))
    with pytest.raises(KnowtuneError, match="--resume to continue it, or --overwrite"):
        train_run(TrainConfig(model="no-such-model"), str(facts_file), run, quiet=True)
    assert (step / "step.json").is_file()


def test_train_cli_refuses_a_users_folder_in_one_line(tmp_path, facts_file, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.md").write_text("precious")
    code, err = run_cli(capsys, "train", "--data", facts_file, "--out", out, "--model", "no-such-model")
    assert refused(code, err, str(out), "--overwrite")
    assert os.listdir(out) == ["notes.md"]


@pytest.mark.parametrize("command", [["export", "--run", "{run}"], ["eval", "--run", "{run}"]])
def test_export_and_eval_refuse_a_users_folder_before_loading(tmp_path, capsys, command):
    run = tmp_path / "run"
    (run / "adapter").mkdir(parents=True)
    (run / "config.yaml").write_text("model: smollm2-135m\n")
    (run / "heldout.jsonl").write_text('{"question": "q?", "answers": ["a"]}\n')
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.md").write_text("precious")
    args = [a.format(run=run) for a in command]
    code, err = run_cli(capsys, *args, "--out", out)
    assert refused(code, err, str(out), "--overwrite")
    assert os.listdir(out) == ["notes.md"]


@pytest.mark.parametrize("args, needle", [
    (["data", "build", "--nosuch", "x"], "--nosuch"),
    (["nosuchcommand"], "nosuchcommand"),
    (["train", "--epochs", "abc", "x"], "--epochs"),
])
def test_a_wrong_option_or_command_is_one_line_and_exit_2(capsys, args, needle):
    code, err = run_cli(capsys, *args)
    assert refused(code, err, needle, "--help"), err
