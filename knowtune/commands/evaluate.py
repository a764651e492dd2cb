"""`knowtune eval`: a run (or a base model) on its held-out questions, with and without retrieval,
on the general-knowledge probe and on unanswerable questions; JSON, Markdown and HTML reports."""

from __future__ import annotations


import contextlib
import gc
import json
from dataclasses import dataclass, replace
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from ..config import ANSWER_BATCH, HEDGE_BELOW, RETRIEVE_BELOW, KnowtuneError, TrainConfig
from ..config.fsutil import atomic_dir, check_output
from ..config.run import Run
from ..data import HELDOUT_FILE
from ..data.grounding import Grounding
from ..data.scope import KnowledgeScope
from ..data.retrieval import TOP_K, build_index
from ..eval import accuracy_line, answer_questions, load_questions, summarise
from ..eval.full_report import acc, acc_interval, build_report, pct
from ..eval.results import combine, write_answers, write_reports
from ..eval.sources import (KnowledgeBase, default_unanswerable, knowledge_of_dataset, knowledge_of_path,
                            knowledge_of_run, load_unanswerable, main_lang, probe_file)
from ..eval.suite import EvalPlan, evaluate_model
from ..models.answer_cache import model_identity
from ..models.merged import adapter_off, has_adapter
from ..config.hardware import fast_bf16_available

console = Console()


@dataclass
class EvalOptions:
    questions: Path | None = None
    base: bool = True
    rag: bool = True
    top_k: int = TOP_K
    probes: bool = True
    hallucination: bool = True
    unanswerable: Path | None = None
    kb: Path | None = None
    batch_size: int = ANSWER_BATCH
    hedge_below: float = HEDGE_BELOW
    retrieve_below: float = RETRIEVE_BELOW
    fact_check: bool = True
    """Replies about the knowledge base that none of its facts grounds carry a note (data.grounding)."""
    route: bool = True
    """Questions outside the knowledge base are answered with the adapter off (data.scope)."""
    overwrite: bool = False

    def validate(self) -> None:
        for name in ("top_k", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        for name in ("hedge_below", "retrieve_below"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name}: a probability from 0 to 1, got {getattr(self, name)}")


@contextlib.contextmanager
def progress_bar(label: str, total: int):
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"answering ({label})", total=total)
        yield lambda n: progress.advance(task, n)


def score(model, tokenizer, questions: list[dict], label: str, system: str = "") -> tuple[list[dict], dict]:
    """One plain pass over questions (the demo's before/after)."""
    with progress_bar(label, len(questions)) as advance:
        rows = answer_questions(model, tokenizer, questions, bf16=fast_bf16_available(), system=system,
                                progress=advance)
    return rows, summarise(rows)


def make_plan(questions: list[dict], kb: KnowledgeBase | None, system: str, options: EvalOptions) -> EvalPlan:
    """Every question set, file and index, read and checked before any model is loaded."""
    lang = main_lang(questions)
    natural = [q for q in questions if q.get("set") == "natural"]
    questions = [q for q in questions if q.get("set") != "natural"] or natural
    if questions is natural:
        natural = []  # a file of natural questions alone is the held-out set itself
    plan = EvalPlan(heldout=questions, gold=[kb.gold(q) if kb else q["answers"][0] for q in questions],
                    system=system, top_k=options.top_k, bf16=fast_bf16_available(),
                    batch_size=options.batch_size, natural=natural, hedge_below=options.hedge_below,
                    retrieve_below=options.retrieve_below,
                    grounding=Grounding(kb.facts) if options.fact_check and kb is not None and kb.facts else None,
                    scope=KnowledgeScope(kb.facts) if options.route and kb is not None and kb.facts else None)
    if options.rag and kb is not None:
        plan.index = build_index(kb.passages)
    if options.probes:
        plan.probes = load_questions(probe_file(lang))
    if options.hallucination:
        subjects = (kb.subjects if kb else set()) | {q.get("subject", "").lower() for q in questions}
        path = options.unanswerable or default_unanswerable(lang, subjects - {""})
        plan.unanswerable = load_unanswerable(path) if path else []
    return plan


def demo_plan(heldout: list[dict], data_dir: Path, system: str) -> EvalPlan:
    """The demo's plan: held-out questions with retrieval, the general probe and the unanswerable
    questions (what it makes up); perplexity and the probe as a choice are left to `knowtune eval`
    (time budget)."""
    plan = make_plan(heldout, knowledge_of_dataset(data_dir), system, EvalOptions())
    plan.perplexity = False
    plan.probe_choice = False
    plan.natural_rag = False
    return plan


def plan_info(plan: EvalPlan, questions_file: Path | str, options: EvalOptions) -> dict:
    return {"questions": f"{questions_file} ({len(plan.heldout)})",
            "system prompt": plan.system or "(the chat template's default)",
            "retrieval": (f"BM25 top-{plan.top_k} over {len(plan.index.passages)} passages" if plan.index
                          else "off"),
            "general probe": f"{len(plan.probes)} questions" if plan.probes else "off",
            "unanswerable": (f"{options.unanswerable or 'bundled Hainan set'} ({len(plan.unanswerable)})"
                             if plan.unanswerable else "off (no set for this knowledge base)"),
            "fact check": f"against {len(plan.grounding)} facts" if plan.grounding else "off",
            "routing": "questions outside the knowledge base answered with the adapter off" if plan.scope else "off",
            "precision": "bf16" if plan.bf16 else "fp32"}


