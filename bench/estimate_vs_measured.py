"""Estimated vs measured peak training memory, for every registered method, on the embedded models.

    .venv/bin/python bench/estimate_vs_measured.py [--models smollm2-135m,gemma3-270m] [--steps 2]

Each (model, method) trains in its own subprocess for a few optimizer steps on the bundled
Hainan facts, with knowtune's own loop. What is compared with the estimate:

  measured = bytes of the loaded weights + (peak RSS during training - RSS right after loading)

The child loads the model, applies the method, reads every weight once (weights kept in
a memory-mapped safetensors file become resident), returns freed heap to the system
(malloc_trim), reads its RSS, resets the kernel's peak-RSS mark (/proc/self/clear_refs = 5)
and trains; the peak is VmHWM from /proc/self/status. What loading leaves behind besides
the weights (tokenizer, loader buffers: "load residue") is reported apart, not compared.

Allocator: by default the children return freed memory at once (glibc: every allocation
over 64 KiB is its own mapping), so RSS follows the bytes in use, which is what the
estimate predicts. `--allocator knowtune` runs them with the settings `knowtune` itself
starts with (freed memory kept for speed), whose peak RSS is higher by the fragmentation.

Each model's table lands in docs/memory.md between its BENCH:<allocator>:<model> markers;
rerun after methods change.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "memory.md"
EAGER_ENV = {"MALLOC_MMAP_THRESHOLD_": str(64 << 10), "MALLOC_TRIM_THRESHOLD_": str(1 << 20)}
"""glibc returns freed memory at once: RSS tracks the bytes in use."""


def allocator_env(kind: str) -> dict:
    if kind == "eager":
        return EAGER_ENV
    from knowtune.cli import ALLOCATOR_ENV  # what `knowtune` re-executes itself with

    return ALLOCATOR_ENV


def rss_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def trim() -> None:
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


def reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def warm_up() -> None:
    """First autocast matmul and backward: thread pools and kernel caches belong to the baseline."""
    import torch

    layer = torch.nn.Linear(256, 256)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        layer(torch.randn(64, 256, requires_grad=True)).sum().backward()


def batch_shapes(tokenizer, samples, cfg) -> list[tuple[int, int, int]]:
    """(batch, padded length, answer tokens) of every micro-batch the loop will run."""
    from knowtune.data import IGNORE, length_grouped_batches, pad_batch
    from knowtune.train.loop import encode_samples, plan_steps

    features = encode_samples(tokenizer, samples, cfg.max_len, getattr(cfg, "system_prompt", ""))
    lengths = [len(f["input_ids"]) for f in features]
    shapes, epoch = [], 0
    needed = plan_steps(cfg, len(length_grouped_batches(lengths, cfg.batch_size, seed=cfg.seed))) * cfg.grad_accum
    while len(shapes) < needed:
        for idx in length_grouped_batches(lengths, cfg.batch_size, seed=cfg.seed + epoch):
            batch = pad_batch([features[i] for i in idx], tokenizer.pad_token_id)
            shapes.append((len(idx), batch["input_ids"].shape[1], int((batch["labels"][:, 1:] != IGNORE).sum())))
        epoch += 1
    return shapes[:needed]


def weight_bytes(model) -> int:
    """Bytes of the loaded tensors, each storage once (4-bit weights at their packed size)."""
    storages = {}
    for t in list(model.parameters()) + list(model.buffers()):
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
    return sum(storages.values())


def touch(model) -> None:
    """Read every weight once: memory-mapped weights become resident before the baseline is taken."""
    import torch

    with torch.no_grad():
        for t in model.parameters():
            t.float().sum() if t.is_floating_point() else t.sum()


def child(model: str, method: str, steps: int, batch_size: int) -> dict:
    from knowtune.config import load_train_config
    from knowtune.data import build_samples, load_facts
    from knowtune.train.loop import run_training
    from knowtune.train.run import load_for_training

    facts = ROOT / "knowtune" / "data" / "hainan" / "facts_en.jsonl"
    samples = build_samples(load_facts([facts])).train[: steps * batch_size]
    cfg = load_train_config(None, {"model": model, "method": method, "epochs": 1.0,
                                   "batch_size": batch_size, "log_every": 1})
    warm_up()
    trim()
    baseline = rss_kib("VmRSS")
    loaded, method_obj, params = load_for_training(cfg)
    touch(loaded.model)
    trim()
    after_load = rss_kib("VmRSS")
    if not reset_peak():
        raise SystemExit("cannot reset the peak RSS mark (/proc/self/clear_refs): Linux only")
    start = time.perf_counter()
    _, stats = run_training(loaded.model, loaded.tokenizer, samples, cfg, method_obj, params, quiet=True)
    seconds = time.perf_counter() - start
    weights = weight_bytes(loaded.model)
    return {"model": model, "method": method, "baseline_kib": baseline, "after_load_kib": after_load,
            "peak_kib": rss_kib("VmHWM"), "weights_bytes": weights, "steps": stats.steps,
            "seconds": round(seconds, 1), "precision": stats.precision, "params": cfg.params,
            "shapes": batch_shapes(loaded.tokenizer, samples, cfg)}


def estimate(result: dict) -> tuple[int, tuple[int, int, int]]:
    """Estimated peak bytes for the largest batch that ran."""
    from knowtune.methods import get_method
    from knowtune.models.meta import build_meta_model, load_arch_config
    from knowtune.train.estimate import estimate_memory

    config, name, _ = load_arch_config(result["model"])
    method = get_method(result["method"])
    params = method.parse_params(result["params"])
    best, shape = 0, None
    for b, s, n in {tuple(x) for x in result["shapes"]}:
        est = estimate_memory(lambda: build_meta_model(config), config, name, method, params, batch=b,
                              seq=s, answer_tokens=n, precision=result["precision"])
        if est.peak > best:
            best, shape = est.peak, (b, s, n)
    return best, shape


def run_child(model: str, method: str, steps: int, batch_size: int, allocator: str) -> dict:
    env = dict(os.environ, **allocator_env(allocator), TOKENIZERS_PARALLELISM="false")
    cmd = [sys.executable, __file__, "--child", model, method, "--steps", str(steps), "--batch", str(batch_size)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"model": model, "method": method, "error": tail[:200]}
    return json.loads(lines[-1])


def measured_bytes(r: dict) -> int:
    return r["weights_bytes"] + (r["peak_kib"] - r["after_load_kib"]) * 1024


HEADER = ["| model | method | largest batch: samples × tokens (answer tokens) | estimate MiB | measured MiB | "
          "estimate / measured | load residue MiB | s/step | run |",
          "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]


def table_rows(results: list[dict]) -> dict[str, str]:
    """One markdown row per method, keyed by method name."""
    rows = {}
    day = time.strftime("%Y-%m-%d")
    for r in results:
        if "error" in r:
            rows[r["method"]] = f"| {r['model']} | {r['method']} | failed: {r['error']} | | | | | | {day} |"
            continue
        est, (b, s, n) = estimate(r)
        measured = measured_bytes(r)
        residue = (r["after_load_kib"] - r["baseline_kib"]) * 1024 - r["weights_bytes"]
        rows[r["method"]] = (f"| {r['model']} | {r['method']} | {b} × {s} ({n}) | {est / 2**20:,.0f} | "
                             f"{measured / 2**20:,.0f} | {est / measured:.2f} | {residue / 2**20:,.0f} | "
                             f"{r['seconds'] / max(r['steps'], 1):.0f} | {day} |")
    return rows


def settings_line(steps: int, batch_size: int, allocator: str, precision: str) -> str:
    return (f"{steps} optimizer steps of {batch_size} samples per method (its default parameters), "
            f"precision {precision}, allocator: {allocator}, {os.cpu_count()} shared CPUs.")


def merged_table(old_section: str, head: str, rows: dict[str, str]) -> str:
    """The section's table with these methods' rows replaced or added (registry order); others kept."""
    from knowtune.methods import method_names

    kept = {}
    for line in old_section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) > 2 and cells[1] not in ("method", "---"):
            kept[cells[1]] = line
    kept.update(rows)
    order = method_names() + sorted(set(kept) - set(method_names()))
    return "\n".join([head, "", *HEADER, *(kept[m] for m in order if m in kept)])


def write_doc(rows: dict[str, str] | str, key: str, head: str = "") -> None:
    """Update the section between the BENCH:<key> markers in docs/memory.md: a benchmark table
    (rows merged into what is there, so rerunning some methods keeps the others) or plain text."""
    begin, end = f"<!-- BENCH:{key}:BEGIN -->", f"<!-- BENCH:{key}:END -->"
    doc = DOC.read_text(encoding="utf-8")
    if begin not in doc or end not in doc:
        raise SystemExit(f"{DOC} lacks the {begin} / {end} markers")
    before, rest = doc.split(begin, 1)
    old, after = rest.split(end, 1)
    text = rows if isinstance(rows, str) else merged_table(old, head, rows)
    DOC.write_text(f"{before}{begin}\n{text}\n{end}{after}", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "METHOD"), help=argparse.SUPPRESS)
    parser.add_argument("--models", default="smollm2-135m", help="Comma-separated presets.")
    parser.add_argument("--methods", default="", help="Comma-separated methods (default: every registered one).")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--allocator", choices=("eager", "knowtune"), default="eager",
                        help="eager: freed memory returned at once (RSS = bytes in use); knowtune: the CLI's settings.")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--no-write", action="store_true", help="Print the table, leave docs/memory.md alone.")
    parser.add_argument("--llamafactory-only", action="store_true",
                        help="Only refresh the LLaMA-Factory comparison in docs/memory.md (no training).")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args.steps, args.batch)))
        return
    from knowtune.methods import method_names

    if args.llamafactory_only:
        from knowtune.train import llamafactory as lf

        text = lf.to_markdown(lf.comparison(method_names()))
        print(text)
        if not args.no_write:
            write_doc(text, "llamafactory")
        return
    methods = [m for m in args.methods.split(",") if m] or method_names()
    results = []
    for model in args.models.split(","):
        for method in methods:
            result = run_child(model, method, args.steps, args.batch, args.allocator)
            results.append(result)
            print(json.dumps({k: v for k, v in result.items() if k != "shapes"}), file=sys.stderr)
    for model in args.models.split(","):
        done = [r for r in results if r["model"] == model]
        precision = next((r["precision"] for r in done if "precision" in r), "?")
        head = settings_line(args.steps, args.batch, args.allocator, precision)
        rows = table_rows(done)
        print("\n".join([head, "", *HEADER, *rows.values()]))
        if not args.no_write:
            write_doc(rows, f"{args.allocator}:{model}", head)


if __name__ == "__main__":
    main()
