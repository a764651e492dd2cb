"""`knowtune compare`: the method bake-off. Every method trained on the same data, model and budget,
each in its own process, then one table (Markdown, JSON, bar chart) of what each cost and learned.

Fair budget: one TrainConfig (epochs, batch, max_len, seed, ...) for all; only the learning rate
differs, each method's own (the model preset's recipe, else the method's DEFAULT_LR) unless the
user sets learning_rate. `--set KEY=V` sets a
training key for every method, `--set METHOD.PARAM=V` one method's parameter.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

from ..config import KnowtuneError, TrainConfig, load_train_config
from ..config.fsutil import atomic_dir, check_output
from ..config.run import Run
from ..data import load_dataset_dir
from ..eval.bakeoff_table import write_table
from ..methods import get_method, method_names
from ..train.recipe import resolve_recipe
from ..train.run import choose_model, prepare_data

console = Console()
WORKER = "knowtune.commands.bakeoff_worker"


def parse_methods(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise KnowtuneError("name at least one method", field="--methods")
    for name in names:
        if name not in method_names():
            raise KnowtuneError(f"unknown method {name!r}; choose from: {', '.join(method_names())}",
                                field="--methods")
    if len(set(names)) != len(names):
        raise KnowtuneError("a method is named twice", field="--methods")
    return names


def split_overrides(overrides: dict, methods: list[str]) -> tuple[dict, dict[str, dict]]:
    """(training keys for all methods, {method: its params}); every key checked before anything runs."""
    shared: dict = {}
    params: dict[str, dict] = {m: {} for m in methods}
    for key, value in overrides.items():
        head, dot, tail = key.partition(".")
        if key == "method" or head == "params":
            raise KnowtuneError(f"{key!r} is set per method here: --methods lists them, "
                                "--set METHOD.PARAM=V sets one method's parameter", field="--set")
        if dot and head in method_names():
            if head not in params:
                raise KnowtuneError(f"method {head!r} is not in --methods", field="--set")
            params[head][tail] = value
        else:
            shared[key] = value
    load_train_config(None, shared)  # unknown keys and bad values: one line, exit 2
    for name, values in params.items():
        get_method(name).parse_params(values)
    return shared, params


def method_config(base: TrainConfig, name: str, params: dict) -> TrainConfig:
    return resolve_recipe(TrainConfig(**{**base.to_dict(), "method": name, "params": params}))


def run_job(kind: str, cfg: TrainConfig, data: Path, out: Path, work: Path, label: str) -> dict:
    """One worker process; its output goes to logs/LABEL.log, its result (or error) comes back."""
    job = {"kind": kind, "config": cfg.to_dict(), "data": str(data), "out": str(out),
           "result": str(work / "logs" / f"{label}.json")}
    job_file = work / "logs" / f"{label}.job.json"
    job_file.write_text(json.dumps(job, indent=2, ensure_ascii=False) + "\n")
    log = work / "logs" / f"{label}.log"
    with open(log, "w") as handle:
        proc = subprocess.run([sys.executable, "-m", WORKER, str(job_file)], stdout=handle,
                              stderr=subprocess.STDOUT)
    result_file = Path(job["result"])
    if result_file.is_file():
        return json.loads(result_file.read_text())
    # killed before it could write (out of memory, a signal): the log's last line is the best reason
    tail = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    reason = f"worker exited with code {proc.returncode}" + (f": {tail[-1].strip()}" if tail else "")
    return {"error": reason}


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else 0


def bakeoff(methods: list[str], base: TrainConfig, params: dict[str, dict],
            data_dir: Path, work: Path) -> dict:
    (work / "logs").mkdir()
    console.print(f"scoring the base model {base.model} on the held-out questions")
    base_result = run_job("base", base, data_dir, work / "base", work, "base")
    rows = []
    for name in methods:
        cfg = method_config(base, name, params[name])
        console.print(f"[bold]{name}[/bold] (lr {cfg.learning_rate:g}) ...")
        start = time.perf_counter()
        result = run_job("method", cfg, data_dir, work / name, work, name)
        row = {"method": name, "lr": cfg.learning_rate, "params": cfg.params, **result,
               "job_seconds": round(time.perf_counter() - start, 1)}
        if "error" in row:
            console.print(f"  [red]failed[/red]: {row['error']}")
        else:
            row["adapter_bytes"] = dir_bytes(Run(work / name).adapter_dir)
            console.print(f"  {row['after']['correct']}/{row['after']['total']} held-out correct, "
                          f"{row['job_seconds']:.0f} s with loading and scoring")
        rows.append(row)
    budget = (f"{base.epochs:g} epoch(s), batch {base.batch_size}x{base.grad_accum}, max_len {base.max_len}, "
              f"seed {base.seed}, precision {base.precision}")
    return {"model": base.model, "data": str(data_dir), "budget": budget, "config": base.to_dict(),
            "base": base_result, "rows": rows}


def compare_methods_command(methods: str, data: str, out: Path, model: str | None, overrides: dict,
                            overwrite: bool = False) -> dict:
    names = parse_methods(methods)
    check_output(out, "bakeoff", overwrite=overwrite)
    shared, params = split_overrides({**overrides, **({"model": model} if model else {})}, names)
    base = load_train_config(None, shared)
    with atomic_dir(out, kind="bakeoff", overwrite=overwrite) as tmp:
        data_dir = prepare_data(data, tmp)  # built once: every method sees the same samples and questions
        samples, heldout = load_dataset_dir(data_dir)
        base = choose_model(base, heldout, model_named="model" in shared)
        # one budget for all: the default method's epochs on this model unless --set epochs=N
        base = dataclasses.replace(base, epochs=resolve_recipe(base, samples).epochs)
        table = bakeoff(names, base, params, data_dir, tmp)
        table["data"] = str(data)
        write_table(tmp, table)
    failed = [r["method"] for r in table["rows"] if r.get("error")]
    console.print(f"table: {out / 'compare.md'} ({len(names) - len(failed)} trained"
                  + (f", failed: {', '.join(failed)})" if failed else ")"))
    return table
