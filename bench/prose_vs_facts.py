"""Prose vs facts: does a model trained from the prose version of a knowledge base alone learn as
much as one trained from its facts file?

Builds both datasets from the bundled Hainan twins (facts_LANG.jsonl and prose_LANG.md state
the same facts in the same order), trains each with `knowtune train` defaults, and scores:

- both models on the SAME questions: the facts build's held-out set (the fair comparison);
- each model on its own held-out split (the prose split asks per sentence-fact, in forms
  never used in training).

    python bench/prose_vs_facts.py --limit 30          # first 30 facts and first 30 prose sentences
    python bench/prose_vs_facts.py                     # the whole knowledge base (slow on a CPU)

Writes OUT/results.json and OUT/results.md, and prints the table.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from knowtune.config import load_train_config  # noqa: E402
from knowtune.data import build_samples, load_dataset_dir, load_facts, write_dataset  # noqa: E402
from knowtune.data.build import build_dataset  # noqa: E402
from knowtune.data.formats import read_document  # noqa: E402
from knowtune.data.prose import split_sentences, synthesize  # noqa: E402
from knowtune.eval import accuracy_line, answer_questions, summarise  # noqa: E402
from knowtune.train import train_run  # noqa: E402
from knowtune.config.hardware import fast_bf16_available  # noqa: E402

KB = Path(__file__).resolve().parent.parent / "knowtune" / "data" / "hainan"


def limited_prose(source: Path, limit: int | None, out: Path) -> Path:
    """The prose file cut after its first `limit` sentences below the first `##` section (the preamble,
    before it, states no fact). Sentence i of the body states fact i of the facts file."""
    if limit is None:
        return source
    kept, count, in_body = [], 0, False
    for line in source.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            in_body = True
            kept.append(line)
            continue
        if not in_body or not line.strip() or line.startswith("#"):
            kept.append(line)
            continue
        take = []
        for sentence in split_sentences(line):
            if count < limit:
                take.append(sentence)
                count += 1
        if take:
            kept.append((" " if re.search(r"[A-Za-z]", line) else "").join(take))
    out.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return out


def build_both(lang: str, limit: int | None, out: Path) -> tuple[Path, Path, dict]:
    facts = load_facts([KB / f"facts_{lang}.jsonl"])[:limit]
    facts_dir = write_dataset(build_samples(facts), out / "data-facts", sources=[f"facts_{lang}.jsonl"])
    prose_file = limited_prose(KB / f"prose_{lang}.md", limit, out / f"prose_{lang}.md")
    prose = synthesize([read_document(prose_file)])
    built = build_dataset(prose.knowledge, pretrain=prose.pretrain)
    prose_dir = write_dataset(built, out / "data-prose", sources=[str(prose_file)])
    info = {"facts": len(facts), "facts_train_samples": len(load_dataset_dir(facts_dir)[0]),
            "prose_sentences": prose.sentences, "prose_sentences_without_questions": prose.sentences_without_questions,
            "prose_readings": len(prose.knowledge), "prose_train_samples": len(built.train)}
    return facts_dir, prose_dir, info


def score(model, tokenizer, questions: list[dict]) -> dict:
    rows = answer_questions(model, tokenizer, questions, bf16=fast_bf16_available())
    return summarise(rows) | {"rows": rows}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lang", default="en", choices=["en", "zh"])
    parser.add_argument("--limit", type=int, default=None, help="First N facts and first N prose sentences.")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-prose-vs-facts"))
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="Training config override key=value (default: knowtune train defaults).")
    args = parser.parse_args(argv)
    from knowtune.config import parse_override

    overrides = dict(parse_override(s) for s in args.overrides)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    facts_dir, prose_dir, info = build_both(args.lang, args.limit, args.out)
    facts_heldout = load_dataset_dir(facts_dir)[1]
    prose_heldout = load_dataset_dir(prose_dir)[1]
    results: dict = {"lang": args.lang, "limit": args.limit, **info, "scores": {}}
    for name, data_dir in (("facts", facts_dir), ("prose", prose_dir)):
        run = train_run(load_train_config(None, overrides), data_dir, args.out / f"run-{name}", model_named="model" in overrides,
                        replace_same_kind=True)
        model, tokenizer = run.loaded.model, run.loaded.tokenizer
        on_facts = score(model, tokenizer, facts_heldout)
        on_prose = score(model, tokenizer, prose_heldout)
        results["scores"][name] = {"on_facts_heldout": on_facts, "on_prose_heldout": on_prose,
                                   "train": run.stats.to_dict(), "model": run.config.model,
                                   "method": run.config.method, "epochs": run.config.epochs}
        print(f"{name}-trained: facts held-out {accuracy_line(on_facts)}; prose held-out {accuracy_line(on_prose)}")
        del run, model
    results["seconds"] = round(time.perf_counter() - start, 1)
    write_results(args.out, results)
    return results


def write_results(out: Path, results: dict) -> None:
    def pct(s: dict) -> str:
        return f"{100 * s['accuracy']:.1f}% ({s['correct']}/{s['total']})"

    facts, prose = results["scores"]["facts"], results["scores"]["prose"]
    gap = 100 * (facts["on_facts_heldout"]["accuracy"] - prose["on_facts_heldout"]["accuracy"])
    lines = [f"# prose vs facts ({results['lang']}, limit {results['limit'] or 'none'})", "",
             f"- facts: {results['facts']} ({results['facts_train_samples']} training samples)",
             f"- prose: {results['prose_sentences']} sentences, {results['prose_readings']} readings "
             f"({results['prose_sentences_without_questions']} sentences without a question), "
             f"{results['prose_train_samples']} training samples",
             f"- model {facts['model']}, method {facts['method']}, {facts['epochs']} epochs; "
             f"total {results['seconds']:.0f} s", "",
             "| trained on | facts held-out (same questions for both) | its own held-out split |",
             "|---|---:|---:|",
             f"| facts | {pct(facts['on_facts_heldout'])} | {pct(facts['on_facts_heldout'])} |",
             f"| prose | {pct(prose['on_facts_heldout'])} | {pct(prose['on_prose_heldout'])} |", "",
             f"Gap on the same questions (facts - prose): {gap:.1f} points.  ",
             f"Facts-trained model on the prose held-out split: {pct(facts['on_prose_heldout'])}.", ""]
    (out / "results.md").write_text("\n".join(lines), encoding="utf-8")
    slim = json.loads(json.dumps(results))
    for model in slim["scores"].values():
        for key in ("on_facts_heldout", "on_prose_heldout"):
            model[key].pop("rows", None)
    (out / "results.json").write_text(json.dumps(slim, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for model in ("facts", "prose"):
        for key in ("on_facts_heldout", "on_prose_heldout"):
            rows = results["scores"][model][key]["rows"]
            with open(out / f"answers-{model}-{key}.jsonl", "w", encoding="utf-8") as fh:
                fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
