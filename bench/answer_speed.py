"""Answering speed: knowtune's answering path against transformers' generate on the same questions.

A trained run (or a base model) answers the bundled natural questions and the general probe of a
language greedily, as evaluation asks them, by several paths in one process, alternating,
`--repeats` times each (`--paths`, each PATH:PRECISION:BATCH):

- `generate`: transformers' `generate` on the model as loaded (an adapter run stays unmerged),
  batches sorted by prompt length, with knowtune's allocator and output-head fixes (bf16: under
  plain bf16 autocast): knowtune's path before finished rows left the batch and adapters were merged;
- `knowtune`: `knowtune.models.generate_scored` (adapters merged while answering, finished rows
  leaving the batch; bf16: the weights cast to bf16 once per call);
- `knowtune-autocast`: the same under plain autocast, which casts every weight again at each step.

Reports answers/s (median of the repeats), the speed-up against the first path, how many replies
differ from the first path of the same precision, and how many are right.

    python bench/answer_speed.py --run RUN --lang en --out bench/answer_speed/hainan-en
    python bench/answer_speed.py --run RUN --lang en --paths generate:bf16:32,knowtune:bf16:64,knowtune:bf16:128 ...
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from knowtune.config.hardware import cpu_name  # noqa: E402
from knowtune.config.run import Run  # noqa: E402
from knowtune.data import ChatPrompt  # noqa: E402
from knowtune.data.jsonl import read_jsonl  # noqa: E402
from knowtune.eval.normalize import contains_answer  # noqa: E402
from knowtune.eval.sources import probe_file  # noqa: E402
from knowtune.models import generate_scored, load_model, stop_token_ids  # noqa: E402
from knowtune.models.allocator import mapping_allowed  # noqa: E402
from knowtune.models.generate import _generating, contiguous_head_input  # noqa: E402
from knowtune.train.trained import load_trained  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "knowtune" / "data"
MAX_NEW_TOKENS = 32  # evaluation's


def plain_generate(model, tokenizer, prompts: list[str], batch_size: int, bf16: bool) -> list[str]:
    """transformers' generate, greedy, sorted batches, no merge (bf16: under plain bf16 autocast): the
    baseline."""
    import torch

    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    replies: dict[int, str] = {}
    tokenizer.padding_side = "left"
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        enc = tokenizer([prompts[i] for i in chunk], return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode(), mapping_allowed(), contiguous_head_input(model), \
                torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model.generate(**enc, max_new_tokens=MAX_NEW_TOKENS, do_sample=False,
                                 eos_token_id=stop_token_ids(tokenizer), pad_token_id=tokenizer.pad_token_id)
        for i, row in zip(chunk, out[:, enc["input_ids"].shape[1]:]):
            replies[i] = tokenizer.decode(row, skip_special_tokens=True).strip()
    return [replies[i] for i in range(len(prompts))]


def autocast_alone(answer):
    """`answer()` with knowtune's bf16 weight copies replaced by plain bf16 autocast."""
    import contextlib

    import torch

    from knowtune.models import generate

    @contextlib.contextmanager
    def plain(model, bf16):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            yield

    kept, generate.bf16_compute = generate.bf16_compute, plain
    try:
        return answer()
    finally:
        generate.bf16_compute = kept


def knowtune_answers(model, tokenizer, prompts: list[str], batch_size: int, bf16: bool) -> list[str]:
    return [r.text for r in generate_scored(model, tokenizer, prompts, max_new_tokens=MAX_NEW_TOKENS,
                                            batch_size=batch_size, score=False, bf16=bf16)]


PATHS = {"generate": plain_generate, "knowtune": knowtune_answers,
         "knowtune-autocast": lambda *args: autocast_alone(lambda: knowtune_answers(*args))}
