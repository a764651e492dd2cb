"""Where the web UI keeps things: built data sets, runs and job logs, under one working folder.

Plain file reading only (no model, no gradio): the tabs and their tests share it.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path

from ...config.run import Run
from ...data import HELDOUT_FILE, STATS_FILE, TRAIN_FILE
from ...data import jsonl as data_jsonl

BUNDLED_KB = Path(__file__).resolve().parents[2] / "data" / "hainan"
# A data set or run name: one folder directly under data/ or runs/. It may not start with a
# dot: ".", ".." and hidden names would be the folder itself, its parent, or knowtune's own files.
NAME_PATTERN = re.compile(r"\w[\w.-]{0,99}")


def check_name(value, what: str) -> str:
    """The name as given, or ValueError with the message the form shows."""
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise ValueError(f"give a {what} name of letters, digits, '-', '_' or '.' (not starting with '.' "
                         f"or '-'; at most 100)")
    return value


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def data_root(self) -> Path:
        return self.root / "data"

    @property
    def runs_root(self) -> Path:
        return self.root / "runs"

    @property
    def logs_root(self) -> Path:
        return self.root / ".knowtune-webui"

    def datasets(self) -> list[str]:
        """Built data sets (folders with a training file), newest first."""
        found = [p for p in self.data_root.glob("*") if (p / TRAIN_FILE).is_file()]
        return [str(p) for p in sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)]

    def runs(self) -> list[str]:
        """Finished runs (folders with a trained adapter), newest first."""
        found = [p for p in self.runs_root.glob("*") if Run.is_run(p)]
        return [str(p) for p in sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)]


def bundled_knowledge() -> list[str]:
    return [str(p) for p in sorted(BUNDLED_KB.glob("facts_*.jsonl"))]


def read_jsonl(path: Path, limit: int | None = None) -> list[dict]:
    """The first `limit` records of a JSONL file (the data layer's reader: comments skipped, one-line errors)."""
    return [row for _, row in itertools.islice(data_jsonl.read_jsonl(path), limit)]


def dataset_preview(data_dir: Path, n: int = 8) -> tuple[list[list[str]], list[list[str]]]:
    """(stats rows, sample rows: question, answer) of a built data set."""
    stats = json.loads((data_dir / STATS_FILE).read_text(encoding="utf-8"))
    stat_rows = [[str(k), _short(v)] for k, v in stats.items()]
    samples = []
    for row in read_jsonl(data_dir / TRAIN_FILE, n):
        messages = row.get("messages", [])
        user = next((m["content"] for m in messages if m["role"] == "user"), "")
        reply = next((m["content"] for m in messages if m["role"] == "assistant"), row.get("text", ""))
        samples.append([user, reply])
    if (data_dir / HELDOUT_FILE).is_file():
        heldout = read_jsonl(data_dir / HELDOUT_FILE, 2)
        samples += [[f"(held out) {q['question']}", " | ".join(q.get("answers", []))] for q in heldout]
    return stat_rows, samples


def _short(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def training_log(run: Path) -> list[dict]:
    """The per-step log of a run, while it trains (hidden partial folder) or after."""
    return Run(Path(run)).progress_log()
