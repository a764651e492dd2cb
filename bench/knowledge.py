"""Does the model learn the knowledge, or one sentence of it? Natural questions, before and after.

Trains with `knowtune train` defaults on a bundled knowledge base (hainan or fictional; facts file
or its prose twin), each configuration over seeds, and scores every run on
- the template held-out questions of the facts build (the same words as training, another template),
- the knowledge base's hand-written natural questions (natural_LANG.jsonl), dev and test halves,
  bare and with BM25 retrieval (fine-tuned + RAG),
- the general-knowledge probe (what training made it forget);
- the hand-written unanswerable questions (unanswerable_LANG.jsonl), dev and test halves: declined or
  hedged is right, an assertion is an invention; and how often it declines answerable natural questions;
the base model and base + RAG once. Configurations (CONFIGS): `aug` (the defaults), `plain`
(`--no-augment`: the training templates and the facts' own questions only), `noboundary` (no refusal
samples), `retrieval` (a share of the questions also trained with retrieved passages), `reverse2` (the
backward questions twice, at the same exposures per fact), `bridge` (questions through a related entity
answered by naming it first), `inline` (the same in one sentence), `related6` (six questions through
each related entity instead of two), `distinct` (no refusal samples about made-up names that hold a
real subject's name whole, "北文昌", "the Hainan River"), `boundary4` (half the default share of refusal samples).

    python bench/knowledge.py --kb hainan --lang en --seeds 3
    python bench/knowledge.py --kb fictional --lang zh --source prose --seeds 1
    python bench/knowledge.py --kb hainan --lang en --limit 10 --configs aug   # a 10-fact subset

Writes OUT/runs.json (every run) and OUT/results.md (medians); choose recipes on the dev column.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from knowtune.commands.data import build_command  # noqa: E402
from knowtune.commands.evaluate import EvalOptions, make_plan  # noqa: E402
from knowtune.config.hardware import cpu_name  # noqa: E402
from knowtune.config import DEFAULT_MODEL, MULTILINGUAL_MODEL, load_train_config, parse_override  # noqa: E402
from knowtune.data import load_dataset_dir  # noqa: E402
from knowtune.data.jsonl import read_jsonl, write_jsonl  # noqa: E402
from knowtune.eval.refusal import ASSERTS, DECLINES, classify_reply  # noqa: E402
from knowtune.eval.sources import knowledge_of_dataset  # noqa: E402
from knowtune.eval.suite import evaluate_model  # noqa: E402
from knowtune.models import load_model  # noqa: E402
from knowtune.models.answer_cache import model_identity  # noqa: E402
from knowtune.methods import get_method  # noqa: E402
from knowtune.train import train_run  # noqa: E402
from knowtune.train.run import base_dtype  # noqa: E402
from knowtune.train.trained import load_run  # noqa: E402
from knowtune.config.run import Run  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "knowtune" / "data"
CONFIGS = {"aug": {}, "plain": {"augment": False}, "noboundary": {"boundary": 0.0}, "retrieval": {"retrieval": 0.3},
           "replay400": {"train": {"replay": 400}}, "replay800": {"train": {"replay": 800}},
           "boundary25": {"boundary": 0.25}, "full": {"train": {"method": "full"}},
           "mirror": {"train": {"replay_mirror": 0.5}}, "topk8": {"train": {"replay_topk": 8}},
           "topk32": {"train": {"replay_topk": 32}}, "ratio4": {"train": {"params.loraplus_lr_ratio": 4.0}},
           "ratio8": {"train": {"params.loraplus_lr_ratio": 8.0}}, "reverse2": {"repeat": {"reverse": 2}},
           "bridge": {"augment": {"RELATED_BRIDGE": "before"}}, "inline": {"augment": {"RELATED_BRIDGE": "inline"}},
           "related6": {"augment": {"RELATED_PER_FACT": 6}},
           "distinct": {"augment": {"boundary.MADE_UP_MAY_HOLD_REAL_NAMES": False}},
           "boundary4": {"boundary": 0.04}}
"""Each configuration's `knowtune data build` options, under "train" its training settings (the rest:
defaults), under "repeat" how many times the built set holds each sample of a form, under "augment"
constants of knowtune.data.augment (a dotted name: of its submodule) set while its data is built (a
recipe tried before it is one)."""
BENCH_ONLY = ("train", "repeat", "augment")


@contextlib.contextmanager
def augment_constants(values: dict):
    """knowtune.data.augment's module constants set to `values` while inside ("boundary.NAME": a
    constant of knowtune.data.augment.boundary)."""
    import importlib

    def place(name: str):
        module, _, constant = name.rpartition(".")
        return importlib.import_module(f"knowtune.data.augment{'.' + module if module else ''}"), constant

    before = {name: getattr(*place(name)) for name in values}
    for name, value in values.items():
        setattr(*place(name), value)
    try:
        yield
    finally:
        for name, value in before.items():
            setattr(*place(name), value)


def repeat_forms(data_dir: Path, times: dict, seed: int = 0) -> None:
    """The built training set with each sample of a form in `times` there that many times, shuffled
    again. The exposures per fact count the copies, so the run trains as many steps: a form gains
    its share from the others (a question about the recipe, not a feature: hence here)."""
    import random

    if not times:
        return  # the built set as it is (its own order)
    path = data_dir / "train.jsonl"
    rows = [obj for _, obj in read_jsonl(path, comments=False)]
    rows = [row for row in rows for _ in range(times.get(row.get("form"), 1))]
    random.Random(seed).shuffle(rows)
    write_jsonl(path, rows)


def limited_facts(path: Path, limit: int | None, out: Path) -> tuple[Path, set]:
    rows = [obj for _, obj in read_jsonl(path)]
    rows = rows[:limit] if limit else rows
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / path.name, rows)
    return out / path.name, {(r["subject"], r["relation"]) for r in rows}


def natural_file(kb: str, lang: str, keep: set, out: Path) -> Path:
    """The knowledge base's natural questions about the facts kept: held out of every build."""
    rows = [q for _, q in read_jsonl(DATA / kb / f"natural_{lang}.jsonl") if (q["subject"], q["relation"]) in keep]
    write_jsonl(out / f"natural_{lang}.jsonl", rows)
    return out / f"natural_{lang}.jsonl"


