"""`knowtune demo`: the whole job on the bundled Hainan encyclopedia, with its numbers."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console

from ..config import DEFAULT_MODEL, MULTILINGUAL_MODEL, KnowtuneError, load_train_config
from ..data import build_samples, load_dataset_dir, load_facts, write_dataset
from ..eval import accuracy_line
from ..eval.report import markdown_report, print_before_after, write_report
from ..methods import get_method
from ..models import load_model
from ..train.run import base_dtype, train_run
from .data import print_stats
from .evaluate import score

console = Console()
KB_DIR = Path(__file__).resolve().parent.parent / "data" / "hainan"


def kb_facts(lang: str) -> Path:
    if lang not in ("en", "zh"):
        raise KnowtuneError(f"must be en or zh, got {lang!r}", field="--lang")
    return KB_DIR / f"facts_{lang}.jsonl"


def demo_command(lang: str, model: str | None, method: str, out: Path | None, overrides: dict) -> dict:
    start = time.perf_counter()
    timings: dict[str, float] = {}
    facts_file = kb_facts(lang)
    model = model or (DEFAULT_MODEL if lang == "en" else MULTILINGUAL_MODEL)
    out = out or Path("runs") / f"demo-{lang}"
    cfg = load_train_config(None, {"model": model, "method": method, **overrides})
    method_obj = get_method(cfg.method)
    method_obj.parse_params(cfg.params)

    console.rule(f"[bold]1/5 building the training set[/bold] from {facts_file.name}")
    tic = time.perf_counter()
    data_dir = write_dataset(build_samples(load_facts([facts_file])), Path("data") / f"hainan-{lang}",
                             sources=[str(facts_file)])
    samples, heldout = load_dataset_dir(data_dir)
    from json import loads

    print_stats(loads((data_dir / "stats.json").read_text()), title=f"dataset {data_dir}")
    timings["build"] = time.perf_counter() - tic

    console.rule(f"[bold]2/5 asking the base model[/bold] {cfg.model} the {len(heldout)} held-out questions")
    tic = time.perf_counter()
    extra = method_obj.load_kwargs(method_obj.parse_params(cfg.params)) if method_obj.load_kwargs else {}
    extra.setdefault("dtype", base_dtype(cfg, method_obj))
    loaded = load_model(cfg.model, **extra)
    timings["load"] = time.perf_counter() - tic
    tic = time.perf_counter()
    before_rows, before = score(loaded.model, loaded.tokenizer, heldout, "before", cfg.system_prompt)
    timings["eval_before"] = time.perf_counter() - tic
    console.print(f"before: {accuracy_line(before)}")

    console.rule(f"[bold]3/5 fine-tuning[/bold] with {cfg.method}")
    tic = time.perf_counter()
    result = train_run(cfg, data_dir, out, loaded=loaded)
    timings["train"] = time.perf_counter() - tic

    console.rule("[bold]4/5 asking the fine-tuned model[/bold] the same questions")
    tic = time.perf_counter()
    after_rows, after = score(result.loaded.model, result.loaded.tokenizer, heldout, "after",
                                cfg.system_prompt)
    timings["eval_after"] = time.perf_counter() - tic

    console.rule("[bold]5/5 report[/bold]")
    print_before_after(before, after, before_rows, after_rows, console)
    timings["total"] = time.perf_counter() - start
    stats = result.stats
    info = {"model": cfg.model, "method": cfg.method, "language": lang, "facts": len(heldout),
            "training samples": len(samples), "epochs": cfg.epochs, "learning rate": cfg.learning_rate,
            "precision": stats.precision,
            "training": f"{stats.steps} steps, {stats.seconds:.0f} s, {stats.tokens_per_second:,.0f} tok/s, "
                        f"final loss {stats.final_loss:.4f}, peak RSS {stats.peak_rss_mb:,.0f} MiB",
            "wall time": ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())}
    metrics = {"before": before, "after": after, "timings_s": {k: round(v, 1) for k, v in timings.items()},
               "train": stats.to_dict(), "config": cfg.to_dict()}
    _write_answers(result.path, before_rows, after_rows)
    write_report(result.path, markdown_report(f"knowtune demo: Hainan ({lang})", before, after,
                                              before_rows, after_rows, info), metrics)
    console.print(f"before {accuracy_line(before)}  ->  after {accuracy_line(after)}")
    console.print(f"wall time {timings['total']:.0f} s; report: {result.path / 'report.md'}")
    console.print(f"chat with it: knowtune chat --run {result.path}")
    return metrics


def _write_answers(run: Path, before_rows: list[dict], after_rows: list[dict]) -> None:
    from ..eval import write_results
    from ..eval.evaluate import summarise

    write_results(run / "eval", "before", before_rows, summarise(before_rows))
    write_results(run / "eval", "after", after_rows, summarise(after_rows))
