"""The web UI's pieces that need no browser: forms from params dataclasses, the commands it runs,
the training log it plots."""

import dataclasses
import json
import sys

import pytest

from knowtune.config import load_train_config
from knowtune.config.run import PROGRESS_FILE, partial_dir
from knowtune.methods import get_method, method_names
from knowtune.serve.webui.eval_tab import eval_args
from knowtune.serve.webui.forms import form_fields, param_overrides, shown_value
from knowtune.serve.webui.jobs import Job, shown_command
from knowtune.serve.webui.train_tab import train_args
from knowtune.serve.webui.workspace import training_log


@pytest.mark.parametrize("name", method_names())
def test_every_method_gets_a_form_with_help(name):
    fields = form_fields(get_method(name).params_cls)
    assert [f.name for f in fields] == [f.name for f in dataclasses.fields(get_method(name).params_cls)]
    for field in fields:
        assert field.kind in {"bool", "int", "float", "choice", "list", "text"}
        assert field.help, f"{name}.{field.name} has no docstring for the form"
        if field.kind == "choice":
            assert field.default in field.choices


@pytest.mark.parametrize("name", method_names())
def test_unchanged_form_gives_no_overrides_and_changed_values_parse(name):
    method = get_method(name)
    fields = form_fields(method.params_cls)
    shown = [shown_value(f) for f in fields]
    assert param_overrides(fields, shown) == []
    changed = []
    for field, value in zip(fields, shown):
        if field.kind == "bool":
            changed.append(not value)
        elif field.kind == "int" and isinstance(value, int) and value > 0:
            changed.append(float(value + 1))  # gr.Number hands back floats
        else:
            changed.append(value)
    overrides = param_overrides(fields, changed)
    cfg = load_train_config(None, dict(o.split("=", 1) for o in overrides) | {"method": name})
    params = method.parse_params(cfg.params)  # the CLI accepts what the form sends
    for field, value in zip(fields, changed):
        if field.kind == "bool":
            assert getattr(params, field.name) is value
        elif field.kind == "int" and isinstance(value, float):
            assert getattr(params, field.name) == int(value)


def test_lora_list_field_round_trips():
    fields = form_fields(get_method("lora").params_cls)
    values = [shown_value(f) for f in fields]
    index = [f.name for f in fields].index("target_modules")
    values[index] = "q_proj,v_proj"
    overrides = param_overrides(fields, values)
    assert overrides == ["params.target_modules=q_proj,v_proj"]
    cfg = load_train_config(None, dict(o.split("=", 1) for o in overrides))
    assert get_method("lora").parse_params(cfg.params).target_modules == ["q_proj", "v_proj"]


def test_train_command_is_the_cli_command(tmp_path):
    args = train_args("data/x", "smollm2-135m", "dora", tmp_path / "r", 1.5, 0.0005, 4, ["params.r=8"])
    shown = shown_command(args)
    assert shown.startswith("knowtune train --data data/x --out ")
    assert "--method dora" in shown and "--epochs 1.5" in shown and "--lr 0.0005" in shown
    recommended = train_args("data/x", "smollm2-135m", "dora", tmp_path / "r", None, None, 4, [])
    assert "--lr" not in recommended and "--epochs" not in recommended
    assert "--epochs 0" in shown_command(train_args("data/x", "smollm2-135m", "lora", tmp_path / "r", 0, None, 4, []))
    assert "--set batch_size=4" in shown and "--set params.r=8" in shown
    assert eval_args("runs/a", rag=False, probes=True, hallucination=False) == \
        ["eval", "--run", "runs/a", "--no-rag", "--no-hallucination"]


def test_training_log_reads_the_partial_run_and_skips_a_half_written_line(tmp_path):
    run = tmp_path / "runs" / "r"
    work = partial_dir(run)
    work.mkdir(parents=True)
    rows = [{"step": i, "total_steps": 3, "loss": 1.0 / i, "tokens_per_second": 10.0, "elapsed_s": i}
            for i in (1, 2)]
    (work / PROGRESS_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 3, "lo')
    assert [r["step"] for r in training_log(run)] == [1, 2]
    assert training_log(tmp_path / "runs" / "other") == []


def test_job_reports_a_failed_command_with_its_exit_code(tmp_path):
    args = ["train", "--data", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "r")]
    job = Job(args, tmp_path / "log.txt", cwd=tmp_path).start()
    job.process.wait(timeout=120)
    assert job.returncode == 2
    assert job.status().startswith("failed (exit 2)")
    assert "missing.jsonl" in job.log_tail()
    assert "Traceback" not in job.log_tail()
    assert not (tmp_path / "r").exists()
    # the job ran this interpreter's knowtune (not whatever `knowtune` is first on PATH)
    assert job.process.args == [sys.executable, "-m", "knowtune.cli", *args]


def test_the_whole_app_builds_with_every_methods_form(tmp_path):
    """Every component is constructed (a default the component cannot show fails here, not in a browser)."""
    from knowtune.serve.webui import build_app

    app = build_app(tmp_path)
    numbers = [c for c in app.blocks.values() if type(c).__name__ == "Number"]
    assert any(getattr(c, "elem_id", None) == "train-epochs" and c.value is None for c in numbers)


def test_an_empty_reply_is_said_and_not_fed_back_to_the_model():
    from knowtune.serve.webui.chat_tab import EMPTY_REPLY, history_messages

    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": EMPTY_REPLY},
               {"role": "user", "content": "again"}]
    assert history_messages(history) == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": ""},
                                         {"role": "user", "content": "again"}]
