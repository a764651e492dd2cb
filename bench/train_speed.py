"""Training speed: knowtune's loop vs the plain transformers + peft recipe, side by side.

Configurations, each in its own process, same model, data, LoRA config, optimizer steps,
effective batch and seed:
  A0  the tutorial recipe: transformers Trainer, peft LoRA, padding collator, fp32;
  A1  the same, tuned with TrainingArguments alone: bf16=True, length-grouped sampling
      (transformers 5: train_sampling_strategy="group_by_length"), threads;
  B   knowtune's training loop with its defaults (with `compile: auto` it compiles the
      decoder blocks of LoRA runs on a CPU: the timed seconds include each process's
      re-trace from the cache; a short untimed warm-up run before the first B of a model
      compiles into the cache, and its seconds are reported: the first run's extra cost);
  Be  the same with compile off (eager): what the compile adds;
  B16 B in bf16 whatever the machine (B's `precision: auto` picks bf16 only where its GEMM is faster).
Every configuration trains on exactly the same samples for whole epochs, so the real
(non-pad) token count is the same; tokens/s = real tokens / training wall time.

    python bench/train_speed.py --model smollm2-135m --lang en
    python bench/train_speed.py --model gemma3-270m --lang zh
    python bench/train_speed.py --all          # both, writes bench/RESULTS.md
    python bench/train_speed.py --all --seeds 3   # each config with seeds 0, 1, 2: accuracy as a mean

MFU: the FLOPs each configuration executes (forward 2·N·T over the linear layers, the
input-gradient backward 2·N·T through frozen weights, the adapters' 6·r·(in+out)·T,
attention scores, and the output head at the positions where it is computed: every
position for A0/A1, answer positions for B; T: the positions the decoder runs, which for B
counts the prompt start a packed row's samples share once) over the machine's matmul peak
measured in the same run with a 2048² GEMM in the configuration's compute dtype. Attention
is counted per sample (a shared prefix's own queries, counted again for every sample, are
well under 1 % of the total).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LORA = {"r": 16, "alpha": 32, "target_modules": ["all-linear"], "dropout": 0.0}
LR = 1e-3
BATCH = 8
HISTORY = "\n## History"  # RESULTS.md: from this heading on, hand-written, kept when the tables are rewritten


def samples_for(lang: str, limit: int) -> list[dict]:
    from knowtune.data import build_samples, load_facts

    facts = load_facts([ROOT / "knowtune" / "data" / "hainan" / f"facts_{lang}.jsonl"])
    built = build_samples(facts, seed=0)
    train = built.train[:limit]
    seen = {s["fact"] for s in train}  # score only the facts this subset teaches
    return train, [q for q in built.heldout if q["fact"] in seen]


def on_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def peak_gemm_flops(dtype, threads: int, repeats: int = 10) -> float:
    import torch

    torch.set_num_threads(threads)
    device = "cuda" if on_gpu() else "cpu"
    size = 8192 if on_gpu() else 2048  # large enough to reach the peak of either
    a = torch.randn(size, size, dtype=dtype, device=device)
    b = torch.randn(size, size, dtype=dtype, device=device)
    sync = torch.cuda.synchronize if on_gpu() else (lambda: None)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        sync()
        t = time.perf_counter()
        a @ b
        sync()
        best = min(best, time.perf_counter() - t)
    return 2 * size ** 3 / best


def executed_flops(config, lengths: list[int], answer_tokens: int, head_everywhere: bool, epochs: int,
                   decoder_tokens: int | None = None) -> float:
    """FLOPs of LoRA training as executed (see the module docstring); `decoder_tokens`: over all epochs."""
    h, inter, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    heads, kv = config.num_attention_heads, config.num_key_value_heads
    head_dim = getattr(config, "head_dim", None) or h // heads
    q, kvd = heads * head_dim, kv * head_dim
    shapes = [(h, q), (h, kvd), (h, kvd), (q, h), (h, inter), (h, inter), (inter, h)]
    linear = layers * sum(i * o for i, o in shapes)
    adapters = layers * sum(LORA["r"] * (i + o) for i, o in shapes)
    tokens = sum(lengths) if decoder_tokens is None else decoder_tokens / epochs
    attention = sum(layers * 4 * n * n * q for n in lengths)  # QK^T and AV, forward
    head_positions = sum(lengths) if head_everywhere else answer_tokens
    head = 2 * head_positions * h * config.vocab_size
    forward = 2 * linear * tokens + attention + head
    backward_input = 2 * linear * tokens + 2 * attention + 2 * head  # frozen weights: input grads only
    return epochs * (forward + backward_input + 6 * adapters * tokens)


# ---------------------------------------------------------------- workers (one per process)

def encode(tokenizer, samples, system_prompt):
    from knowtune.data import encode_chat, with_system

    return [encode_chat(tokenizer, with_system(s["messages"], system_prompt), 256) for s in samples]


def run_trainer(args, tuned: bool) -> dict:
    """A0/A1: the recipe of the Qwen/PEFT tutorials, Trainer + get_peft_model."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, DataCollatorForSeq2Seq, Trainer, TrainingArguments

    from knowtune.models import load_tokenizer, resolve_model_dir

    threads = args.threads
    torch.set_num_threads(threads)
    model_dir, _ = resolve_model_dir(args.model)
    tokenizer = load_tokenizer(model_dir)
    samples, heldout = samples_for(args.lang, args.limit)
    features = encode(tokenizer, samples, args.system_prompt)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    torch.manual_seed(args.seed)  # the adapters' initialisation, as knowtune seeds it
    model = get_peft_model(model, LoraConfig(r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=0.0,
                                             target_modules="all-linear", task_type="CAUSAL_LM"))
    data = [dict(f, attention_mask=[1] * len(f["input_ids"])) for f in features]
    targs = TrainingArguments(
        output_dir=args.tmp, per_device_train_batch_size=BATCH, num_train_epochs=args.epochs,
        learning_rate=LR, lr_scheduler_type="cosine", warmup_steps=0.05, logging_steps=5, save_strategy="no",
        report_to=[], use_cpu=not on_gpu(), seed=args.seed, dataloader_num_workers=0, bf16=tuned,
        train_sampling_strategy="group_by_length" if tuned else "random",
        disable_tqdm=True, remove_unused_columns=False)
    collator = DataCollatorForSeq2Seq(tokenizer, padding="longest", label_pad_token_id=-100)
    trainer = Trainer(model=model, args=targs, train_dataset=data, data_collator=collator)
    start = time.perf_counter()
    out = trainer.train()
    seconds = time.perf_counter() - start
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    model.eval()
    return finish(args, model, tokenizer, features, heldout, seconds, losses[-1] if losses else out.training_loss,
                  head_everywhere=True, compute_dtype=torch.bfloat16 if tuned else torch.float32)


