"""The before/after table of the demo on the console (rich); files are full_report.py's."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def _pct(summary: dict) -> str:
    return f"{100 * summary['accuracy']:.1f}% ({summary['correct']}/{summary['total']})"


def examples(before: list[dict], after: list[dict], n: int = 6) -> list[tuple[str, str, str, bool, bool]]:
    """Questions the training changed first (wrong -> right), then others, for show."""
    pairs = list(zip(before, after))
    pairs.sort(key=lambda p: (not (not p[0]["correct"] and p[1]["correct"]),))
    return [(b["question"], b["reply"], a["reply"], b["correct"], a["correct"]) for b, a in pairs[:n]]


def print_before_after(before_sum: dict, after_sum: dict, before: list[dict], after: list[dict],
                       console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title="Held-out accuracy (questions never seen in training)")
    table.add_column("category")
    table.add_column("before", justify="right")
    table.add_column("after", justify="right")
    for cat, b in before_sum["by_category"].items():
        a = after_sum["by_category"].get(cat, {"accuracy": 0, "correct": 0, "total": 0})
        table.add_row(cat, _pct(b), _pct(a))
    table.add_row("[bold]all[/bold]", f"[bold]{_pct(before_sum)}[/bold]", f"[bold]{_pct(after_sum)}[/bold]")
    console.print(table)
    ex = Table(title="Example answers", show_lines=True)
    ex.add_column("question", max_width=34)
    ex.add_column("before", max_width=40)
    ex.add_column("after", max_width=40)
    for q, b, a, bc, ac in examples(before, after):
        ex.add_row(q, ("✓ " if bc else "✗ ") + b, ("✓ " if ac else "✗ ") + a)
    console.print(ex)
