"""The names inside a run directory.

In the lowest layer so that whoever reads a run (training, evaluation, serving, export, the web
UI) spells them once, without importing the training loop and torch for a file name.
"""

from __future__ import annotations

from pathlib import Path

ADAPTER_DIR = "adapter"
RUN_FILE = "run.json"
PROGRESS_FILE = "progress.jsonl"


def partial_dir(out: Path) -> Path:
    """Where a run is written until it is complete: a hidden sibling, renamed at the end."""
    return out.with_name(f".{out.name}.partial")
