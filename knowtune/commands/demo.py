"""`knowtune demo`: the whole job on the bundled Hainan encyclopedia, with its numbers."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from rich.console import Console

from ..config import DEFAULT_MODEL, MULTILINGUAL_MODEL, KnowtuneError, load_train_config
from ..config.fsutil import check_output, write_marker
from ..config.run import RUN_KIND
from ..data import build_samples, load_dataset_dir, load_facts, write_dataset
from ..data.augment.retrieval import DEFAULT_SHARE, check_share
from ..data.heldout import load_heldout_questions
from ..eval import accuracy_line
from ..eval.full_report import acc, build_report, pct_interval
from ..eval.report import print_before_after
from ..eval.results import combine, write_answers, write_reports
from ..eval.suite import evaluate_model
from ..methods import get_method
from ..models import load_model
from ..models.answer_cache import model_identity
from ..train.recipe import resolve_recipe
from ..train.run import base_dtype, train_run
from .data import print_stats
from .evaluate import demo_plan, progress_bar

console = Console()
KB_DIR = Path(__file__).resolve().parent.parent / "data" / "hainan"


def kb_facts(lang: str) -> Path:
    if lang not in ("en", "zh"):
        raise KnowtuneError(f"must be en or zh, got {lang!r}", field="--lang")
    return KB_DIR / f"facts_{lang}.jsonl"


def natural_questions(lang: str) -> list[dict]:
    """The bundled hand-written natural questions (dev and test halves): held out of training."""
    path = KB_DIR / f"natural_{lang}.jsonl"
    return load_heldout_questions(path) if path.is_file() else []


def demo_command_line(lang: str, model: str | None, method: str, out: Path | None, overrides: dict,
                      retrieval: float | str | None) -> str:
    """The `knowtune demo` command that runs this demo again (shown in its report)."""
    import shlex

    words = ["knowtune", "demo", "--lang", lang]
    words += ["--model", model] if model else []
    words += ["--method", method] if method != "lora" else []
    words += ["--out", str(out)] if out else []
    words += ["--retrieval", str(retrieval)] if retrieval is not None else []
    for key, value in overrides.items():
        words += ["--set", f"{key}={value}"]
    return shlex.join(words)


def demo_command(lang: str, model: str | None, method: str, out: Path | None, overrides: dict,
                 overwrite: bool = False, retrieval: float | str | None = None) -> dict:
    start = time.perf_counter()
    command = demo_command_line(lang, model, method, out, overrides, retrieval)
    timings: dict[str, float] = {}
    facts_file = kb_facts(lang)
    share = DEFAULT_SHARE if retrieval is None else check_share(retrieval)
    model = model or (DEFAULT_MODEL if lang == "en" else MULTILINGUAL_MODEL)
    out = out or Path("runs") / f"demo-{lang}"
    data_out = Path("data") / f"hainan-{lang}"
    # an earlier demo's run and data set are replaced; anything else needs --overwrite, checked up front
    check_output(out, RUN_KIND, overwrite=overwrite)
    check_output(data_out, "dataset", overwrite=overwrite, field="data")
    cfg = resolve_recipe(load_train_config(None, {"model": model, "method": method, **overrides}))
    method_obj = get_method(cfg.method)
    method_obj.parse_params(cfg.params)

    console.rule(f"[bold]1/5 building the training set[/bold] from {facts_file.name}")
    tic = time.perf_counter()
    data_dir = write_dataset(build_samples(load_facts([facts_file]), natural=natural_questions(lang),
                                           retrieval=share), data_out, sources=[str(facts_file)], overwrite=overwrite)
    samples, heldout = load_dataset_dir(data_dir)
    from json import loads

    print_stats(loads((data_dir / "stats.json").read_text()), title=f"dataset {data_dir}")
    timings["build"] = time.perf_counter() - tic

    console.rule(f"[bold]2/5 asking the base model[/bold] {cfg.model} the {len(heldout)} held-out questions "
                 "(bare and with retrieved passages), the general-knowledge probe and unanswerable questions")
    plan = demo_plan(heldout, data_dir, cfg.system_prompt)
    tic = time.perf_counter()
    extra = method_obj.load_kwargs(method_obj.parse_params(cfg.params)) if method_obj.load_kwargs else {}
    extra.setdefault("dtype", base_dtype(cfg, method_obj))
    loaded = load_model(cfg.model, **extra)
    timings["load"] = time.perf_counter() - tic
    tic = time.perf_counter()
    # the base model as loaded answers as it did on an earlier demo: its answers come from the cache
    base_identity = model_identity(loaded.model)
    base_plan = dataclasses.replace(plan, cache_as=base_identity)
    passes = {"base": evaluate_model(loaded.model, loaded.tokenizer, base_plan, "before", progress_bar)}
    before_rows, before = passes["base"]["heldout"].rows, passes["base"]["heldout"].summary
    timings["eval_before"] = time.perf_counter() - tic
    console.print(f"before: {accuracy_line(before)}; with retrieval (RAG): {acc(passes['base']['rag'].summary)}")
    if "natural" in passes["base"]:
        console.print(f"natural questions before: {acc(passes['base']['natural'].summary)}")

    console.rule(f"[bold]3/5 fine-tuning[/bold] with {cfg.method}")
    tic = time.perf_counter()
    result = train_run(cfg, data_dir, out, loaded=loaded, overwrite=overwrite, replace_same_kind=True)
    timings["train"] = time.perf_counter() - tic

    console.rule("[bold]4/5 asking the fine-tuned model[/bold] the same questions")
    tic = time.perf_counter()
    # fine-tuned + RAG is left to `knowtune eval`: the demo keeps to its time budget
    # the questions routed to the base model (outside the knowledge base) were asked of it before
    passes["model"] = evaluate_model(result.loaded.model, result.loaded.tokenizer,
                                     dataclasses.replace(plan, index=None, base_cache_as=base_identity),
                                     "after", progress_bar)
    after_rows, after = passes["model"]["heldout"].rows, passes["model"]["heldout"].summary
    timings["eval_after"] = time.perf_counter() - tic

    console.rule("[bold]5/5 report[/bold]")
    print_before_after(before, after, before_rows, after_rows, console)
    timings["total"] = time.perf_counter() - start
    stats = result.stats
    info = {"model": cfg.model, "method": cfg.method, "language": lang, "facts": len(plan.heldout),
            "training samples": len(samples), "epochs": round(stats.epochs, 2), "learning rate": cfg.learning_rate,
            "precision": stats.precision,
            "training": f"{stats.steps} steps ({stats.epochs:.1f} epochs, each fact seen ~{stats.exposures:.0f} "
                        f"times), {stats.seconds:.0f} s, {stats.tokens_per_second:,.0f} tok/s, "
                        f"final loss {stats.final_loss:.4f}, peak RSS {stats.peak_rss_mb:,.0f} MiB",
            "wall time": ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()), "command": command}
    results = combine(passes, info)
    metrics = {"before": before, "after": after, "timings_s": {k: round(v, 1) for k, v in timings.items()},
               "train": stats.to_dict(), "config": cfg.to_dict(), **results}
    write_answers(result.path / "eval", passes)
    write_marker(result.path / "eval", "eval")  # so that `knowtune eval --run` may replace it
    write_reports(result.path, metrics, build_report(f"knowtune demo: Hainan ({lang})", results, passes,
                                                     stats.losses))
    probe = results["forgetting"]
    # with its 95 % interval: on a few hundred questions a few points either way may be chance
    console.print(f"general-knowledge probe: {pct_interval(probe['base'])} -> {pct_interval(probe['model'])}"
                  + (f" (questions outside the knowledge base answered by the base model; the adapter on for "
                     f"every question: {pct_interval(probe['model_alone'])})" if "model_alone" in probe else ""))
    made_up = results["hallucination"]
    if made_up:  # declined or hedged is right: these answers are not in the knowledge base
        console.print("unanswerable questions answered with an invention: "
                      + " -> ".join(f"{made_up[w]['asserts']}/{made_up[w]['total']}" for w in ("base", "model")
                                    if w in made_up))
    console.print(f"template held-out: before {accuracy_line(before)}  ->  after {accuracy_line(after)}")
    if "natural" in results:
        nat = results["natural"]
        halves = ", ".join(f"{h} {acc(nat['model']['by_split'][h])}" for h in nat["model"]["by_split"])
        console.print(f"natural questions: before {acc(nat['base'])}  ->  after {acc(nat['model'])} ({halves})")
    console.print(f"wall time {timings['total']:.0f} s; report: {result.path / 'report.html'}")
    console.print(f"chat with it: knowtune chat --run {result.path}; "
                  f"fine-tuned + RAG and perplexity: knowtune eval --run {result.path}")
    return metrics