def run_knowtune(args, compile: bool | str = "auto") -> dict:
    import torch

    from knowtune.config import TrainConfig
    from knowtune.train import load_for_training, run_training

    cfg = TrainConfig(model=args.model, epochs=args.epochs, learning_rate=LR, batch_size=BATCH, seed=args.seed,
                      # the same LoRA as A0/A1: plain AdamW on A and B (knowtune's LoRA+ default off), no replay,
                      # and exactly the epochs asked (the default min_steps would raise 50 steps to 120)
                      params=dict(LORA, loraplus_lr_ratio=0.0), threads=args.threads, min_steps=0,
                      system_prompt=args.system_prompt, compile=compile,
                      precision="bf16" if args.worker.startswith("B16") else "auto")
    loaded, method, params = load_for_training(cfg)
    samples, heldout = samples_for(args.lang, args.limit)
    start = time.perf_counter()
    model, stats = run_training(loaded.model, loaded.tokenizer, samples, cfg, method, params, quiet=True)
    seconds = time.perf_counter() - start
    model.eval()
    features = encode(loaded.tokenizer, samples, args.system_prompt)
    result = finish(args, model, loaded.tokenizer, features, heldout, seconds, stats.final_loss,
                    head_everywhere=False, decoder_tokens=stats.decoder_tokens,
                    compute_dtype=torch.bfloat16 if stats.precision == "bf16" else torch.float32)
    return dict(result, compiled=stats.compiled)


