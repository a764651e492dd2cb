"""How long a command takes from the shell, for two checkouts side by side.

A user's `knowtune chat --run RUN -m "…"` spends most of its time before the first token:
importing torch, transformers and peft, loading the weights, building the knowledge base's
scope. This times one command, in turn for each tree (so a slow minute hits both), and prints
the median wall time per tree.

    git worktree add ../before <commit>
    python bench/startup.py --before ../before --after . --repeats 5 -- chat --run RUN -m "Where is Haikou?"

Each tree runs with its own knowtune first on the path (PYTHONPATH) and this interpreter, in
one thread of torch's (the numbers are about start-up, not about compute).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def timed(tree: Path, command: list[str]) -> float:
    env = dict(os.environ, PYTHONPATH=str(tree.resolve()), KNOWTUNE_NO_REEXEC="1", OMP_NUM_THREADS="1")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "knowtune.cli", *command], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"{tree}: knowtune {' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the baseline checkout")
    parser.add_argument("--after", type=Path, required=True, help="the checkout measured against it")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="knowtune's arguments, after --")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to time after --")
    times: dict[str, list[float]] = {"before": [], "after": []}
    timed(args.after, command)  # warm the file cache and any first-run caches for both
    for _ in range(args.repeats):
        for name, tree in (("before", args.before), ("after", args.after)):
            times[name].append(timed(tree, command))
    from knowtune.config.hardware import cpu_name

    print(f"{cpu_name()}, {os.cpu_count()} cores: knowtune {' '.join(command)}")
    for name, values in times.items():
        print(f"  {name:6} median {statistics.median(values):6.2f} s  ({', '.join(f'{v:.2f}' for v in values)})")


if __name__ == "__main__":
    main()
