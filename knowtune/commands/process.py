"""The knowtune process itself: its allocator, its signals, and which click errors are usage errors."""

from __future__ import annotations

import os
import sys

import typer

ALLOCATOR_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(1 << 36), "MALLOC_TOP_PAD_": str(1 << 28)}


def stable_allocator() -> None:
    """Re-run this process once with glibc told to keep freed memory.

    On virtual machines glibc's freed pages go back to the host at once; a training step then
    re-faults them and step times swing by 10x. The settings only take effect at start-up,
    hence the re-exec. KNOWTUNE_NO_REEXEC=1 turns it off.
    """
    if (sys.platform.startswith("linux") and "MALLOC_MMAP_MAX_" not in os.environ
            and not os.environ.get("KNOWTUNE_NO_REEXEC")):
        env = dict(os.environ, **ALLOCATOR_ENV)
        os.execve(sys.executable, [sys.executable, "-m", "knowtune.cli", *sys.argv[1:]], env)


def interrupt_on_signals() -> None:
    """Ctrl-C and SIGTERM (what job schedulers send) both end in KeyboardInterrupt, so a run
    saves its checkpoint and output directories are cleaned, even when a parent shell started
    us with SIGINT ignored."""
    import signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, interrupt)


def click_errors() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """Usage errors and aborts of click and of the copy of click that newer typer bundles
    (typer._click), which raises its own classes: a wrong option is a usage line either way."""
    import click

    usage, abort = [click.ClickException], [click.exceptions.Abort]
    try:
        from typer import _click as bundled
    except ImportError:
        pass
    else:
        usage.append(bundled.exceptions.ClickException)
        abort.append(getattr(typer, "Abort", click.exceptions.Abort))
    return tuple(usage), tuple(abort)
