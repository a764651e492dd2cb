"""Two checkouts of knowtune side by side: does a change keep the numbers?

Runs, on this machine and in one go, knowtune's training (bench/train_speed.py's B worker, each
tree its own copy) for both bench models, seed by seed and tree by tree in turn (so a slow hour
hits both), the transformers recipe A0 once per model (the same code in both trees: the ratios'
common base), and then `knowtune demo` in each tree. Writes a markdown table.

    git worktree add ../before <commit>
    python bench/commit_compare.py --before ../before --after . --seeds 3 --out bench/refactor.md

Each tree runs with its own knowtune first on the path (PYTHONPATH) and this interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PAIRS = [("smollm2-135m", "en"), ("gemma3-270m", "zh")]


def worker(tree: Path, name: str, model: str, lang: str, seed: int, limit: int, threads: int) -> dict:
    """One train_speed worker process of `tree` (its own data building, loop and allocator settings)."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, str(tree / "bench" / "train_speed.py"), "--worker", name, "--seed", str(seed),
               "--model", model, "--lang", lang, "--limit", str(limit), "--epochs", "1", "--threads", str(threads),
               "--tmp", tmp, "--system-prompt", "You are a helpful assistant."]
        env = dict(os.environ, PYTHONPATH=str(tree), KNOWTUNE_NO_REEXEC="1", TOKENIZERS_PARALLELISM="false")
        if name.startswith("B"):
            allocator = subprocess.run([sys.executable, "-c", "import json; from knowtune.cli import ALLOCATOR_ENV;"
                                        "print(json.dumps(ALLOCATOR_ENV))"], capture_output=True, text=True,
                                       env=env, cwd=tree, check=True)
            env.update(json.loads(allocator.stdout))
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tree)
        if proc.returncode != 0:
            raise SystemExit(f"{tree} {name} failed:\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def demo(tree: Path, lang: str, settings: list[str]) -> dict:
    """`knowtune demo` in `tree`, its run directory under the tree; the figures of its metrics.json."""
    out = tree / "runs" / f"compare-demo-{lang}"
    env = dict(os.environ, PYTHONPATH=str(tree))
    tic = time.perf_counter()
    sets = [arg for item in settings for arg in ("--set", item)]
    proc = subprocess.run([sys.executable, "-m", "knowtune.cli", "demo", "--lang", lang, "--out", str(out),
                           "--overwrite", *sets], capture_output=True, text=True, env=env, cwd=tree)
    wall = time.perf_counter() - tic
    if proc.returncode != 0:
        raise SystemExit(f"{tree} demo failed:\n{proc.stderr[-3000:]}")
    metrics = json.loads((out / "metrics.json").read_text())
    natural = metrics.get("natural", {}).get("model", {})
    return {"wall_s": round(wall), "train_s": round(metrics["train"]["seconds"]),
            "tokens_per_s": round(metrics["train"]["tokens_per_second"]),
            "final_loss": metrics["train"]["final_loss"], "before": 100 * metrics["before"]["accuracy"],
            "after": 100 * metrics["after"]["accuracy"], "natural": 100 * natural.get("accuracy", float("nan")),
            "probe": 100 * metrics["forgetting"]["model"]["accuracy"]}


def speed_rows(trees: dict[str, Path], args) -> list[str]:
    lines = ["| model | A0 tokens/s | " + " | ".join(f"B {k} tokens/s (median; each seed)" for k in trees)
             + " | " + " | ".join(f"B/A0 {k}" for k in trees) + " | " + " | ".join(f"held-out {k}" for k in trees)
             + " | final loss " + " / ".join(trees) + " |", "|---" * (2 + 3 * len(trees) + 1) + "|"]
    for model, lang in [p for p in PAIRS if p[0] in args.models.split(",")]:
        base = worker(trees["after"], "A0", model, lang, 0, args.limit, args.threads)
        print(json.dumps({"A0": base}), flush=True)
        runs = {k: [] for k in trees}
        for key, tree in trees.items():  # compile into each tree's cache, untimed
            worker(tree, "Bwarm", model, lang, 0, 16, args.threads)
        for seed in range(args.seeds):
            for key, tree in trees.items():
                runs[key].append(worker(tree, "B", model, lang, seed, args.limit, args.threads))
                print(json.dumps({key: runs[key][-1]}), flush=True)
        speed = {k: statistics.median(r["tokens_per_second"] for r in v) for k, v in runs.items()}
        cells = [model, f"{base['tokens_per_second']:.0f}"]
        cells += [f"{speed[k]:.0f} (" + ' · '.join(f"{r['tokens_per_second']:.0f}" for r in runs[k]) + ")" for k in trees]
        cells += [f"×{speed[k] / base['tokens_per_second']:.2f}" for k in trees]
        cells += [" · ".join(str(r["correct"]) for r in runs[k]) + f" /{runs[k][0]['total']}" for k in trees]
        cells += [" / ".join(" · ".join(f"{r['final_loss']:.4f}" for r in runs[k]) for k in trees)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--after", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=400)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--models", default=",".join(m for m, _ in PAIRS), help="bench models ('' for none)")
    parser.add_argument("--demo", default="en", help="demo languages, comma-separated ('' for none)")
    parser.add_argument("--demo-set", action="append", default=[], help="a demo --set key=value, both trees")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    heads = {k: subprocess.run(["git", "-C", str(t), "rev-parse", "--short", "HEAD"], capture_output=True,
                               text=True).stdout.strip() for k, t in trees.items()}
    sys.path.insert(0, str(trees["after"] / "bench"))
    from train_speed import machine

    lines = [f"# {heads['before']} (before) against {heads['after']} (after)", "",
             f"Machine: {machine()}.", "", f"Command: `python bench/commit_compare.py --seeds {args.seeds} "
             f"--limit {args.limit} --threads {args.threads} --models {args.models} --demo {args.demo}"
             + "".join(f" --demo-set {item}" for item in args.demo_set) + "`", ""]
    if args.models:
        lines += speed_rows(trees, args)
    for lang in filter(None, args.demo.split(",")):
        shown = "".join(f" --set {item}" for item in args.demo_set)
        lines += ["", f"`knowtune demo --lang {lang}{shown}`:", "", "| tree | wall s | train s | tokens/s | final loss | "
                  "template before → after | natural after | probe after |", "|---" * 8 + "|"]
        for key, tree in trees.items():
            d = demo(tree, lang, args.demo_set)
            print(json.dumps({key: d}), flush=True)
            lines.append(f"| {key} {heads[key]} | {d['wall_s']} | {d['train_s']} | {d['tokens_per_s']} | "
                         f"{d['final_loss']:.4f} | {d['before']:.1f} → {d['after']:.1f} % | {d['natural']:.1f} % | "
                         f"{d['probe']:.1f} % |")
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
