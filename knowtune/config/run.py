"""A run directory: its layout, its config and system prompt, its summary and its progress log.

    NAME/
      adapter/          what the method trained (methods.save_trained), with knowtune_method.json
      config.yaml       the config the run trained with, recipe resolved (its system prompt included)
      run.json          model, method, where its data set is, the training statistics
      progress.jsonl    one line per logged step, written while it trains (the web UI plots it)
      replay.jsonl      the base model's own answers it trained on beside the knowledge
      loss.png          the loss curve
      heldout.jsonl, knowledge.jsonl, stats.json   copies of its data set's
      data/             the data set, when it was built from facts files for the run
      eval/             `knowtune eval`'s report

A run is written in a hidden sibling, `.NAME.partial`, and renamed when complete.

Why in config, the lowest layer: train writes runs; eval, serve, export and the commands read
them, and they may not import each other. Here every layer may use one type, so the layout and
the reading of config and system prompt are written once. Loading the trained model needs the
models and methods layers, so that part is `train.trained.load_run`; serve, export and the
commands call it, and eval receives the loaded model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import KnowtuneError
from .train import TrainConfig, load_train_config

RUN_KIND = "run"
"""The kind in a run's output marker (config.fsutil)."""
ADAPTER_DIR = "adapter"
CONFIG_FILE = "config.yaml"
RUN_FILE = "run.json"
PROGRESS_FILE = "progress.jsonl"
REPLAY_FILE = "replay.jsonl"
LOSS_PLOT = "loss.png"
DATA_DIR = "data"
EVAL_DIR = "eval"


def partial_dir(out: Path) -> Path:
    """Where a run is written until it is complete: a hidden sibling, renamed at the end."""
    return out.with_name(f".{out.name}.partial")


@dataclass(frozen=True)
class Run:
    path: Path

    def __post_init__(self):
        # callers hold a run as a str as often as a Path (the web UI's dropdown gives str)
        object.__setattr__(self, "path", Path(self.path))

    @classmethod
    def open(cls, path: str | Path, option: str = "--run") -> "Run":
        """A finished run, or a one-line error naming the option that gave the path."""
        path = Path(path)
        if not cls.is_run(path):
            raise KnowtuneError(f"not a run directory (no {ADAPTER_DIR}/)", file=str(path), field=option)
        return cls(path)

    @staticmethod
    def is_run(path: str | Path) -> bool:
        """A finished run: it holds what was trained (a partial one holds it only when complete)."""
        return (Path(path) / ADAPTER_DIR).is_dir()

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def adapter_dir(self) -> Path:
        return self.path / ADAPTER_DIR

    @property
    def config_file(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def info_file(self) -> Path:
        return self.path / RUN_FILE

    @property
    def progress_file(self) -> Path:
        return self.path / PROGRESS_FILE

    @property
    def replay_file(self) -> Path:
        return self.path / REPLAY_FILE

    @property
    def loss_plot(self) -> Path:
        return self.path / LOSS_PLOT

    @property
    def eval_dir(self) -> Path:
        return self.path / EVAL_DIR

    @property
    def partial(self) -> "Run":
        """The run as it is written, before it is complete."""
        return Run(partial_dir(self.path))

    def config(self) -> TrainConfig:
        """The config it trained with (read and checked on every call: a run's files may change)."""
        return load_train_config(self.config_file)

    @property
    def system_prompt(self) -> str:
        """The system message every question to this run's model is asked with, as in training."""
        return self.config().system_prompt

    def info(self) -> dict:
        """run.json ({} for a run written without one)."""
        return json.loads(self.info_file.read_text()) if self.info_file.is_file() else {}

    def data_dir(self) -> Path:
        """Its data set: `data/` inside it, or the directory run.json names."""
        where = self.info().get("data", DATA_DIR)
        return self.path / where if where == DATA_DIR else Path(where)

    def progress_log(self) -> list[dict]:
        """The per-step log, while it trains (the partial directory) or after."""
        for run in (self.partial, self):
            if run.progress_file.is_file():
                return read_jsonl_prefix(run.progress_file)
        return []


def read_jsonl_prefix(path: Path) -> list[dict]:
    """Complete lines only: the trainer may be writing the last one right now."""
    rows = []
    for line in path.read_text(encoding="utf-8").split("\n"):  # "\n" only: JSON strings may hold U+2028
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return rows
