"""Where a training step's time goes, against the machine's own limit: a roofline of LoRA training.

1. The running machine's GEMM peak in bf16 and fp32: a square 2048² product, and the model's own
   shapes (a micro-batch's tokens times each linear layer, forward and input-gradient).
2. knowtune's training loop with its defaults (`knowtune train`'s recipe: packing, compile, bf16
   where fast) on the demo's training set (the bundled Hainan facts, augmented), in one process:
   WARMUP steps (compile, caches), TIMED steps without the profiler (the speed), then PROFILED
   steps under torch.profiler, whose operators are summed into phases:
     gemm         matrix products (aten mm/addmm/bmm, oneDNN linear) outside attention and the optimizer
     attention    the attention operator and everything it runs
     fused        compiled regions' own time: the elementwise work torch.compile fused
     elementwise  every other operator (eager elementwise work, copies, casts, reductions, the loss)
     optimizer    the optimizer's step and zeroing, gradient clipping
     host         the rest of the wall time: Python, collation, the framework between operators
3. FLOPs per trained token as bench/train_speed.py counts them for LoRA on a frozen base (forward
   2·N, input-gradient backward 2·N, the adapters' 6·r·(in+out), attention, the head at answer
   positions), and from them tokens/s, achieved GFLOP/s and the share of the peak, overall and for
   the GEMM and attention phases.
Other methods' FLOP counts (full, DoRA, ...) are not built here.

    python bench/roofline.py --model smollm2-135m --lang en
    python bench/roofline.py --model gemma3-270m --lang zh --out bench/roofline/gemma3-270m-zh

Writes OUT/roofline.json and OUT/results.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.train_speed import machine, peak_gemm_flops  # noqa: E402

PHASES = ("gemm", "attention", "fused", "elementwise", "optimizer", "host")
_GEMM_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "mkldnn", "onednn", "_linear_pointwise")
_ATTENTION = ("attention",)  # aten's scaled_dot_product_attention and kernels, knowtune::grouped_attention, their backward
_OPTIMIZER = ("Optimizer.step", "Optimizer.zero_grad", "clip_grad")
_COMPILED = ("Torch-Compiled Region", "CompiledFunction", "## Call CompiledFxGraph")


class StopProfile(Exception):
    """Raised from the step hook once the profiled window is done: the rest of training is not needed."""


def phase_of(names: list[str]) -> str:
    """The phase of an operator, from its name and its ancestors' (innermost first)."""
    if names[0].startswith("ProfilerStep"):  # the step's own time outside every operator
        return "host"
    names = [n.lower() if "attention" in n.lower() else n for n in names]
    if any(any(key in n for key in _OPTIMIZER) for n in names):
        return "optimizer"
    if any(any(key in n for key in _ATTENTION) for n in names):
        return "attention"
    if any(key in names[0] for key in _GEMM_OPS):
        return "gemm"
    if any(key in names[0] for key in _COMPILED):
        return "fused"
    return "elementwise"


def phase_seconds(events) -> tuple[dict[str, float], list[tuple[str, str, float]]]:
    """Each phase's seconds: the operators' own (self) CPU time on the training thread, by phase_of;
    and the operators that took the most, (name, phase, seconds)."""
    threads = {}
    for event in events:
        threads[event.thread] = threads.get(event.thread, 0) + event.self_cpu_time_total
    main = max(threads, key=threads.get)  # the thread that ran the step (backward runs on it on a CPU)
    out, by_op = dict.fromkeys(PHASES, 0.0), {}
    for event in events:
        if event.thread != main:
            continue
        names, up = [event.name], event.cpu_parent
        while up is not None:
            names.append(up.name)
            up = up.cpu_parent
        phase, seconds = phase_of(names), event.self_cpu_time_total / 1e6
        out[phase] += seconds
        name = "ProfilerStep" if phase == "host" else event.name
        by_op[name, phase] = by_op.get((name, phase), 0.0) + seconds
    top = sorted(((name, phase, round(t, 3)) for (name, phase), t in by_op.items()), key=lambda x: -x[2])[:15]
    return out, top


