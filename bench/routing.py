"""Routing questions outside the knowledge base to the base model: what it saves and what it costs.

Asks trained runs (e.g. those bench/knowledge.py leaves in /tmp/knowtune-bench-knowledge) their
natural questions, the general-knowledge probe and the hand-written unanswerable questions twice:
with routing (the default of eval, chat and serve: a question naming nothing of the knowledge base
is answered with the adapter off, data.scope) and without (the adapter answers everything, as a
merged or exported model does); the base model once. Reports dev and test halves, the medians
over the runs given, and how many questions of each set went to the base model.

    python bench/routing.py --kb hainan --lang en /tmp/knowtune-bench-knowledge/hainan-en-facts/run-aug-4{2,3,4}

Writes OUT/runs.json and OUT/results.md; choose settings on the dev columns.
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

from knowtune.commands.evaluate import EvalOptions, make_plan  # noqa: E402
from knowtune.config.hardware import cpu_name  # noqa: E402
from knowtune.config.run import Run  # noqa: E402
from knowtune.data.jsonl import read_jsonl  # noqa: E402
from knowtune.eval.refusal import ASSERTS  # noqa: E402
from knowtune.eval.sources import knowledge_of_run  # noqa: E402
from knowtune.eval.suite import natural_pass, probe_pass, unanswerable_pass  # noqa: E402
from knowtune.models.merged import adapter_off  # noqa: E402
from knowtune.train.trained import load_run  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "knowtune" / "data"
SETS = ("natural", "probe", "unanswerable")


def score(passes: dict) -> dict:
    """Per set and half: accuracy (natural, probe) or declined-or-hedged share (unanswerable), and
    how many of its questions went to the base model."""
    out = {}
    for name, rows in passes.items():
        for split in ("dev", "test"):
            mine = [r for r in rows if r.get("split", "test") == split]
            if not mine:
                continue
            right = [r["kind"] != ASSERTS for r in mine] if name.startswith("unanswerable") else [r["correct"] for r in mine]
            out[f"{name}_{split}"] = sum(right) / len(mine)
        if any("answered_by" in r for r in rows):
            out[f"{name}_to_base"] = f"{sum(r.get('answered_by') == 'base' for r in rows)}/{len(rows)}"
    return out


def ask(model, tokenizer, plan) -> dict:
    return {"natural": natural_pass(model, tokenizer, plan, "natural").rows,
            "probe": probe_pass(model, tokenizer, plan, "probe").rows,
            "unanswerable": unanswerable_pass(model, tokenizer, plan, "unanswerable").rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--kb", default="hainan", choices=["hainan", "fictional"])
    parser.add_argument("--lang", default="en", choices=["en", "zh"])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path("bench/routing") / f"{args.kb}-{args.lang}"
    rows, started = [], time.strftime("%Y-%m-%d %H:%M")
    for i, path in enumerate(args.runs):
        run = Run.open(path)
        natural = [q for _, q in read_jsonl(path / "heldout.jsonl") if q.get("set") == "natural"]
        options = EvalOptions(unanswerable=DATA / args.kb / f"unanswerable_{args.lang}.jsonl", rag=False)
        plan = make_plan(natural, knowledge_of_run(path), run.system_prompt, options)
        plan = dataclasses.replace(plan, natural=natural)
        loaded, _ = load_run(run)
        model, tokenizer = loaded.model, loaded.tokenizer
        if i == 0:  # the base model: the same weights, the adapter off
            with adapter_off(model):
                rows.append({"system": "base", **score(ask(model, tokenizer, plan))})
            print(json.dumps(rows[-1]), flush=True)
        routed = score(ask(model, tokenizer, plan))
        alone = score(ask(model, tokenizer, dataclasses.replace(plan, scope=None)))
        rows.append({"system": "fine-tuned, routed", "run": str(path), **routed})
        rows.append({"system": "fine-tuned, adapter on for all", "run": str(path), **alone})
        print(json.dumps(rows[-2:]), flush=True)
        out.mkdir(parents=True, exist_ok=True)
        (out / "runs.json").write_text(json.dumps({"cpu": cpu_name(), "started": started, "args": vars(args),
                                                   "rows": rows}, indent=1, default=str))
        del loaded, model
    write_table(out, rows, started, args)


def write_table(out: Path, rows: list[dict], started: str, args) -> None:
    columns = [f"{name}_{split}" for name in SETS for split in ("dev", "test")]
    lines = [f"# Routing questions outside the knowledge base to the base model: {args.kb} ({args.lang})", "",
             f"{started}, {cpu_name()}, {len(args.runs)} run(s); medians over runs. Command: "
             f"`python bench/routing.py {' '.join(sys.argv[1:])}`", "",
             "natural: accuracy; probe: accuracy; unanswerable: declined or hedged. to base: questions the "
             "first run sent to the base model.", "",
             "| system | " + " | ".join(columns) + " | natural to base | probe to base | unanswerable to base |",
             "|---|" + "---:|" * (len(columns) + 3)]
    for system in dict.fromkeys(r["system"] for r in rows):
        mine = [r for r in rows if r["system"] == system]
        cells = [f"{100 * statistics.median(r[c] for r in mine):.1f} %" if all(c in r for r in mine) else "—"
                 for c in columns]
        cells += [mine[0].get(f"{name}_to_base", "—") for name in SETS]
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
