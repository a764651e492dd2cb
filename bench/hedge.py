"""Hedging unsure replies: what it does to unanswerable and answerable questions, per threshold.

Asks a trained run the bundled hand-written natural (answerable) and unanswerable questions of its
knowledge base once, greedily, with the confidence of each reply (data.hedge), then scores every
threshold on the same replies, with and without the fact check (data.grounding: a reply about the
knowledge base that none of its facts backs carries a note): natural accuracy, the share of natural
replies hedged and declined, the share of right natural replies hedged, and the share of
unanswerable ones declined or hedged, by dev and test half (choose on dev).

    python bench/hedge.py --run RUN --kb fictional --lang en --out bench/hedge/fic-en
    python bench/hedge.py --replies bench/hedge/fic-en/runs.json --out bench/hedge/fic-en-grounded
(--replies: score the bare replies an earlier run of this script saved, without a model.)
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
from knowtune.data import KNOWLEDGE_FILE  # noqa: E402
from knowtune.data.facts import knowledge_facts, load_facts  # noqa: E402
from knowtune.data.grounding import Grounding  # noqa: E402
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


def scores(natural: list[dict], unanswerable: list[dict], threshold: float, split: str, check: bool) -> dict:
    def noted(r):
        return hedged(r["reply"], r["confidence"], threshold, ungrounded=check and r["ungrounded"])

    nat = [{**r, "reply": noted(r)} for r in natural if r["split"] == split]
    una = [noted(r) for r in unanswerable if r["split"] == split]
    right = [r for r in nat if contains_answer(r["reply"], r["answers"])]
    return {"natural": share(nat, lambda r: contains_answer(r["reply"], r["answers"])),
            "natural_hedged": share(nat, lambda r: classify_reply(r["reply"]) not in (ASSERTS, DECLINES)),
            "right_hedged": share(right, lambda r: classify_reply(r["reply"]) not in (ASSERTS, DECLINES)),
            "natural_declined": share(nat, lambda r: classify_reply(r["reply"]) == DECLINES),
            "unanswerable_declined_or_hedged": share(una, lambda reply: classify_reply(reply) != ASSERTS)}


def ask(args) -> tuple[list[dict], list[dict], list]:
    """Bare greedy replies (with their confidence) to the natural and unanswerable questions, and the facts."""
    if args.replies:
        saved = json.loads(args.replies.read_text())
        args.run, args.kb, args.lang = saved["run"], saved["kb"], saved["lang"]
        return saved["natural"], saved["unanswerable"], load_facts([DATA / args.kb / f"facts_{args.lang}.jsonl"])
    loaded, _meta = load_trained(args.run / "adapter")
    system = Run.open(args.run).system_prompt
    natural_q = [row for _, row in read_jsonl(DATA / args.kb / f"natural_{args.lang}.jsonl")]
    unanswerable_q = [{**row, "answers": []} for _, row in read_jsonl(DATA / args.kb / f"unanswerable_{args.lang}.jsonl")]
    ask = dict(system=system, max_new_tokens=32, hedge_below=0.0)
    natural = answer_questions(loaded.model, loaded.tokenizer, natural_q, **ask)
    unanswerable = answer_questions(loaded.model, loaded.tokenizer, unanswerable_q, **ask)
    for rows, questions in ((natural, natural_q), (unanswerable, unanswerable_q)):
        for row, question in zip(rows, questions):
            row["split"] = question.get("split", "dev")
    return natural, unanswerable, knowledge_facts(args.run / KNOWLEDGE_FILE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path)
    parser.add_argument("--replies", type=Path, help="an earlier runs.json of this script: its replies, rescored")
    parser.add_argument("--kb", default="hainan", choices=["hainan", "fictional"])
    parser.add_argument("--lang", default="en", choices=["en", "zh"])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if (args.run is None) == (args.replies is None):
        parser.error("give one of --run or --replies")
    start = time.perf_counter()
    natural, unanswerable, facts = ask(args)
    grounding = Grounding(facts)
    for row in natural + unanswerable:
        row["ungrounded"] = grounding.ungrounded(row["question"], row["reply"])
    table = [{"hedge_below": t, "fact_check": check, "split": split,
              **scores(natural, unanswerable, t, split, check)}
             for check in (False, True) for t in THRESHOLDS for split in ("dev", "test")]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "runs.json").write_text(json.dumps(
        {"cpu": cpu_name(), "started": time.strftime("%Y-%m-%d %H:%M"), "run": str(args.run), "kb": args.kb,
         "lang": args.lang, "facts": len(facts), "seconds": round(time.perf_counter() - start, 1), "table": table,
         "natural": natural, "unanswerable": unanswerable}, indent=1, ensure_ascii=False) + "\n")
    lines = ["| fact check | hedge below | half | natural correct | natural hedged | right ones hedged | "
             "natural declined | unanswerable declined or hedged |", "|---|---:|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {'on' if r['fact_check'] else 'off'} | {r['hedge_below']} | {r['split']} | {r['natural']} % | "
              f"{r['natural_hedged']} % | {r['right_hedged']} % | {r['natural_declined']} % | "
              f"{r['unanswerable_declined_or_hedged']} % |" for r in table]
    (args.out / "results.md").write_text(f"{args.run} ({args.kb} {args.lang}, {len(facts)} facts)\n\n"
                                         + "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