def summary_of(passes: dict) -> dict:
    out = {"template": passes["heldout"].summary["accuracy"]}
    for name in ("natural", "natural_rag"):
        if name in passes:
            for split, s in passes[name].summary["by_split"].items():
                out[f"{name}_{split}"] = s["accuracy"]
    if "natural_rag" in passes:  # passages for every question, beside passages only where unsure
        for split, s in passes["natural_rag"].summary.get("always_retrieved_by_split", {}).items():
            out[f"natural_rag_always_{split}"] = s["accuracy"]
    # *_alone: every question with the adapter on (no routing); probe_choice: by likelihood (eval.choice)
    for name in ("probe", "probe_alone", "probe_choice", "probe_choice_alone"):
        if name in passes:
            out[name] = passes[name].summary["accuracy"]
            for split, s in passes[name].summary.get("by_split", {}).items():
                out[f"{name}_{split}"] = s["accuracy"]
    if "unanswerable" in passes:
        for split in ("dev", "test"):
            rows = [r for r in passes["unanswerable"].rows if r.get("split", "test") == split]
            if rows:  # declined or hedged: not an invention
                out[f"unanswerable_declined_{split}"] = sum(r["kind"] != ASSERTS for r in rows) / len(rows)
    if "natural" in passes:  # over-refusal: answerable questions it declines
        rows = passes["natural"].rows
        out["natural_declined"] = sum(classify_reply(r["reply"]) == DECLINES for r in rows) / len(rows)
    if "natural" in passes:
        dev = [r for r in passes["natural"].rows if r["split"] == "dev"]
        out["natural_dev_by_form"] = {form: f"{sum(r['correct'] for r in dev if r['form'] == form)}/"
                                            f"{sum(r['form'] == form for r in dev)}"
                                      for form in sorted({r["form"] for r in dev})}
    return out


