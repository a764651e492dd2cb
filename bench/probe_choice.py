"""What the weights forgot, read from likelihoods: the general probe as a choice on saved runs.

Scores the probe of the runs' language as a choice among four answers (knowtune.eval.choice: the
accepted answer likeliest of it and three wrong ones) with each run's adapter on, routed as the
served model answers (questions outside the run's knowledge base with the adapter off, data.scope),
and with the first run's adapter off (the base model), for runs that bench/knowledge.py left without
these passes (e.g. in /tmp/knowtune-bench-knowledge). Dev and test halves, medians over the runs.

    python bench/probe_choice.py --lang en /tmp/knowtune-bench-knowledge/hainan-en-facts/run-aug-4{2,3,4}

Writes OUT/runs.json and OUT/results.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from knowtune.config.hardware import cpu_name  # noqa: E402
from knowtune.config.run import Run  # noqa: E402
from knowtune.eval.evaluate import load_questions  # noqa: E402
from knowtune.data.scope import KnowledgeScope  # noqa: E402
from knowtune.eval.sources import knowledge_of_run, probe_file  # noqa: E402
from knowtune.eval.suite import EvalPlan, choice_pass  # noqa: E402
from knowtune.models.merged import adapter_off  # noqa: E402
from knowtune.train.trained import load_run  # noqa: E402


def halves(summary: dict) -> dict:
    return {f"choice_{split}": s["accuracy"] for split, s in summary["by_split"].items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--lang", default="en", choices=["en", "zh"])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path("bench/probe_choice") / args.runs[0].parent.name
    rows, started = [], time.strftime("%Y-%m-%d %H:%M")
    for i, path in enumerate(args.runs):
        run = Run.open(path)
        plan = EvalPlan(heldout=[], gold=[], system=run.system_prompt, probes=load_questions(probe_file(args.lang)))
        loaded, _ = load_run(run)
        model, tokenizer = loaded.model, loaded.tokenizer
        if i == 0:  # the base model: the same weights, the adapter off
            with adapter_off(model):
                rows.append({"system": "base", **halves(choice_pass(model, tokenizer, plan, "base").summary)})
        rows.append({"system": "fine-tuned, adapter on", "run": str(path),
                     **halves(choice_pass(model, tokenizer, plan, "fine-tuned").summary)})
        routed = dataclasses.replace(plan, scope=KnowledgeScope(knowledge_of_run(path).facts))
        rows.append({"system": "fine-tuned, routed", "run": str(path),
                     **halves(choice_pass(model, tokenizer, routed, "fine-tuned, routed").summary)})
        print(json.dumps(rows[-2:]), flush=True)
        out.mkdir(parents=True, exist_ok=True)
        (out / "runs.json").write_text(json.dumps({"cpu": cpu_name(), "started": started, "args": vars(args),
                                                   "rows": rows}, indent=1, default=str))
        del loaded, model
    lines = [f"# The general probe as a choice ({args.lang})", "",
             f"{started}, {cpu_name()}, {len(args.runs)} run(s); medians over runs. Command: "
             f"`python bench/probe_choice.py {' '.join(sys.argv[1:])}`", "",
             "| system | choice dev | choice test |", "|---|---:|---:|"]
    for system in dict.fromkeys(r["system"] for r in rows):
        mine = [r for r in rows if r["system"] == system]
        lines.append(f"| {system} | " + " | ".join(f"{100 * statistics.median(r[c] for r in mine):.1f} %"
                                                  for c in ("choice_dev", "choice_test")) + " |")
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