def eval_command_line(run: Path, options: EvalOptions, out: Path) -> str:
    """The `knowtune eval` command that writes this evaluation again: the options that differ from
    the defaults, as flags (shown in the report, so every figure in it says how to reproduce it)."""
    import dataclasses
    import shlex

    from ..config.coerce import cli_flag

    words = ["knowtune", "eval", "--run", str(run)]
    default = EvalOptions()
    for field in dataclasses.fields(EvalOptions):
        value = getattr(options, field.name)
        if field.name == "overwrite" or value == getattr(default, field.name):
            continue
        if isinstance(value, bool):
            words.append(cli_flag(field.name) if value else "--no-" + field.name.replace("_", "-"))
        else:
            words += [cli_flag(field.name), str(value)]
    if out != run / "eval":
        words += ["--out", str(out)]
    return shlex.join(words)


def eval_run(run: Path, options: EvalOptions, out: Path, base_cache: dict | None = None) -> dict:
    opened = Run.open(run)
    check_output(out, "eval", overwrite=options.overwrite)  # before any model loads
    questions_file = options.questions or run / HELDOUT_FILE
    questions = load_questions(questions_file)
    kb = knowledge_of_path(options.kb) if options.kb else knowledge_of_run(run)
    system = opened.system_prompt
    plan = make_plan(questions, kb, system, options)
    run_info = opened.info()
    from ..train.trained import load_run

    loaded, meta = load_run(opened)
    passes = {"model": evaluate_model(loaded.model, loaded.tokenizer, plan, "fine-tuned", progress_bar)}
    if options.base:
        key = (meta["base_model"], json.dumps(plan.heldout), system, options.rag, options.top_k)
        cache = base_cache if base_cache is not None else {}
        if key not in cache:
            cache[key] = _base_passes(loaded, meta, plan)
        passes = {"base": cache[key], **passes}
    del loaded
    gc.collect()
    info = {"run": str(run), "model": meta["base_model"], "method": meta["method"],
            **plan_info(plan, questions_file, options), "command": eval_command_line(run, options, out)}
    results = combine(passes, info)
    losses = run_info.get("train", {}).get("losses")
    doc = build_report(f"knowtune eval: {run.name}", results, passes, losses)
    with atomic_dir(out, kind="eval", overwrite=options.overwrite) as tmp:
        write_answers(tmp, passes)
        write_reports(tmp, results, doc)
    show(results, out)
    report_eval(opened, results, run_info)
    return results


def report_eval(run: Run, results: dict, run_info: dict) -> None:
    """The scores into the experiment trackers the run trained with (`report_to`), at its last step."""
    from ..train.tracking import log_eval_scores

    log_eval_scores(run.path, results, run.config().report_to, step=run_info.get("train", {}).get("steps", 0))


def _base_passes(loaded, meta: dict, plan: EvalPlan) -> dict:
    """The base model on the same plan: the adapter switched off, or the base loaded anew."""
    model = loaded.model
    if has_adapter(model):
        with adapter_off(model):
            return evaluate_model(model, loaded.tokenizer, plan, "base", progress_bar)
    from ..models import load_model

    plain = load_model(meta["base_model"])
    cached = replace(plan, cache_as=model_identity(plain.model))  # the base as loaded: cacheable
    return evaluate_model(plain.model, plain.tokenizer, cached, "base", progress_bar)


def eval_model(model: str, options: EvalOptions, out: Path | None) -> dict:
    if options.questions is None:
        raise KnowtuneError("a base model needs --questions", field="--questions")
    questions = load_questions(options.questions)
    kb = knowledge_of_path(options.kb) if options.kb else None
    plan = make_plan(questions, kb, TrainConfig().system_prompt, options)
    from ..models import load_model

    if out is not None:
        check_output(out, "eval", overwrite=options.overwrite)  # before the model loads
    loaded = load_model(model)
    out = out or Path("eval") / loaded.name
    passes = {"model": evaluate_model(loaded.model, loaded.tokenizer, plan, "model", progress_bar)}
    results = combine(passes, {"model": model, **plan_info(plan, options.questions, options)}, tuned=False)
    doc = build_report(f"knowtune eval: {loaded.name}", results, passes)
    with atomic_dir(out, kind="eval", overwrite=options.overwrite) as tmp:
        write_answers(tmp, passes)
        write_reports(tmp, results, doc)
    show(results, out)
    return results


def show(results: dict, out: Path) -> None:
    """The comparison on the console; the `accuracy:` line last, on stdout, for scripts."""
    table = Table(title="Held-out questions")
    for column in ("system", "accuracy", "token F1", "ROUGE-L", "perplexity", "s/answer"):
        table.add_column(column, justify="left" if column == "system" else "right")
    for name, s in results["knowledge"].items():
        ppl = s.get("perplexity")
        table.add_row(results["labels"][name], acc(s), pct(s["f1"]), pct(s["rougeL"]),
                      "—" if ppl is None else f"{ppl:.2f}", f"{s['seconds_per_answer']:.3f}")
    console.print(table)
    forgetting, hallucination = results["forgetting"], results["hallucination"]
    for who, s in forgetting.items():
        if not who.endswith("drop_points"):
            console.print(f"general probe ({results['labels'].get(who, who)}): {acc_interval(s)}")
    for who, s in results.get("forgetting_choice", {}).items():
        if not who.endswith("drop_points"):
            console.print(f"general probe as a choice ({results['labels'].get(who, who)}, chance "
                          f"{pct(s['chance'])}): {acc_interval(s)}")
    for who, h in hallucination.items():
        console.print(f"unanswerable ({results['labels'].get(who, who)}): {h['asserts']}/{h['total']} "
                      f"confident answers, {h['declines']} declined")
    info = results["info"]
    console.print(f"{info['answers generated']} answers in {info['answering seconds']:.0f} s; "
                  f"report: {out / 'report.html'}")
    if "base" in results:
        print(f"base  {accuracy_line(results['base'])}")
    print(accuracy_line(results["model"]))