def dev_misses(passes: dict) -> list[dict]:
    """The dev half's wrong replies, to read when choosing a recipe (the test half is never shown)."""
    return [{k: r[k] for k in ("question", "form", "answers", "reply")}
            for r in passes.get("natural", None).rows if r["split"] == "dev" and not r["correct"]] \
        if "natural" in passes else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kb", default="hainan", choices=["hainan", "fictional"])
    parser.add_argument("--lang", default="en", choices=["en", "zh"])
    parser.add_argument("--source", default="facts", choices=["facts", "prose"])
    parser.add_argument("--model", default=None)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=42, help="seeds are first-seed, first-seed + 1, ...")
    parser.add_argument("--configs", default="aug,plain")
    parser.add_argument("--limit", type=int, default=None, help="only the first N facts (and their questions)")
    parser.add_argument("--set", action="append", default=[], help="key=value for the training config")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--no-base", dest="base", action="store_false", help="skip the base model's passes")
    parser.add_argument("--eval-only", action="store_true",
                        help="evaluate the runs an earlier call left in the scratch folder instead of training")
    args = parser.parse_args()
    unknown = set(args.configs.split(",")) - set(CONFIGS)
    if unknown:
        parser.error(f"--configs: unknown {', '.join(sorted(unknown))}; choose from {', '.join(CONFIGS)}")
    model = args.model or (DEFAULT_MODEL if args.lang == "en" else MULTILINGUAL_MODEL)
    name = f"{args.kb}-{args.lang}-{args.source}" + (f"-{args.limit}" if args.limit else "")
    out = args.out or Path("bench/knowledge") / name
    work = Path("/tmp/knowtune-bench-knowledge") / name
    facts_file, keep = limited_facts(DATA / args.kb / f"facts_{args.lang}.jsonl", args.limit, work / "kb")
    source = facts_file if args.source == "facts" else DATA / args.kb / f"prose_{args.lang}.md"
    natural = natural_file(args.kb, args.lang, keep, work / "kb")
    template = [q for q in load_dataset_dir(build_command([facts_file], work / "facts-plain", model=None, seed=0,
                                                          augment=False, overwrite=True))[1]
                if q.get("set") != "natural"]
    sets = dict(parse_override(s) for s in args.set)
    runs, started, base_identity = [], time.strftime("%Y-%m-%d %H:%M"), None
    for config in args.configs.split(","):
        with augment_constants(CONFIGS[config].get("augment", {})):
            data_dir = build_command([source], work / f"data-{config}", model=None, seed=0, heldout=[natural],
                                     overwrite=True, **{k: v for k, v in CONFIGS[config].items() if k not in BENCH_ONLY})  # this script's own scratch folder
        repeat_forms(data_dir, CONFIGS[config].get("repeat", {}))
        train, heldout = load_dataset_dir(data_dir)
        samples, natural_rows = len(train), [q for q in heldout if q.get("set") == "natural"]
        options = EvalOptions(unanswerable=DATA / args.kb / f"unanswerable_{args.lang}.jsonl")
        if not runs and args.base:  # the base model, once
            cfg = load_train_config(None, {"model": model, **sets})
            # held as training holds it (bf16 where bf16 is fast), as the demo does: the probe's before
            # and after then differ by the training, not by the precision
            base = load_model(cfg.model, dtype=base_dtype(cfg, get_method(cfg.method)))
            plan = make_plan(template + natural_rows, knowledge_of_dataset(data_dir), cfg.system_prompt, options)
            base_identity = model_identity(base.model)
            plan = dataclasses.replace(plan, cache_as=base_identity)
            runs.append({"config": "base", "seed": None, **summary_of(evaluate_model(base.model, base.tokenizer,
                                                                                      plan, "base"))})
            del base
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            cfg = load_train_config(None, {"model": model, "seed": seed, **sets, **CONFIGS[config].get("train", {})})
            run_dir, tic = work / f"run-{config}-{seed}", time.perf_counter()
            if args.eval_only:  # the run this script trained before, asked again (an evaluation rule changed)
                loaded, _ = load_run(Run.open(run_dir))
                train = json.loads((run_dir / "run.json").read_text())["train"]
                result = SimpleNamespace(loaded=loaded, stats=SimpleNamespace(
                    steps=train["steps"], exposures=train["exposures_per_fact"], final_loss=train["final_loss"]))
                seconds = train["seconds"]
            else:
                result = train_run(cfg, data_dir, run_dir, quiet=True, overwrite=True)
                seconds = time.perf_counter() - tic
            plan = make_plan(template + natural_rows, knowledge_of_dataset(data_dir), cfg.system_prompt, options)
            plan = dataclasses.replace(plan, base_cache_as=base_identity)  # routed questions: the base's answers
            passes = evaluate_model(result.loaded.model, result.loaded.tokenizer, plan, config)
            scores = summary_of(passes)
            out.mkdir(parents=True, exist_ok=True)
            (out / f"dev-misses-{config}-{seed}.json").write_text(
                json.dumps(dev_misses(passes), ensure_ascii=False, indent=1))
            runs.append({"config": config, "seed": seed, "samples": samples, "steps": result.stats.steps,
                         "exposures_per_fact": round(result.stats.exposures, 1), "train_s": round(seconds, 1),
                         "final_loss": result.stats.final_loss, **scores})
            print(json.dumps(runs[-1]), flush=True)
            out.mkdir(parents=True, exist_ok=True)
            (out / "runs.json").write_text(json.dumps({"cpu": cpu_name(), "started": started, "model": model,
                                                       "args": vars(args) | {"out": str(out)}, "runs": runs},
                                                      indent=1, default=str))
    write_table(out, runs, model, started, args)


