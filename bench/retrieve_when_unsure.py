"""Fine-tuned + RAG: passages for every question, or only where the model is unsure?

Answers a run's natural questions (dev and test halves) once without passages and once with the
top-k BM25 passages, then scores, for each threshold, the rule eval's + RAG rows follow: the reply
without passages where its confidence (geometric mean token probability) is at least the
threshold, else the reply with passages. Threshold 0 is the model alone, above 1 every question
with passages. Choose the threshold on the dev column; the test column is only reported.

    python bench/retrieve_when_unsure.py --run RUN --data DATA_DIR --out bench/retrieve_when_unsure/hainan-en

RUN: a run directory (bench/knowledge.py leaves them in /tmp/knowtune-bench-knowledge/...);
DATA_DIR: the data set it was trained on (its heldout.jsonl holds the natural questions).
Writes OUT/results.md and OUT/answers.json (both passes, every reply with its confidence).
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
from knowtune.config.yamlfile import load_yaml  # noqa: E402
from knowtune.data import load_dataset_dir  # noqa: E402
from knowtune.data.retrieval import build_index  # noqa: E402
from knowtune.eval.sources import knowledge_of_dataset  # noqa: E402
from knowtune.eval.suite import EvalPlan, natural_pass, retrieve_when_unsure  # noqa: E402
from knowtune.train.trained import load_run  # noqa: E402

THRESHOLDS = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 1.01)


def accuracy_by_half(rows: list[dict]) -> dict[str, float]:
    return {half: sum(r["correct"] for r in rows if r["split"] == half) / max(1, sum(r["split"] == half for r in rows))
            for half in ("dev", "test")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    loaded, _ = load_run(Run(args.run))
    system = load_yaml(args.run / "config.yaml")[0].get("system_prompt", "")
    natural = [q for q in load_dataset_dir(args.data)[1] if q.get("set") == "natural"]
    index = build_index(knowledge_of_dataset(args.data).passages)
    # hedging off: the replies as the model gives them; retrieve_below 1.01 keeps every reply with passages
    plan = EvalPlan(heldout=[], gold=[], system=system, natural=natural, index=index, hedge_below=0.0)
    tic = time.perf_counter()
    closed = natural_pass(loaded.model, loaded.tokenizer, plan, "closed").rows
    with_passages = natural_pass(loaded.model, loaded.tokenizer, plan, "rag", rag=True).rows
    seconds = time.perf_counter() - tic
    lines = [f"# Retrieval when unsure: {args.run}", "",
             f"{time.strftime('%Y-%m-%d %H:%M')}, {cpu_name()}; {len(natural)} natural questions, "
             f"{seconds:.0f} s. Command: `python bench/retrieve_when_unsure.py {' '.join(sys.argv[1:])}`", "",
             "| retrieve below | retrieved (dev) | natural dev | natural test |", "|---:|---:|---:|---:|"]
    for threshold in THRESHOLDS:
        rows = retrieve_when_unsure(closed, with_passages, threshold)
        acc = accuracy_by_half(rows)
        share = sum(r["retrieved"] for r in rows if r["split"] == "dev") / max(1, sum(r["split"] == "dev" for r in rows))
        label = {0.0: "0 (model alone)", 1.01: "1 (every question)"}.get(threshold, f"{threshold:g}")
        lines.append(f"| {label} | {100 * share:.0f} % | {100 * acc['dev']:.1f} % | {100 * acc['test']:.1f} % |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    (args.out / "answers.json").write_text(json.dumps({"closed": closed, "with_passages": with_passages},
                                                      ensure_ascii=False, indent=0))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
