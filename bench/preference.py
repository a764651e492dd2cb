"""Does a DPO stage after SFT answer the natural questions better than SFT alone?

One run, per seed: SFT with `knowtune train` defaults on a bundled knowledge base; the SFT model
answers every training question (`knowtune data pairs --run SFT`) and its wrong replies become the
rejected side of pairs (the taught answer: chosen); a DPO stage on the SFT model merged into its
weights (`--set stage=dpo`, the stage's default learning rate and epochs). Both are scored on the
template held-out questions, the natural questions (dev and test halves) and the general probe.

    python bench/preference.py --kb hainan --lang en --seeds 1
    python bench/preference.py --set beta=0.3 --dpo-set learning_rate=5e-5   # another DPO recipe

Writes OUT/runs.json and OUT/results.md; choose recipes on the dev column.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from knowledge import DATA, limited_facts, median_rows, natural_file, summary_of  # noqa: E402

from knowtune.commands.data import build_command  # noqa: E402
from knowtune.commands.evaluate import EvalOptions, make_plan  # noqa: E402
from knowtune.commands.pairs import pairs_command  # noqa: E402
from knowtune.config import DEFAULT_MODEL, MULTILINGUAL_MODEL, load_train_config, parse_override  # noqa: E402
from knowtune.config.hardware import cpu_name  # noqa: E402
from knowtune.config.run import Run  # noqa: E402
from knowtune.data import load_dataset_dir  # noqa: E402
from knowtune.eval.sources import knowledge_of_dataset  # noqa: E402
from knowtune.eval.suite import evaluate_model  # noqa: E402
from knowtune.export.hf import merge_run  # noqa: E402
from knowtune.train import train_run  # noqa: E402
from knowtune.train.trained import load_run  # noqa: E402

COLUMNS = ["template", "natural_dev", "natural_test", "probe"]


def score(loaded, plan) -> dict:
    return summary_of(evaluate_model(loaded.model, loaded.tokenizer, plan, "run"))


def sft_stage(cfg, data_dir: Path, run_dir: Path, reuse: Path | None):
    """(the SFT model loaded, training seconds, steps): trained here, or an earlier run of the same data reused."""
    if reuse is None:
        tic = time.perf_counter()
        result = train_run(cfg, data_dir, run_dir, quiet=True, overwrite=True)
        return result.loaded, time.perf_counter() - tic, result.stats.steps
    if (reuse / "heldout.jsonl").read_bytes() != (data_dir / "heldout.jsonl").read_bytes():
        raise SystemExit(f"--sft-run {reuse}: its held-out questions are not this build's")
    shutil.rmtree(run_dir, ignore_errors=True)
    shutil.copytree(reuse, run_dir)
    train = json.loads((run_dir / "run.json").read_text())["train"]
    return load_run(Run(run_dir))[0], train["seconds"], train["steps"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kb", default="hainan", choices=["hainan", "fictional"])
    parser.add_argument("--lang", default="en", choices=["en", "zh"])
    parser.add_argument("--model", default=None)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--first-seed", type=int, default=42)
    parser.add_argument("--limit", type=int, default=None, help="only the first N facts (and their questions)")
    parser.add_argument("--per-fact", type=int, default=0, help="training questions asked per fact for pairs (0: all)")
    parser.add_argument("--set", action="append", default=[], help="key=value for both stages' config")
    parser.add_argument("--dpo-set", action="append", default=[], help="key=value for the DPO stage only")
    parser.add_argument("--sft-run", type=Path, default=None,
                        help="reuse this SFT run (one seed) instead of training it; its heldout must be the build's")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    model = args.model or DEFAULT_MODEL if args.lang == "en" else MULTILINGUAL_MODEL
    name = f"{args.kb}-{args.lang}" + (f"-{args.limit}" if args.limit else "")
    out = args.out or Path("bench/preference") / name
    work = Path("/tmp/knowtune-bench-preference") / name
    facts_file, keep = limited_facts(DATA / args.kb / f"facts_{args.lang}.jsonl", args.limit, work / "kb")
    natural = natural_file(args.kb, args.lang, keep, work / "kb")
    data_dir = build_command([facts_file], work / "data", model=None, seed=0, heldout=[natural], overwrite=True)
    heldout = load_dataset_dir(data_dir)[1]
    sets = dict(parse_override(s) for s in args.set)
    dpo_sets = {"stage": "dpo", **dict(parse_override(s) for s in args.dpo_set)}
    options = EvalOptions(rag=False, hallucination=False)
    runs, started = [], time.strftime("%Y-%m-%d %H:%M")
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        cfg = load_train_config(None, {"model": model, "seed": seed, **sets})
        plan = make_plan(heldout, knowledge_of_dataset(data_dir), cfg.system_prompt, options)
        sft, sft_s, steps = sft_stage(cfg, data_dir, work / f"sft-{seed}", args.sft_run)
        record(runs, out, args, started, model, {"config": "sft", "seed": seed, "steps": steps,
                                                  "train_s": round(sft_s, 1), **score(sft, plan)})
        del sft
        tic = time.perf_counter()
        pairs_dir, counts = pairs_command(data_dir, work / f"pairs-{seed}", run=work / f"sft-{seed}",
                                          per_fact=args.per_fact, seed=seed, overwrite=True, quiet=True)
        pairs_s = time.perf_counter() - tic
        merged_dir = work / f"sft-{seed}-merged"
        merged = merge_run(Run(work / f"sft-{seed}"))
        merged.model.save_pretrained(merged_dir, safe_serialization=True)
        merged.tokenizer.save_pretrained(merged_dir)
        del merged
        cfg = load_train_config(None, {"model": str(merged_dir), "seed": seed, **sets, **dpo_sets})
        tic = time.perf_counter()
        dpo = train_run(cfg, pairs_dir, work / f"dpo-{seed}", quiet=True, overwrite=True)
        dpo_s = time.perf_counter() - tic
        record(runs, out, args, started, model, {
            "config": "sft+dpo", "seed": seed, "steps": dpo.stats.steps, "train_s": round(sft_s + pairs_s + dpo_s, 1),
            "pairs": counts["pairs"], "questions_asked": counts["questions_asked"], "pairs_s": round(pairs_s, 1),
            "dpo_s": round(dpo_s, 1), "dpo_lr": dpo.config.learning_rate, "dpo_epochs": dpo.config.epochs,
            "beta": dpo.config.beta, "final_loss": dpo.stats.final_loss, **score(dpo.loaded, plan)})
        del dpo
    write_table(out, runs, model, started)


def record(runs: list, out: Path, args, started: str, model: str, row: dict) -> None:
    runs.append(row)
    print(json.dumps(row), flush=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "runs.json").write_text(json.dumps({"cpu": cpu_name(), "started": started, "model": model,
                                               "args": vars(args) | {"out": str(out)}, "runs": runs},
                                              indent=1, default=str))


def write_table(out: Path, runs: list[dict], model: str, started: str) -> None:
    seeds = sorted({r["seed"] for r in runs})
    lines = [f"# SFT vs SFT -> DPO: {model}", "", f"{started}, {cpu_name()}, seeds {seeds}; medians over seeds. "
             f"Command: `python bench/preference.py {' '.join(sys.argv[1:])}`", "",
             "| config | " + " | ".join(COLUMNS) + " | pairs | steps | train s |", "|---|" + "---:|" * (len(COLUMNS) + 3)]
    lines += median_rows(runs, COLUMNS, ["pairs", "steps", "train_s"])
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