def median_rows(runs: list[dict], percents: list[str], plain: list[str]) -> list[str]:
    """A markdown row per configuration: the medians over its seeds, percentages then plain numbers."""
    rows = []
    for config in dict.fromkeys(r["config"] for r in runs):
        mine = [r for r in runs if r["config"] == config]
        have = lambda key: all(key in r for r in mine)  # noqa: E731
        cells = [f"{100 * statistics.median(r[k] for r in mine):.1f} %" if have(k) else "—" for k in percents]
        cells += [f"{statistics.median(r[k] for r in mine):g}" if have(k) else "—" for k in plain]
        rows.append(f"| {config} | " + " | ".join(cells) + " |")
    return rows


def write_table(out: Path, runs: list[dict], model: str, started: str, args) -> None:
    columns = ["template", "natural_dev", "natural_test", "natural_rag_dev", "natural_rag_test", "natural_rag_always_dev",
               "natural_rag_always_test", "probe_dev", "probe_test", "probe_alone_dev", "probe_alone_test",
               "probe_choice_dev", "probe_choice_test", "probe_choice_alone_dev", "probe_choice_alone_test",
               "unanswerable_declined_dev", "unanswerable_declined_test", "natural_declined"]
    lines = [f"# {args.kb} ({args.lang}, from {args.source}{f', first {args.limit} facts' if args.limit else ''}): "
             f"{model}", "", f"{started}, {cpu_name()}, seeds {args.seeds}; medians over seeds. Command: "
             f"`python bench/knowledge.py {' '.join(sys.argv[1:])}`", "",
             "| config | " + " | ".join(columns) + " | steps | exposures/fact | train s |",
             "|---|" + "---:|" * (len(columns) + 3)]
    lines += median_rows(runs, columns, ["steps", "exposures_per_fact", "train_s"])
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