"""generate: the baseline; knowtune: its answering path; knowtune-autocast: the same without the bf16
weight copies (autocast casting every weight at every step, knowtune's bf16 path before them)."""
DEFAULT_PATHS = "generate:fp32:32,generate:bf16:32,knowtune:fp32:128,knowtune:bf16:128"


def timed(answer) -> tuple[list[str], float]:
    start = time.perf_counter()
    replies = answer()
    return replies, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help="a trained run (its adapter is attached); else --model")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--kb", default="hainan", choices=["hainan", "fictional"])
    parser.add_argument("--lang", default="en", choices=["en", "zh"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--paths", default=DEFAULT_PATHS,
                        help="comma-separated PATH:PRECISION:BATCH, PATH one of " + ", ".join(PATHS))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.run:
        loaded, meta = load_trained(args.run / "adapter")
        system, name = Run.open(args.run).system_prompt, f"{meta['base_model']} + {meta['method']}"
    else:
        loaded, system, name = load_model(args.model), "You are a helpful assistant.", args.model
    model, tokenizer = loaded.model.eval(), loaded.tokenizer
    questions = [row for _, row in read_jsonl(DATA / args.kb / f"natural_{args.lang}.jsonl")]
    questions += [row for _, row in read_jsonl(probe_file(args.lang))]
    prompt = ChatPrompt(tokenizer, system)
    prompts = [prompt.ask(q["question"]) for q in questions]
    paths = {}
    for spec in args.paths.split(","):
        kind, precision, size = spec.split(":")
        paths[f"{kind}, {precision}, bs {size}"] = (precision, partial(
            PATHS[kind], model, tokenizer, prompts, int(size), precision == "bf16"))
    for bf16 in (False, True):
        with _generating(model, bf16):
            pass  # warm the allocator and merge path once before timing
    seconds: dict[str, list[float]] = {p: [] for p in paths}
    replies: dict[str, list[str]] = {}
    for _ in range(args.repeats):
        for label, (_, answer) in paths.items():  # alternating: drifts of a shared machine fall on every path
            replies[label], took = timed(answer)
            seconds[label].append(took)
            print(f"{label}: {took:.1f} s", flush=True)
    base_label = next(iter(paths))
    rows = []
    for label, (precision, _) in paths.items():
        median = statistics.median(seconds[label])
        # replies are compared with the first path of the same precision (bf16 and fp32 round differently)
        same = next(other for other, (p, _) in paths.items() if p == precision)
        rows.append({"path": label, "seconds": [round(s, 2) for s in seconds[label]], "median_s": round(median, 2),
                     "answers_per_s": round(len(prompts) / median, 2),
                     "speedup": round(statistics.median(seconds[base_label]) / median, 2),
                     "compared_with": same,
                     "differing_replies": sum(a != b for a, b in zip(replies[label], replies[same])),
                     "correct": sum(contains_answer(r, q["answers"]) for r, q in zip(replies[label], questions))})
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "runs.json").write_text(json.dumps(
        {"cpu": cpu_name(), "started": time.strftime("%Y-%m-%d %H:%M"), "model": name,
         "run": str(args.run),
         "questions": len(prompts), "max_new_tokens": MAX_NEW_TOKENS, "rows": rows,
         "differing": [{"question": q["question"], row["compared_with"]: a, row["path"]: b} for row in rows
                       for q, a, b in zip(questions, replies[row["compared_with"]], replies[row["path"]])
                       if a != b]},
        indent=1, ensure_ascii=False) + "\n")
    lines = [f"{name}, {len(prompts)} questions ({args.kb} natural + probe, {args.lang}), {cpu_name()}; "
             f"speed-up against {base_label}", "",
             "| path | answers/s | speed-up | median s | replies differing from | how many | correct |",
             "|---|---:|---:|---:|---|---:|---:|"]
    lines += [f"| {r['path']} | {r['answers_per_s']} | ×{r['speedup']} | {r['median_s']} | {r['compared_with']} "
              f"| {r['differing_replies']} | {r['correct']} |" for r in rows]
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
