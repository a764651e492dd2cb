"""`knowtune compare`: the method bake-off on the tiny model (1 epoch, 2 methods + 1 made to fail)."""

import json

import pytest
from peft import IA3Config, LoraConfig, TaskType
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


def peft_counts(model_dir, config) -> tuple[int, int]:
    """(trainable, all) parameters as peft itself counts them, the adapter built by peft directly."""
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    return get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir), config).get_nb_trainable_parameters()


def lora_by_hand(model_dir, r: int) -> int:
    """r x (in + out) for every linear layer of every decoder block (all-linear: the head excluded)."""
    config = json.loads((model_dir / "config.json").read_text())
    hidden, inter, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    kv = config["num_key_value_heads"] * hidden // config["num_attention_heads"]
    shapes = [(hidden, hidden), (hidden, kv), (hidden, kv), (hidden, hidden),  # q, k, v, o
              (hidden, inter), (hidden, inter), (inter, hidden)]  # gate, up, down
    return layers * sum(r * (i + o) for i, o in shapes)


def test_rows_match_the_methods_applied(bakeoff):
    out, table, model_dir = bakeoff
    _, heldout = load_dataset_dir(out / "data")
    before = table["base"]["before"]
    assert before["total"] == len(heldout)
    rows = {r["method"]: r for r in table["rows"]}
    # the methods' documented settings (lora: r=2 on all-linear; ia3: k, v and the feed-forward down_proj)
    configs = {"lora": LoraConfig(task_type=TaskType.CAUSAL_LM, r=2, target_modules="all-linear"),
               "ia3": IA3Config(task_type=TaskType.CAUSAL_LM, target_modules=["k_proj", "v_proj", "down_proj"],
                                feedforward_modules=["down_proj"])}
    assert rows["lora"]["trainable"] == lora_by_hand(model_dir, r=2)
    for name, config in configs.items():
        row = rows[name]
        assert "error" not in row
        assert (row["trainable"], row["total_params"]) == peft_counts(model_dir, config)
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
