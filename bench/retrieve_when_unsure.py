"""Fine-tuned + RAG: passages for every question, or only where the model is unsure?

Answers a run's natural questions (dev and test halves) once without passages and once with the
top-k BM25 passages, then scores, for each threshold, the rule eval's + RAG rows follow: the reply
without passages where its confidence (geometric mean token probability) is at least the
threshold, else the reply with passages. Threshold 0 is the model alone, above 1 every question
with passages. With the fact check, a reply no fact of the knowledge base grounds (data.grounding)
is retrieved for too, however sure. Choose on the dev columns; the test columns are only reported.

    python bench/retrieve_when_unsure.py --run RUN --data DATA_DIR --out bench/retrieve_when_unsure/hainan-en
    python bench/retrieve_when_unsure.py --answers OUT/answers.json [MORE.json ...] --facts FACTS.jsonl --out DIR
(--answers: rescore the replies earlier runs of this script saved, without a model; with several,
one per seed's run, each cell is the median over them and the dev columns also give the sum of right
dev answers, the figure to choose by.)

RUN: a run directory (bench/knowledge.py leaves them in /tmp/knowtune-bench-knowledge/...);
DATA_DIR: the data set it was trained on (its heldout.jsonl holds the natural questions).
Writes OUT/results.md and OUT/answers.json (both passes, every reply with its confidence).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from statistics import median
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from knowtune.config.hardware import cpu_name  # noqa: E402
from knowtune.config.run import Run  # noqa: E402
from knowtune.config.yamlfile import load_yaml  # noqa: E402
from knowtune.data import load_dataset_dir  # noqa: E402
from knowtune.data.facts import load_facts  # noqa: E402
from knowtune.data.grounding import Grounding  # noqa: E402
from knowtune.data.retrieval import build_index  # noqa: E402
from knowtune.eval.sources import knowledge_of_dataset  # noqa: E402
from knowtune.eval.suite import EvalPlan, natural_pass, retrieve_when_unsure  # noqa: E402
from knowtune.train.trained import load_run  # noqa: E402

THRESHOLDS = (0.0, 0.5, 0.7, 0.8, 0.85, 0.9, 0.95, 1.01)


def accuracy_by_half(rows: list[dict]) -> dict[str, float]:
    return {half: sum(r["correct"] for r in rows if r["split"] == half) / max(1, sum(r["split"] == half for r in rows))
            for half in ("dev", "test")}


def answer(args) -> tuple[list[tuple[list[dict], list[dict]]], list]:
    """Each run's natural questions' replies without and with passages (saved ones with --answers), and the facts."""
    if args.answers:
        saved = [json.loads(path.read_text()) for path in args.answers]
        return [(one["closed"], one["with_passages"]) for one in saved], load_facts([args.facts])
    loaded, _ = load_run(Run(args.run))
    system = load_yaml(args.run / "config.yaml")[0].get("system_prompt", "")
    natural = [q for q in load_dataset_dir(args.data)[1] if q.get("set") == "natural"]
    kb = knowledge_of_dataset(args.data)
    # hedging off: the replies as the model gives them; retrieve_below 1.01 keeps every reply with passages
    plan = EvalPlan(heldout=[], gold=[], system=system, natural=natural, index=build_index(kb.passages),
                    hedge_below=0.0)
    closed = natural_pass(loaded.model, loaded.tokenizer, plan, "closed").rows
    with_passages = natural_pass(loaded.model, loaded.tokenizer, plan, "rag", rag=True).rows
    return [(closed, with_passages)], kb.facts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--answers", type=Path, nargs="+",
                        help="earlier answers.json files of this script (a run each): their replies, rescored")
    parser.add_argument("--facts", type=Path, help="with --answers: the facts file the run learned")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if not (args.answers and args.facts) and not (args.run and args.data):
        parser.error("give --run and --data, or --answers and --facts")
    tic = time.perf_counter()
    runs, facts = answer(args)
    seconds = time.perf_counter() - tic
    grounding = Grounding(facts)
    checked = [[{**row, "ungrounded": grounding.ungrounded(row["question"], row["reply"])} for row in closed]
               for closed, _ in runs]
    several = len(runs) > 1
    lines = [f"# Retrieval when unsure: {args.run or ', '.join(map(str, args.answers))}", "",
             f"{time.strftime('%Y-%m-%d %H:%M')}, {cpu_name()}; {len(runs[0][0])} natural questions, {len(runs)} "
             f"run(s){', medians over them (sums of right dev answers in brackets)' if several else ''}, "
             f"{seconds:.0f} s. Command: `python bench/retrieve_when_unsure.py {' '.join(sys.argv[1:])}`", "",
             "| retrieve below | retrieved (dev) | natural dev | natural test | with the fact check: retrieved (dev) | "
             "natural dev | natural test |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for threshold in THRESHOLDS:
        cells = []
        for closed_rows in ([closed for closed, _ in runs], checked):
            kept = [retrieve_when_unsure(closed, passages, threshold)
                    for closed, (_, passages) in zip(closed_rows, runs)]
            dev = [[r for r in rows if r["split"] == "dev"] for rows in kept]
            right = sum(r["correct"] for rows in dev for r in rows)
            cells += [f"{100 * median(sum(r['retrieved'] for r in rows) / max(1, len(rows)) for rows in dev):.0f} %",
                      f"{100 * median(accuracy_by_half(rows)['dev'] for rows in kept):.1f} %"
                      + (f" ({right})" if several else ""),
                      f"{100 * median(accuracy_by_half(rows)['test'] for rows in kept):.1f} %"]
        label = {0.0: "0 (model alone)", 1.01: "1 (every question)"}.get(threshold, f"{threshold:g}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    if not args.answers:
        closed, with_passages = runs[0]
        (args.out / "answers.json").write_text(json.dumps({"closed": closed, "with_passages": with_passages},
                                                          ensure_ascii=False, indent=0))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
