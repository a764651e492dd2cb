"""`knowtune data build`."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from ..data import build_samples, count_tokens, load_facts, write_dataset

console = Console()


def print_stats(stats: dict, title: str = "dataset") -> None:
    table = Table(title=title, show_header=False)
    for key, value in stats.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in value.items())
        elif isinstance(value, list):
            value = ", ".join(map(str, value))
        table.add_row(key.replace("_", " "), str(value))
    console.print(table)


def build_command(files: list[Path], out: Path, *, model: str | None, seed: int) -> Path:
    facts = load_facts(files)
    built = build_samples(facts, seed=seed)
    if model:
        from ..models import load_tokenizer, resolve_model_dir

        tokenizer = load_tokenizer(resolve_model_dir(model)[0])
        count_tokens(built, lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"]))
    path = write_dataset(built, out, sources=[str(f) for f in files])
    print_stats(built.stats, title=f"built {path}")
    return path
