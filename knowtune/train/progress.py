"""A rich progress bar showing step, loss, tokens/s and ETA, and the same as JSON lines.

The JSON log (`progress.jsonl` in the run directory) is what the web UI plots while a
run trains in another process; it stays in the finished run as its training log.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class TrainProgress:
    def __init__(self, total_steps: int, *, enabled: bool = True, description: str = "training",
                 log_path: Path | None = None):
        self.enabled = enabled
        self.total_steps = total_steps
        self.log_path = log_path
        self.started = time.perf_counter()
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[speed]} tok/s"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), disable=not enabled)
        self.task = self.progress.add_task(description, total=total_steps, loss="-", speed="-")

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def update(self, step: int, loss: float, tokens_per_second: float) -> None:
        self.progress.update(self.task, completed=step, loss=f"{loss:.3f}",
                             speed=f"{tokens_per_second:,.0f}")
        if self.log_path is not None:
            record = {"step": step, "total_steps": self.total_steps, "loss": round(loss, 5),
                      "tokens_per_second": round(tokens_per_second, 1),
                      "elapsed_s": round(time.perf_counter() - self.started, 2)}
            with open(self.log_path, "a", encoding="utf-8") as log:  # one flushed line per step
                log.write(json.dumps(record) + "\n")