def shape_peak(config, tokens: int, dtype, threads: int, repeats: int = 5) -> float:
    """FLOP/s of the model's linear layers at `tokens` rows, forward and input-gradient, FLOP-weighted."""
    import torch

    torch.set_num_threads(threads)
    h, inter = config.hidden_size, config.intermediate_size
    head_dim = getattr(config, "head_dim", None) or h // config.num_attention_heads
    q, kv = config.num_attention_heads * head_dim, config.num_key_value_heads * head_dim
    flops = seconds = 0.0
    for n_in, n_out in {(h, q), (h, kv), (q, h), (h, inter), (inter, h)}:
        for rows, k, cols in ((tokens, n_in, n_out), (tokens, n_out, n_in)):
            a, b = torch.randn(rows, k, dtype=dtype), torch.randn(k, cols, dtype=dtype)
            a @ b
            best = min(_timed(lambda: a @ b) for _ in range(repeats))
            flops += 2 * rows * k * cols
            seconds += best
    return flops / seconds


def _timed(fn) -> float:
    tic = time.perf_counter()
    fn()
    return time.perf_counter() - tic


def training_set(lang: str, work: Path) -> list[dict]:
    """The demo's training samples: the bundled Hainan facts, built with `knowtune data build` defaults."""
    from knowtune.commands.data import build_command
    from knowtune.data import load_dataset_dir

    facts = ROOT / "knowtune" / "data" / "hainan" / f"facts_{lang}.jsonl"
    return load_dataset_dir(build_command([facts], work / "data", model=None, seed=0, overwrite=True))[0]


def profile_training(args, seed: int) -> dict:
    """Train with knowtune's loop (samples shuffled by `seed`); time TIMED steps bare and profile the
    next PROFILED ones."""
    import torch
    from torch.profiler import ProfilerActivity, profile, schedule

    import knowtune.train.step as step_module
    from knowtune.config import TrainConfig
    from knowtune.config.hardware import resolve_precision
    from knowtune.train import load_for_training, run_training

    cfg = TrainConfig(model=args.model, seed=seed, min_steps=0, epochs=3)
    loaded, method, params = load_for_training(cfg)
    samples = training_set(args.lang, args.work)
    first_timed, first_profiled = args.warmup + 1, args.warmup + args.timed + 1
    last = first_profiled + args.profiled - 1
    marks, tokens = {}, {}
    plain_step = step_module.train_step
    prof = profile(activities=[ProfilerActivity.CPU],
                   schedule=schedule(wait=first_profiled - 2, warmup=1, active=args.profiled, repeat=1))

    def counted_step(t, step, micro, sample_tokens):  # tokens and time of each step, then the profiler's tick
        decoder_before = t.stats.decoder_tokens
        out = plain_step(t, step, micro, sample_tokens)
        tokens[step] = (sum(sample_tokens), t.stats.decoder_tokens - decoder_before,
                        sum(int((b["labels"][:, 1:] != -100).sum()) for b in micro),
                        sum(attention_pairs(b) for b in micro))
        marks[step] = time.perf_counter()
        prof.step()
        if step == last:
            raise StopProfile
        return out

    step_module.train_step = counted_step
    marks[0] = time.perf_counter()
    try:
        with prof:
            run_training(loaded.model, loaded.tokenizer, samples, cfg, method, params, quiet=True)
    except StopProfile:
        pass
    finally:
        step_module.train_step = plain_step
    if last not in marks:
        raise SystemExit(f"training ended after {max(marks)} steps; ask for fewer (--warmup, --timed, --profiled)")

    def window(first: int, end: int) -> dict:
        seconds = marks[end] - marks[first - 1]
        real, decoder, answers, pairs = (sum(tokens[s][i] for s in range(first, end + 1)) for i in range(4))
        return {"steps": end - first + 1, "seconds": seconds, "tokens": real, "decoder_tokens": decoder,
                "answer_tokens": answers, "attention_pairs": pairs}

    config = loaded.model.config
    return {"timed": window(first_timed, first_profiled - 1), "profiled": window(first_profiled, last),
            "phases": phase_seconds(prof.events()), "config": getattr(config, "text_config", config),
            "compute_dtype": torch.bfloat16 if resolve_precision(cfg.precision) == "bf16" else torch.float32,
            "threads": torch.get_num_threads(), "rank": params.r}


