"""Experiment tracking through accelerate's trackers: TensorBoard, MLflow, Weights & Biases.

`report_to: [tensorboard, mlflow, wandb]` logs each optimizer step's loss, learning rate and
tokens/s (and `knowtune eval`'s scores for the run afterwards). Everything stays offline and
inside the run directory unless the user points a tracker elsewhere:

- TensorBoard event files in RUN/tracking/tensorboard (`tensorboard --logdir RUN/tracking`);
- MLflow's file store in RUN/tracking/mlruns (`mlflow ui --backend-store-uri RUN/tracking/mlruns`),
  unless MLFLOW_TRACKING_URI names a server;
- W&B in offline mode in RUN/tracking/wandb (`wandb sync` uploads it), unless WANDB_MODE is set.

accelerate's tracker classes are used directly rather than through `Accelerator(log_with=...)`
because the accelerator is made before the run directory and the config are known (and may be
handed in by a caller); the classes are the same ones `init_trackers` builds.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

from ..config import KnowtuneError

TRACKERS = ("tensorboard", "mlflow", "wandb")
TRACKING_DIR = "tracking"
STATE_FILE = "state.json"  # the MLflow run id, so a resumed run and `knowtune eval` log into the same run
PROJECT = "knowtune"
_OUR_MLFLOW_URIS: set[str] = set()  # tracking URIs this process set, as opposed to the user's
# The module each tracker imports, and what to install when it is missing.
_NEEDS = {"tensorboard": (("tensorboard", "tensorboardX"), "knowtune[track]"),
          "mlflow": (("mlflow",), "knowtune[track]"), "wandb": (("wandb",), "wandb")}


def check_trackers(names: list[str]) -> None:
    """Refuse unknown or uninstalled trackers before a model is loaded."""
    for name in names:
        if name not in _NEEDS:
            raise KnowtuneError(f"unknown tracker {name!r}; choose from {', '.join(TRACKERS)}", field="report_to")
        modules, package = _NEEDS[name]
        if not any(importlib.util.find_spec(m) for m in modules):
            raise KnowtuneError(f"{name} is not installed: pip install '{package}'", field="report_to")


def flat_config(values: dict, prefix: str = "") -> dict:
    """Nested config as flat scalars: TensorBoard's hparams and MLflow's params take nothing else."""
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(flat_config(value, f"{prefix}{key}."))
        elif value is None or isinstance(value, (list, tuple)):
            flat[prefix + key] = "" if value is None else ",".join(map(str, value))
        else:
            flat[prefix + key] = value
    return flat


class RunTracking:
    """The run's open trackers; `log` sends one step's numbers to each."""

    def __init__(self, trackers: list, directory: Path):
        self.trackers = trackers
        self.directory = directory

    def log(self, values: dict, step: int) -> None:
        for tracker in self.trackers:
            tracker.log(values, step=step)

    def finish(self) -> None:
        for tracker in self.trackers:
            tracker.finish()
        self.trackers = []


def open_tracking(names: list[str], run_dir: Path, *, run_name: str, config: dict | None = None) -> RunTracking:
    """Start the named trackers logging into `run_dir/tracking` (call on the main process only)."""
    from accelerate import PartialState

    check_trackers(names)
    PartialState()  # the trackers log through accelerate's logger, which needs its state (`knowtune eval` has none)
    directory = Path(run_dir) / TRACKING_DIR
    directory.mkdir(parents=True, exist_ok=True)
    state_path = directory / STATE_FILE
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    trackers = [_make(name, directory, run_name, state) for name in names]
    for tracker in trackers:
        tracker.start()
        if config is not None and not state:  # a resumed run keeps the configuration it logged first
            tracker.store_init_configuration(flat_config(config))
        if tracker.name == "mlflow":
            state["mlflow_run_id"] = tracker.active_run.info.run_id
    state_path.write_text(json.dumps(state) + "\n")
    return RunTracking(trackers, directory)


def _make(name: str, directory: Path, run_name: str, state: dict):
    from accelerate import tracking

    if name == "tensorboard":
        return tracking.TensorBoardTracker(name, directory)
    if name == "mlflow":
        import mlflow

        user_uri = os.environ.get("MLFLOW_TRACKING_URI")
        # set_tracking_uri exports MLFLOW_TRACKING_URI: a URI an earlier run here set is not the user's
        if not user_uri or user_uri in _OUR_MLFLOW_URIS:
            # MLflow's file store: offline, no database, moves with the run directory. MLflow 3 keeps it
            # in maintenance mode behind this opt-in; its sqlite store would add SQLAlchemy and a
            # schema migration to every run.
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
            uri = (directory / "mlruns").resolve().as_uri()
            _OUR_MLFLOW_URIS.add(uri)
            mlflow.set_tracking_uri(uri)
        return tracking.MLflowTracker(PROJECT, run_id=state.get("mlflow_run_id"), run_name=run_name)
    os.environ.setdefault("WANDB_MODE", "offline")
    return tracking.WandBTracker(PROJECT, name=run_name, dir=str(directory), resume="allow",
                                 id=state.setdefault("wandb_run_id", _wandb_id()))


def _wandb_id() -> str:
    import uuid

    return uuid.uuid4().hex[:16]


def log_eval_scores(run: Path, results: dict, names: list[str], step: int) -> None:
    """`knowtune eval`'s scores into the trackers the run trained with, at its last step."""
    if not names:
        return
    scores = {}
    for section in ("knowledge", "natural", "forgetting", "hallucination"):
        for who, summary in (results.get(section) or {}).items():
            for metric, value in (summary.items() if isinstance(summary, dict) else ()):
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    scores[f"eval/{section}/{who}/{metric}"] = value
    tracking = open_tracking(names, run, run_name=Path(run).name)
    try:
        tracking.log(scores, step)
    finally:
        tracking.finish()
