"""CLI commands run from the web UI in a subprocess: the UI shows the command, its log and its end.

The web UI never trains in its own process: it runs exactly what a user would type
(`knowtune train ...`), so the two cannot drift apart, a crash cannot take the UI down,
and Stop is the same Ctrl-C (SIGINT) that leaves a resumable checkpoint.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path


def cli_argv(args: list[str]) -> list[str]:
    """The argv that runs `knowtune ARGS` with this interpreter (the UI's own environment)."""
    return [sys.executable, "-m", "knowtune.cli", *args]


def shown_command(args: list[str]) -> str:
    """The command as a user would type it."""
    return shlex.join(["knowtune", *args])


@dataclass
class Job:
    """One CLI command running in the background, its output collected in a log file."""

    args: list[str]
    log_path: Path
    cwd: Path
    process: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> "Job":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "w", encoding="utf-8")
        env = {**os.environ, "COLUMNS": "100", "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(cli_argv(self.args), cwd=self.cwd, stdout=log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        log.close()  # the child holds its own descriptor
        return self

    @property
    def command(self) -> str:
        return shown_command(self.args)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self) -> None:
        """Ctrl-C, as in a terminal: the training loop writes a checkpoint and exits."""
        if self.running:
            self.process.send_signal(signal.SIGINT)

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        # progress bars redraw with carriage returns: keep each line's last state
        rows = [row.rsplit("\r", 1)[-1] for row in text.splitlines()]
        return "\n".join(rows[-lines:])

    def status(self) -> str:
        code = self.returncode
        if code is None:
            return f"running: {self.command}"
        if code == 0:
            return f"finished: {self.command}"
        if code == 130:
            return f"stopped (checkpoint kept; add --resume to continue): {self.command}"
        return f"failed (exit {code}): {self.command}"


class JobSlot:
    """At most one job of a kind at a time (one training run on a 2-core laptop is plenty)."""

    def __init__(self) -> None:
        self.job: Job | None = None
        self._lock = threading.Lock()

    def start(self, job: Job) -> Job:
        with self._lock:
            if self.job is not None and self.job.running:
                raise RuntimeError(f"already running: {self.job.command}")
            self.job = job.start()
            return self.job

    def launch(self, gr, args: list[str], log_path: Path, cwd: Path) -> tuple[str, str]:
        """Start `knowtune ARGS` for a button; (command, status) for the page, or a Gradio error."""
        try:
            job = self.start(Job(args, log_path, cwd=cwd))
        except RuntimeError as err:
            raise gr.Error(str(err)) from None
        return job.command, job.status()


def run_to_end(args: list[str], cwd: Path, timeout: float = 600) -> tuple[int, str]:
    """A short command (data build): its exit code and combined output."""
    done = subprocess.run(cli_argv(args), cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "100"})
    return done.returncode, (done.stdout + done.stderr).strip()