def finish(args, model, tokenizer, features, heldout, seconds, final_loss, *, head_everywhere, compute_dtype,
           decoder_tokens: int | None = None):
    import torch

    from knowtune.eval import answer_questions, summarise
    from knowtune.models import resolve_model_dir
    from knowtune.config.hardware import fast_bf16_available, peak_rss_mb
    from transformers import AutoConfig

    rss = peak_rss_mb()  # before evaluation: the training peak
    gpu = torch.cuda.max_memory_allocated() / 2 ** 20 if on_gpu() else None
    lengths = [len(f["input_ids"]) for f in features]
    answer_tokens = sum(sum(1 for x in f["labels"][1:] if x != -100) for f in features)
    config = AutoConfig.from_pretrained(resolve_model_dir(args.model)[0])
    config = getattr(config, "text_config", config)
    flops = executed_flops(config, lengths, answer_tokens, head_everywhere, args.epochs, decoder_tokens)
    peak = peak_gemm_flops(compute_dtype, args.threads)
    rows = answer_questions(model, tokenizer, heldout, bf16=fast_bf16_available(), system=args.system_prompt)
    summary = summarise(rows)
    tokens = args.epochs * sum(lengths)
    return {"config": args.worker, "seed": args.seed, "seconds": round(seconds, 1), "tokens": tokens,
            "tokens_per_second": round(tokens / seconds, 1), "peak_rss_mb": round(rss),
            "peak_gpu_mb": round(gpu) if gpu is not None else None,
            "final_loss": round(float(final_loss), 4), "accuracy": round(summary["accuracy"], 4),
            "correct": summary["correct"], "total": summary["total"],
            "achieved_gflops": round(flops / seconds / 1e9, 1), "peak_gflops": round(peak / 1e9, 1),
            "mfu": round(flops / seconds / peak, 4), "compute_dtype": str(compute_dtype).replace("torch.", "")}


# ---------------------------------------------------------------- driver

