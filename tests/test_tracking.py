"""`--report-to tensorboard,mlflow`: a tiny run's loss, learning rate, tokens/s and eval scores,
read back with TensorBoard's and MLflow's own readers."""

import json
import os
import sys

import pytest
from tiny import knowtune, write_facts

tensorboard = pytest.importorskip("tensorboard") if os.environ.get("CI") != "true" else __import__("tensorboard")
mlflow = pytest.importorskip("mlflow") if os.environ.get("CI") != "true" else __import__("mlflow")


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory, tiny_llama):
    work = tmp_path_factory.mktemp("tracking")
    facts = work / "facts.jsonl"
    write_facts(facts)
    run = work / "run"
    # in-process (the CLI is covered below): the two commands as `knowtune train ... --report-to
    # tensorboard,mlflow` and `knowtune eval --run RUN --no-base ...` run them
    from knowtune.commands.evaluate import EvalOptions, eval_run
    from knowtune.commands.train import train_command

    overrides = {"model": str(tiny_llama), "report_to": "tensorboard,mlflow", "precision": "fp32", "replay": 0,
                 "min_steps": 6, "log_every": 1, "compile": False}
    train_command(str(facts), run, None, overrides, model_named=True)
    eval_run(run, EvalOptions(base=False, rag=False, probes=False, hallucination=False), run / "eval")
    return run


def progress(run):
    return [json.loads(line) for line in (run / "progress.jsonl").read_text().splitlines()]


def tensorboard_scalars(run) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

    mux = EventMultiplexer().AddRunsFromDirectory(str(run / "tracking"))
    mux.Reload()
    scalars: dict[str, list] = {}
    for name, tags in mux.Runs().items():
        for tag in tags.get("tensors", []) + tags.get("scalars", []):
            events = mux.Tensors(name, tag) if tag in tags.get("tensors", []) else mux.Scalars(name, tag)
            values = [(e.step, float(e.tensor_proto.float_val[0]) if hasattr(e, "tensor_proto") else e.value)
                      for e in events]
            scalars.setdefault(tag, []).extend(values)
    return scalars


def test_tensorboard_holds_each_steps_loss_rate_and_speed(tracked_run):
    logged = progress(tracked_run)
    scalars = tensorboard_scalars(tracked_run)
    loss = sorted(scalars["train/loss"])
    assert [s for s, _ in loss] == [r["step"] for r in logged]
    # tensorboard keeps float32: equal within its precision (rounding both to 4 places splits a
    # value that sits on a rounding boundary, 5.20115 -> 5.2011 / 5.2012)
    assert [v for _, v in loss] == pytest.approx([r["loss"] for r in logged], rel=1e-6, abs=1e-6)
    rates = [v for _, v in sorted(scalars["train/learning_rate"])]
    assert len(rates) == len(logged) and max(rates) > 0 and rates[0] < max(rates)  # warm-up, then decay
    assert all(v > 0 for _, v in scalars["train/tokens_per_second"])
    # `knowtune eval` added the fine-tuned model's accuracy at the run's last step
    (step, accuracy), = scalars["eval/knowledge/model/accuracy"]
    metrics = json.loads((tracked_run / "eval" / "metrics.json").read_text())
    assert step == logged[-1]["step"] and accuracy == pytest.approx(metrics["knowledge"]["model"]["accuracy"])


def test_mlflow_run_holds_the_same_numbers_and_the_config(tracked_run):
    from mlflow.tracking import MlflowClient

    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(tracking_uri=(tracked_run / "tracking" / "mlruns").as_uri())
    run_id = json.loads((tracked_run / "tracking" / "state.json").read_text())["mlflow_run_id"]
    history = client.get_metric_history(run_id, "train/loss")
    logged = progress(tracked_run)
    ordered = sorted((m.step, m.value) for m in history)
    assert [step for step, _ in ordered] == [r["step"] for r in logged]
    assert [value for _, value in ordered] == pytest.approx([r["loss"] for r in logged], rel=1e-6, abs=1e-6)
    assert len(client.get_metric_history(run_id, "train/learning_rate")) == len(logged)
    params = client.get_run(run_id).data.params
    assert params["method"] == "lora" and params["report_to"] == "tensorboard,mlflow"
    (accuracy,) = client.get_metric_history(run_id, "eval/knowledge/model/accuracy")
    assert accuracy.step == logged[-1]["step"]


def test_unknown_or_missing_tracker_is_one_line_exit_2(tmp_path, tiny_llama):
    proc = knowtune("train", "--data", tmp_path / "none.jsonl", "--model", tiny_llama, "--out", tmp_path / "r",
                    "--report-to", "comet")
    assert proc.returncode == 2 and "report_to" in proc.stderr and "Traceback" not in proc.stderr
    from knowtune.config import KnowtuneError
    from knowtune.train.tracking import check_trackers, flat_config

    with pytest.raises(KnowtuneError, match="wandb is not installed"):
        if __import__("importlib").util.find_spec("wandb"):
            pytest.skip("wandb is installed here")
        check_trackers(["wandb"])
    assert flat_config({"params": {"r": 4}, "epochs": None, "report_to": ["mlflow"]}) == \
        {"params.r": 4, "epochs": "", "report_to": "mlflow"}


def test_wandb_is_opened_offline_in_the_run_directory(tmp_path, monkeypatch):
    """wandb itself is not part of the set-up: a stand-in module records what accelerate's tracker asks of it."""
    import importlib.machinery
    import types

    from knowtune.train.tracking import open_tracking

    calls = []
    fake = types.ModuleType("wandb")
    fake.__spec__ = importlib.machinery.ModuleSpec("wandb", None)
    fake.init = lambda **kwargs: calls.append(("init", kwargs)) or types.SimpleNamespace(
        log=lambda values, step=None, **kw: calls.append(("log", values, step)), finish=lambda: calls.append(("finish",)),
        config=types.SimpleNamespace(update=lambda values, allow_val_change=False: calls.append(("config", values))))
    monkeypatch.setitem(sys.modules, "wandb", fake)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    tracking = open_tracking(["wandb"], tmp_path, run_name="r", config={"method": "lora"})
    tracking.log({"train/loss": 1.5}, 3)
    tracking.finish()
    assert os.environ["WANDB_MODE"] == "offline"
    init = calls[0][1]
    assert init["project"] == "knowtune" and init["name"] == "r" and init["dir"] == str(tmp_path / "tracking")
    state = json.loads((tmp_path / "tracking" / "state.json").read_text())
    assert init["id"] == state["wandb_run_id"]
    assert ("log", {"train/loss": 1.5}, 3) in calls and calls[-1] == ("finish",)