def attention_pairs(batch: dict) -> int:
    """(query, key) pairs attention scores in a micro-batch, counted in full as bench/train_speed.py
    counts them: each packed sample with itself and the shared prompt start, or each padded row."""
    if "cu_seq_lens" in batch:
        bounds = batch["cu_seq_lens"].tolist()
        prefix = int(batch["shared_prefix"]) if "shared_prefix" in batch else 0
        lengths = [b - a for a, b in zip(bounds, bounds[1:])]
        return sum(n * (n + (prefix if i or not prefix else 0)) for i, n in enumerate(lengths))
    return sum(int(n) ** 2 for n in batch["attention_mask"].sum(dim=1).tolist())


def flops_per_window(config, w: dict, rank: int) -> dict[str, float]:
    """FLOPs of LoRA training over a window, as bench/train_speed.py counts them: the GEMMs (frozen
    linear layers forward and input-gradient, the adapters, the head at answer positions) and attention."""
    h, inter, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    head_dim = getattr(config, "head_dim", None) or h // config.num_attention_heads
    q, kv = config.num_attention_heads * head_dim, config.num_key_value_heads * head_dim
    shapes = [(h, q), (h, kv), (h, kv), (q, h), (h, inter), (h, inter), (inter, h)]
    linear = layers * sum(i * o for i, o in shapes)
    adapters = layers * sum(rank * (i + o) for i, o in shapes)
    tokens = w["decoder_tokens"]
    return {"gemm": 4 * linear * tokens + 6 * adapters * tokens + 6 * w["answer_tokens"] * h * config.vocab_size,
            "attention": 12 * layers * w["attention_pairs"] * q}  # QK^T and AV, forward and backward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--lang", default="en", choices=["en", "zh"])
    parser.add_argument("--warmup", type=int, default=4)
    parser.add_argument("--timed", type=int, default=40)
    parser.add_argument("--profiled", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=1, help="train with seeds 0..N-1, one after another; the "
                        "headline figures are the median seed's")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--work", type=Path, default=Path("/tmp/knowtune-bench-roofline"))
    args = parser.parse_args()
    out = args.out or Path("bench/roofline") / f"{args.model}-{args.lang}"
    import torch

    runs = [profile_training(args, seed) for seed in range(args.seeds)]
    config, threads, dtype = runs[0]["config"], runs[0]["threads"], runs[0]["compute_dtype"]
    peaks = {"square_bf16": peak_gemm_flops(torch.bfloat16, threads), "square_fp32": peak_gemm_flops(torch.float32, threads)}
    tokens_per_micro = round(runs[0]["timed"]["decoder_tokens"] / max(runs[0]["timed"]["steps"], 1))
    peaks["shapes"] = shape_peak(config, min(tokens_per_micro, 4096), dtype, threads)
    peak = peaks["square_bf16" if dtype == torch.bfloat16 else "square_fp32"]
    results = [summarise(run, peak) for run in runs]
    for seed, r in enumerate(results):
        r["seed"] = seed
    result = sorted(results, key=lambda r: r["share_of_peak"])[len(results) // 2]  # the median seed
    result.update({"machine": machine(), "model": args.model, "lang": args.lang, "compute_dtype": str(dtype),
                   "threads": threads, "peaks_gflops": {k: round(v / 1e9, 1) for k, v in peaks.items()},
                   "seeds": [{k: r[k] for k in ("seed", "tokens_per_second", "share_of_peak")} for r in results]})
    out.mkdir(parents=True, exist_ok=True)
    (out / "roofline.json").write_text(json.dumps(result, indent=1))
    write_table(out, result, peak)


def summarise(run: dict, peak: float) -> dict:
    """One seed's figures: tokens/s and FLOPs of the timed window, time per phase of the profiled one."""
    config, timed, profiled = run["config"], run["timed"], run["profiled"]
    flops = {name: flops_per_window(config, w, run["rank"]) for name, w in (("timed", timed), ("profiled", profiled))}
    total = sum(flops["timed"].values())
    phases, top = run["phases"]
    phases["host"] += max(profiled["seconds"] - sum(phases.values()), 0.0)  # outside the profiled steps' events
    return {"timed": timed, "profiled": profiled,
            "tokens_per_second": round(timed["tokens"] / timed["seconds"], 1),
            "flops_per_token": round(total / max(timed["tokens"], 1)),
            "achieved_gflops": round(total / timed["seconds"] / 1e9, 1),
            "share_of_peak": round(total / timed["seconds"] / peak, 4),
            "phases_seconds": {k: round(v, 3) for k, v in phases.items()}, "top_operators": top,
            "phase_gflops": {name: round(flops["profiled"][name] / max(phases[name], 1e-9) / 1e9, 1)
                             for name in ("gemm", "attention")}}


def write_table(out: Path, r: dict, peak: float) -> None:
    wall = r["profiled"]["seconds"]
    lines = [f"# Roofline: {r['model']} ({r['lang']}), LoRA, knowtune train defaults", "",
             f"{time.strftime('%Y-%m-%d %H:%M')}, {r['machine']}; {r['threads']} threads, compute {r['compute_dtype']}. "
             f"Command: `python bench/roofline.py {' '.join(sys.argv[1:])}`", "",
             f"GEMM peak (GFLOP/s): square 2048² bf16 {r['peaks_gflops']['square_bf16']:,}, fp32 "
             f"{r['peaks_gflops']['square_fp32']:,}; at the model's shapes ({r['compute_dtype']}) "
             f"{r['peaks_gflops']['shapes']:,}.", "",
             f"Timed window ({r['timed']['steps']} steps, no profiler): {r['tokens_per_second']:,} tokens/s, "
             f"{r['flops_per_token'] / 1e6:,.0f} MFLOP per token, {r['achieved_gflops']:,} GFLOP/s = "
             f"**{100 * r['share_of_peak']:.1f} %** of the square peak"
             + (f" (the median of {len(r['seeds'])} seeds: " + ", ".join(
                 f"seed {x['seed']} {x['tokens_per_second']:,} tokens/s, {100 * x['share_of_peak']:.1f} %"
                 for x in r["seeds"]) + ")" if len(r["seeds"]) > 1 else "") + ".", "",
             f"Profiled window ({r['profiled']['steps']} steps, {wall:.1f} s with the profiler's overhead):", "",
             "| phase | seconds | share of the step | achieved GFLOP/s | % of peak |", "|---|---:|---:|---:|---:|"]
    for name in PHASES:
        seconds = r["phases_seconds"][name]
        gflops = r["phase_gflops"].get(name)
        lines.append(f"| {name} | {seconds:.2f} | {100 * seconds / wall:.1f} % | "
                     f"{'' if gflops is None else f'{gflops:,.0f}'} | "
                     f"{'' if gflops is None else f'{100 * gflops * 1e9 / peak:.1f} %'} |")
    lines += ["", "The operators that took the most of the profiled window (own time):", "",
              "| operator | phase | seconds |", "|---|---|---:|"]
    lines += [f"| `{name}` | {phase} | {seconds:.2f} |" for name, phase, seconds in r["top_operators"]]
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
