"""Bad input never crashes: random and malformed configs and data files give either a valid
result or the one-line KnowtuneError (exit code 2 at the CLI) — never another exception."""

import json
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from knowtune.config import KnowtuneError, load_train_config
from knowtune.data import build_samples, load_facts

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_scalars = st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=True) | st.text(max_size=12)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
fact_keys = st.sampled_from(["subject", "relation", "answer", "aliases", "questions", "lang", "category", "other"])
fact_like = st.dictionaries(fact_keys, json_values, max_size=7)


def _one_line(err: KnowtuneError) -> None:
    text = str(err)
    assert text and "\n" not in text


@FUZZ
@given(text=st.text(alphabet=string.printable + "：，中文", max_size=200))
def test_config_loader_random_yaml(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_train_config(path)
    except KnowtuneError as err:
        _one_line(err)


config_keys = st.sampled_from(["model", "method", "epochs", "learning_rate", "batch_size", "precision", "seed",
                               "params", "lr_scheduler", "warmup_ratio", "max_len", "bogus"])


@FUZZ
@given(data=st.dictionaries(config_keys, json_values, max_size=6))
def test_config_loader_random_mappings(data):
    try:
        load_train_config(None, data)
    except KnowtuneError as err:
        _one_line(err)


@FUZZ
@given(records=st.lists(fact_like | json_values, min_size=0, max_size=5))
def test_facts_loader_and_builder(tmp_path, records):
    path = tmp_path / "facts.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records), encoding="utf-8")
    try:
        facts = load_facts([path])
        built = build_samples(facts)
    except KnowtuneError as err:
        _one_line(err)
        return
    assert len(built.heldout) == len(facts) >= 1


@FUZZ
@given(raw=st.binary(max_size=300), suffix=st.sampled_from([".jsonl", ".json", ".csv", ".md", ".txt", ".html"]))
def test_every_format_reader_on_random_bytes(tmp_path, raw, suffix):
    path = tmp_path / f"input{suffix}"
    path.write_bytes(raw)
    build_through_cli(path, tmp_path)


@FUZZ
@given(records=st.lists(st.dictionaries(st.sampled_from(["instruction", "input", "output", "system", "history",
                                                          "conversations", "messages", "question", "answer"]),
                                        json_values, max_size=4), max_size=4),
       suffix=st.sampled_from([".jsonl", ".json"]))
def test_qa_readers_on_random_records(tmp_path, records, suffix):
    path = tmp_path / f"qa{suffix}"
    text = json.dumps(records) if suffix == ".json" else "\n".join(json.dumps(r) for r in records)
    path.write_text(text, encoding="utf-8")
    build_through_cli(path, tmp_path)


def build_through_cli(path: Path, work: Path) -> None:
    """`knowtune data build` in-process: it must end in exit 0 (a dataset) or exit 2 (one line)."""
    import shutil

    from knowtune.cli import main

    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    with pytest.raises(SystemExit) as exc:
        main(["data", "build", str(path), "--out", str(out)])
        raise SystemExit(0)
    assert exc.value.code in (0, 2, None)
    if exc.value.code == 2:
        assert not out.exists()
    else:
        assert (out / "train.jsonl").is_file()


@pytest.mark.parametrize("args", [
    ["train", "--data", "{missing}", "--out", "{out}"],
    ["data", "build", "{missing}", "--out", "{out}"],
    ["eval", "--run", "{missing}"],
    ["train", "--data", "{missing}", "--out", "{out}", "--set", "epochs=[1,2]"],
])
def test_cli_bad_input_is_exit_2_without_traceback(tmp_path, capsys, args):
    from knowtune.cli import main

    args = [a.format(missing=tmp_path / "nope.jsonl", out=tmp_path / "out") for a in args]
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()
    assert not [p for p in Path(tmp_path).iterdir() if p.name.startswith(".out")]
