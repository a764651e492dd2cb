"""Hedging unsure replies: what it does to unanswerable and answerable questions, per threshold.

Asks a trained run the bundled hand-written natural (answerable) and unanswerable questions of its
knowledge base once, greedily, with the confidence of each reply (data.hedge), then scores every
threshold on the same replies: natural accuracy, the share of natural replies hedged and declined,
and the share of unanswerable ones declined or hedged, by dev and test half (choose on dev).

    python bench/hedge.py --run RUN --kb fictional --lang en --out bench/hedge/fic-en
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from knowtune.config.hardware import cpu_name  # noqa: E402
from knowtune.config.run import Run  # noqa: E402
from knowtune.data.hedge import HEDGE_BELOW, hedged  # noqa: E402
from knowtune.data.jsonl import read_jsonl  # noqa: E402
from knowtune.eval import answer_questions  # noqa: E402
from knowtune.eval.normalize import contains_answer  # noqa: E402
from knowtune.eval.refusal import ASSERTS, DECLINES, classify_reply  # noqa: E402
from knowtune.train.trained import load_trained  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "knowtune" / "data"
THRESHOLDS = (0.0, 0.8, 0.85, HEDGE_BELOW, 0.93, 0.95)


def share(rows: list[dict], test) -> float:
    return round(100 * sum(map(test, rows)) / len(rows), 1) if rows else float("nan")


def scores(natural: list[dict], unanswerable: list[dict], threshold: float, split: str) -> dict:
    nat = [{**r, "reply": hedged(r["reply"], r["confidence"], threshold)} for r in natural if r["split"] == split]
    una = [hedged(r["reply"], r["confidence"], threshold) for r in unanswerable if r["split"] == split]
    return {"natural": share(nat, lambda r: contains_answer(r["reply"], r["answers"])),
            "natural_hedged": share(nat, lambda r: classify_reply(r["reply"]) not in (ASSERTS, DECLINES)),
            "natural_declined": share(nat, lambda r: classify_reply(r["reply"]) == DECLINES),
            "unanswerable_declined_or_hedged": share(una, lambda reply: classify_reply(reply) != ASSERTS)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--kb", default="hainan", choices=["hainan", "fictional"])
    parser.add_argument("--lang", default="en", choices=["en", "zh"])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    loaded, _meta = load_trained(args.run / "adapter")
    system = Run.open(args.run).system_prompt
    natural_q = [row for _, row in read_jsonl(DATA / args.kb / f"natural_{args.lang}.jsonl")]
    unanswerable_q = [{**row, "answers": []} for _, row in read_jsonl(DATA / args.kb / f"unanswerable_{args.lang}.jsonl")]
    start = time.perf_counter()
    ask = dict(system=system, max_new_tokens=32, hedge_below=0.0)
    natural = answer_questions(loaded.model, loaded.tokenizer, natural_q, **ask)
    unanswerable = answer_questions(loaded.model, loaded.tokenizer, unanswerable_q, **ask)
    for rows, questions in ((natural, natural_q), (unanswerable, unanswerable_q)):
        for row, question in zip(rows, questions):
            row["split"] = question.get("split", "dev")
    table = [{"hedge_below": t, "split": split, **scores(natural, unanswerable, t, split)}
             for t in THRESHOLDS for split in ("dev", "test")]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "runs.json").write_text(json.dumps(
        {"cpu": cpu_name(), "started": time.strftime("%Y-%m-%d %H:%M"), "run": str(args.run), "kb": args.kb,
         "lang": args.lang, "seconds": round(time.perf_counter() - start, 1), "table": table,
         "natural": natural, "unanswerable": unanswerable}, indent=1, ensure_ascii=False) + "\n")
    lines = ["| hedge below | half | natural correct | natural hedged | natural declined | unanswerable declined or hedged |",
             "|---:|---|---:|---:|---:|---:|"]
    lines += [f"| {r['hedge_below']} | {r['split']} | {r['natural']} % | {r['natural_hedged']} % | "
              f"{r['natural_declined']} % | {r['unanswerable_declined_or_hedged']} % |" for r in table]
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