def run_config(name: str, args, *, limit: int | None = None, seed: int = 0) -> dict:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, __file__, "--worker", name, "--seed", str(seed), "--model", args.model, "--lang", args.lang,
               "--limit", str(limit or args.limit), "--epochs", str(args.epochs), "--threads", str(args.threads),
               "--tmp", tmp, "--system-prompt", args.system_prompt]
        env = dict(os.environ, KNOWTUNE_NO_REEXEC="1", TOKENIZERS_PARALLELISM="false")
        if name.startswith("B"):  # knowtune's CLI sets these itself; the worker is started directly
            from knowtune.cli import ALLOCATOR_ENV

            env.update(ALLOCATOR_ENV)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise SystemExit(f"{name} failed:\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def machine() -> str:
    import torch

    from knowtune.config.hardware import cpu_flags, cpu_name

    cpu = cpu_name()
    flags = sorted({"avx512_bf16", "amx_bf16", "avx512f"} & cpu_flags())
    gpu = f"GPU {torch.cuda.get_device_name(0)} (training and the GEMM peak run on it); " if on_gpu() else ""
    return (f"{gpu}{cpu}, {os.cpu_count()} logical CPUs, flags {', '.join(flags) or 'none'}; "
            f"torch {torch.__version__}, Python {platform.python_version()}")


def combine(runs: list[dict], order: list[str]) -> list[dict]:
    """One row per config: its median-speed run, with accuracy and loss averaged over the seeds."""
    rows = []
    for name in order:
        mine = [r for r in runs if r["config"] == name]
        if not mine:
            continue
        median = sorted(mine, key=lambda r: r["tokens_per_second"])[(len(mine) - 1) // 2]
        row = dict(median, seeds=len(mine), peak_rss_mb=max(r["peak_rss_mb"] for r in mine),
                   accuracy=sum(r["accuracy"] for r in mine) / len(mine),
                   final_loss=sum(r["final_loss"] for r in mine) / len(mine),
                   per_seed_correct=[r["correct"] for r in mine],
                   per_seed_tokens_per_second=[r["tokens_per_second"] for r in mine],
                   warmup_seconds=next((r["warmup_seconds"] for r in mine if r.get("warmup_seconds")), None))
        rows.append(row)
    return rows


def _accuracy_cell(r: dict) -> str:
    if r.get("seeds", 1) == 1:
        return f"{100 * r['accuracy']:.1f}% ({r['correct']}/{r['total']})"
    each = ", ".join(str(c) for c in r["per_seed_correct"])
    return f"{100 * r['accuracy']:.1f}% (mean of {each} /{r['total']})"


def paired_accuracy(ours: dict, base: dict, ours_name: str, base_name: str) -> str:
    """Held-out correct answers, ours minus base, seed by seed: the difference and its standard error.

    One seed's run moves by several questions (sample order, initialisation); a paired difference
    over the same seeds says whether a gap is more than that noise.
    """
    diffs = [a - b for a, b in zip(ours["per_seed_correct"], base["per_seed_correct"])]
    mean = sum(diffs) / len(diffs)
    spread = (sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1)) ** 0.5 if len(diffs) > 1 else 0.0
    return (f"held-out {ours_name} − {base_name}, seed by seed: {', '.join(f'{d:+d}' for d in diffs)} questions "
            f"(mean {mean:+.1f} ± {spread / len(diffs) ** 0.5:.1f} standard error)")


def random_weights(model: str) -> bool:
    """A model made by bench/random_model.py: real shapes, random weights."""
    source = Path(model).expanduser() / "knowtune_source.json"
    return source.is_file() and bool(json.loads(source.read_text()).get("random_weights"))


def table(model: str, lang: str, results: list[dict]) -> str:
    by = {r["config"]: r for r in results}
    gpu = any(r.get("peak_gpu_mb") is not None for r in results)
    note = (" (random weights of the real shapes, from bench/random_model.py: speed and memory are real, "
            "held-out accuracy means nothing)") if random_weights(model) else ""
    lines = [f"### {Path(model).name}, Hainan {lang} training set{note}", "",
             f"| config | tokens/s | wall s | peak RSS MiB |{' peak GPU MiB |' if gpu else ''} final loss | "
             "held-out acc | GFLOP/s | MFU |",
             f"|---|---:|---:|---:|{'---:|' if gpu else ''}---:|---:|---:|---:|"]
    for r in results:
        gpu_cell = f" {r['peak_gpu_mb']:,} |" if gpu else ""
        lines.append(f"| {r['config']} | {r['tokens_per_second']:,.0f} | {r['seconds']:.0f} | {r['peak_rss_mb']:,} |{gpu_cell} "
                     f"{r['final_loss']:.4f} | {_accuracy_cell(r)} | "
                     f"{r['achieved_gflops']:.0f} of {r['peak_gflops']:.0f} ({r['compute_dtype']}) | "
                     f"{100 * r['mfu']:.1f}% |")
    for ours in ("B", "Be"):
        for base in ("A0", "A1"):
            if ours in by and base in by:
                lines.append(f"\n{ours}/{base}: tokens/s ×{by[ours]['tokens_per_second'] / by[base]['tokens_per_second']:.2f}, "
                             f"peak RSS ×{by[ours]['peak_rss_mb'] / by[base]['peak_rss_mb']:.2f}")
    for base in ("A0", "A1"):
        if "B" in by and base in by and by["B"].get("seeds", 1) > 1:
            lines.append(f"\n{paired_accuracy(by['B'], by[base], 'B', base)}")
    if any(r.get("seeds", 1) > 1 for r in results):
        speeds = "; ".join(f"{r['config']} " + " · ".join(f"{x:.0f}" for x in r["per_seed_tokens_per_second"])
                           for r in results)
        lines.append(f"\nSeeds 0..{max(r.get('seeds', 1) for r in results) - 1}, run seed by seed: tokens/s, wall "
                     f"and MFU are the median run's, peak RSS the largest, final loss and held-out accuracy the "
                     f"mean. tokens/s of each run: {speeds}.")
    if "B" in by:
        compiled = "compiled its decoder blocks" if by["B"].get("compiled") else "ran eagerly"
        lines.append(f"\nB {compiled} (compile: auto); its seconds include the per-process re-trace.")
    if by.get("B", {}).get("warmup_seconds"):
        lines.append(f"B's untimed warm-up before seed 0 (compile into the cache + {2 * BATCH} samples, a whole "
                     f"process): {by['B']['warmup_seconds']:.0f} s; a model's first run pays about that much "
                     f"more, later runs load the compiled kernels from ~/.cache/knowtune/inductor")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--lang", default="en")
    parser.add_argument("--limit", type=int, default=400, help="training samples (the same for every config)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--configs", default="A0,A1,B,Be")
    parser.add_argument("--seeds", type=int, default=1,
                        help="runs per config with seeds 0..N-1 (Be: seed 0 only); speed is the median run, "
                             "held-out accuracy the mean")
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--system-prompt", default="You are a helpful assistant.")
    parser.add_argument("--all", action="store_true", help="smollm2-135m/en and gemma3-270m/zh; writes RESULTS.md")
    parser.add_argument("--models", help="several models in one table file: MODEL:LANG,MODEL:LANG (presets or "
                                         "directories); with --out")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        if args.worker.startswith("B"):
            result = run_knowtune(args, compile={"B": "auto", "B16": "auto", "Be": False, "Bwarm": True,
                                                   "B16warm": True}[args.worker])
        else:
            result = run_trainer(args, tuned=args.worker == "A1")
        print(json.dumps(result))
        return
    pairs = [("smollm2-135m", "en"), ("gemma3-270m", "zh")] if args.all else [(args.model, args.lang)]
    if args.models:
        pairs = [tuple(item.rsplit(":", 1)) for item in args.models.split(",")]
    writes = args.all or args.out != parser.get_default("out")
    sections = []
    for model, lang in pairs:
        args.model, args.lang = model, lang
        runs = []
        for seed in range(args.seeds):  # seed by seed, so a slow hour of the VM hits every config
            for name in args.configs.split(","):
                if name == "Be" and seed > 0:
                    continue  # the eager loop learns what B does: one seed shows its speed
                print(f"running {name} (seed {seed}) on {model}/{lang} ...", flush=True)
                warmup = None
                if name in ("B", "B16") and seed == 0:  # compile into the cache, untimed: the first run's extra cost
                    warmup = time.perf_counter()
                    run_config(f"{name}warm", args, limit=2 * BATCH)
                    warmup = time.perf_counter() - warmup
                runs.append(dict(run_config(name, args, seed=seed), warmup_seconds=warmup))
                print(json.dumps(runs[-1]), flush=True)
        results = combine(runs, args.configs.split(","))
        sections.append(table(model, lang, results))
        if writes:  # every run's figures, next to the table
            prefix = "" if args.out.name == "RESULTS.md" else f"{args.out.stem}-"  # another table keeps its own runs
            (args.out.parent / f"{prefix}runs-{Path(model).name}-{lang}.json").write_text(json.dumps(runs, indent=1) + "\n")
        print(sections[-1])
    text = ("# Training speed: knowtune vs the transformers + peft recipe\n\n"
            f"Machine: {machine()}.\n\nCommand: `python bench/train_speed.py "
            f"{'--all' if args.all else f'--models {args.models}' if args.models else f'--model {args.model} --lang {args.lang}'} --limit {args.limit} "
            f"--epochs {args.epochs} --threads {args.threads} --seeds {args.seeds}`; LoRA r={LORA['r']} alpha={LORA['alpha']} on all linear "
            f"layers, batch {BATCH}, lr {LR}, {args.limit} training samples.\n\n" + "\n".join(sections))
    if writes:
        # the hand-written history below the generated tables survives a rerun
        old = args.out.read_text() if args.out.is_file() else ""
        kept = old[old.index(HISTORY):] if HISTORY in old else ""
        args.out.write_text(text.rstrip("\n") + "\n" + kept)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
