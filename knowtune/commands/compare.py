"""`knowtune eval --runs a,b`: each run evaluated (its own report in RUN/eval), then one comparison."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from ..config import KnowtuneError
from ..config.fsutil import atomic_dir, check_output
from ..config.run import Run
from ..data import HELDOUT_FILE
from ..eval import load_questions
from ..eval.compare_report import build_comparison
from ..eval.results import write_reports
from .evaluate import EvalOptions, eval_run

console = Console()


def parse_runs(runs: str) -> list[Path]:
    paths = [Path(p.strip()) for p in runs.split(",") if p.strip()]
    if len(paths) < 2:
        raise KnowtuneError("give at least two comma-separated run directories", field="--runs")
    if len({p.resolve() for p in paths}) != len(paths):
        raise KnowtuneError("a run is named twice", field="--runs")
    for path in paths:
        Run.open(path, "--runs")
    return paths


def precheck(paths: list[Path], options: EvalOptions) -> None:
    """Every run's config and questions read before the first model loads: a bad run b fails fast."""
    for path in paths:
        Run(path).config()
        load_questions(options.questions or path / HELDOUT_FILE)


def run_names(paths: list[Path]) -> list[str]:
    """Directory names, or whole paths where two runs share a name."""
    names = [p.name for p in paths]
    return names if len(set(names)) == len(names) else [str(p) for p in paths]


def compare_command(runs: str, out: Path | None, options: EvalOptions) -> dict:
    paths = parse_runs(runs)
    precheck(paths, options)
    out = out or paths[0].parent / ("compare-" + "-".join(p.name for p in paths))
    for target, kind in [(out, "comparison"), *((p / "eval", "eval") for p in paths)]:
        check_output(target, kind, overwrite=options.overwrite)  # before the first model loads
    base_cache: dict = {}  # runs of one base model on one question set share its base passes
    results, train_info = {}, {}
    for name, path in zip(run_names(paths), paths):
        console.rule(f"[bold]{name}[/bold]")
        results[name] = eval_run(path, options, path / "eval", base_cache)
        train_info[name] = Run(path).info()
    doc = build_comparison(f"knowtune eval: {', '.join(results)}", results, train_info)
    with atomic_dir(out, kind="comparison", overwrite=options.overwrite) as tmp:
        write_reports(tmp, {"runs": results}, doc)
    console.print(f"comparison: {out / 'report.html'}")
    return {"runs": results}
