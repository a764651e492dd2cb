"""`knowtune compare`: the method bake-off on the tiny model (1 epoch, 2 methods + 1 made to fail)."""

import json

import pytest
from tiny import knowtune, write_facts

from knowtune.cli import main
from knowtune.data import load_dataset_dir


@pytest.fixture(scope="module")
def bakeoff(tmp_path_factory, tiny_qwen):
    work = tmp_path_factory.mktemp("compare")
    facts = work / "facts.jsonl"
    write_facts(facts)
    out = work / "bake"
    # dora is made to fail where only the loaded model can tell: a target module it does not have
    proc = knowtune("compare", "--methods", "lora,ia3,dora", "--data", facts, "--out", out, "--model", tiny_qwen,
                    "--set", "epochs=1", "--set", "precision=fp32", "--set", "batch_size=4",
                    "--set", "lora.r=2", "--set", "dora.target_modules=[no_such_proj]")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, json.loads((out / "compare.json").read_text()), tiny_qwen


def test_table_files_written(bakeoff):
    out, table, _ = bakeoff
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = (out / "compare.md").read_text()
    assert [r["method"] for r in table["rows"]] == ["lora", "ia3", "dora"]
    for name in ("lora", "ia3", "dora"):
        assert f"| {name} |" in markdown
    for name in ("lora", "ia3"):
        assert (out / name / "run.json").is_file() and (out / name / "adapter").is_dir()
    assert not list(out.parent.glob(".bake*")), "no temporary directories left behind"


def expected_trainable(model_dir, method_name, params):
    import torch

    from knowtune.methods import get_method
    from knowtune.models import load_model
    from knowtune.train import count_parameters

    method = get_method(method_name)
    loaded = load_model(str(model_dir))
    torch.manual_seed(0)
    return count_parameters(method.apply(loaded.model, method.parse_params(params)))


def test_rows_match_the_methods_applied(bakeoff):
    out, table, model_dir = bakeoff
    _, heldout = load_dataset_dir(out / "data")
    before = table["base"]["before"]
    assert before["total"] == len(heldout)
    rows = {r["method"]: r for r in table["rows"]}
    for name, params in (("lora", {"r": 2}), ("ia3", {})):
        row = rows[name]
        assert "error" not in row
        assert (row["trainable"], row["total_params"]) == expected_trainable(model_dir, name, params)
        assert row["after"]["total"] == len(heldout)
        adapter = out / name / "adapter"
        assert row["adapter_bytes"] == sum(f.stat().st_size for f in adapter.rglob("*") if f.is_file()) > 0
        run = json.loads((out / name / "run.json").read_text())
        assert row["final_loss"] == run["train"]["final_loss"]
        assert row["peak_rss_mb"] == run["train"]["peak_rss_mb"] > 0
        assert row["tokens_per_second"] > 0
    # each method's own learning rate: ia3's differs from lora's, both from the registry
    from knowtune.methods import get_method

    assert rows["lora"]["lr"] == get_method("lora").default_lr
    assert rows["ia3"]["lr"] == get_method("ia3").default_lr != rows["lora"]["lr"]


def test_a_failing_method_is_a_row_with_its_reason(bakeoff):
    out, table, _ = bakeoff
    failed = table["rows"][2]
    assert failed["method"] == "dora" and "no_such_proj" in failed["error"]
    assert "\n" not in failed["error"]
    line = next(l for l in (out / "compare.md").read_text().splitlines() if l.startswith("| dora |"))
    assert "failed:" in line and "no_such_proj" in line
    assert not (out / "dora").exists()


@pytest.mark.parametrize("args, field", [
    (["--methods", "lora,nope"], "--methods"),
    (["--methods", "lora,lora"], "--methods"),
    (["--methods", "lora", "--set", "epochs=-1"], "epochs"),
    (["--methods", "lora", "--set", "no_such_key=1"], "no_such_key"),
    (["--methods", "lora", "--set", "lora.no_such_param=1"], "no_such_param"),
    (["--methods", "lora", "--set", "params.r=2"], "--set"),
    (["--methods", "lora", "--set", "ia3.target_modules=[k_proj]"], "--set"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, facts_file, capsys, args, field):
    out = tmp_path / "runs" / "bake"
    with pytest.raises(SystemExit) as exit_:
        main(["compare", "--data", str(facts_file), "--out", str(out), *args])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and field in err
    assert not (tmp_path / "runs").exists()
