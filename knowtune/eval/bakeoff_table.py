"""The bake-off table of `knowtune compare`: one row per method, as Markdown, JSON and a bar chart."""

from __future__ import annotations

import io
import json
from pathlib import Path

COLOURS = ["#9aa5b1", "#4c9be8", "#e8833a", "#3aa65b"]  # base line, then one per panel

COLUMNS = ["method", "lr", "trainable", "trainable %", "train s", "job s", "tok/s", "peak RSS MB", "final loss",
           "before", "after", "adapter"]


def human_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _pct(summary: dict | None) -> str:
    if not summary:
        return "—"
    return f"{100 * summary['accuracy']:.1f}% ({summary['correct']}/{summary['total']})"


def markdown_row(row: dict, before: dict | None) -> list[str]:
    if row.get("error"):
        reason = row["error"].replace("|", "\\|")  # a pipe would end the Markdown cell
        return [row["method"], f"{row['lr']:g}"] + ["—"] * (len(COLUMNS) - 3) + [f"failed: {reason}"]
    share = 100 * row["trainable"] / row["total_params"] if row["total_params"] else 0.0
    return [row["method"], f"{row['lr']:g}", f"{row['trainable']:,}", f"{share:.3f}%", f"{row['seconds']:.1f}",
            f"{row['job_seconds']:.0f}", f"{row['tokens_per_second']:,.0f}", f"{row['peak_rss_mb']:,.0f}", f"{row['final_loss']:.4f}",
            _pct(before), _pct(row["after"]), human_bytes(row["adapter_bytes"])]


def to_markdown(table: dict) -> str:
    before = table["base"].get("before")
    lines = [f"# Bake-off: {table['model']}", "",
             f"Data: `{table['data']}`; {table['budget']}. Held-out accuracy before is the base model's "
             "(one score for all methods); train s is the training loop's wall time, job s the whole process's (loading, "
             "training, saving, scoring); peak RSS is the training process's (each method in its own process).",
             ""]
    if table["base"].get("error"):
        lines += [f"Base model score failed: {table['base']['error']}", ""]
    lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(markdown_row(row, before)) + " |" for row in table["rows"]]
    return "\n".join(lines) + "\n"


def chart_png(table: dict) -> bytes:
    """Held-out accuracy after training, wall time and peak RSS per method (failed methods left out)."""
    rows = [r for r in table["rows"] if not r.get("error")]
    names = [r["method"] for r in rows]
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(max(6.4, 0.9 * len(rows) + 3), 7.2), dpi=110)
    panels = [("held-out accuracy after (%)", [100 * r["after"]["accuracy"] for r in rows]),
              ("training wall time (s)", [r["seconds"] for r in rows]),
              ("peak RSS (MB)", [r["peak_rss_mb"] for r in rows])]
    before = table["base"].get("before")
    for i, (title, values) in enumerate(panels):
        ax = fig.add_subplot(len(panels), 1, i + 1)
        ax.bar(names, values, color=COLOURS[i + 1])
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=8)
        if i == 0:
            ax.set_ylim(0, 100)
        if i == 0 and before:
            ax.axhline(100 * before["accuracy"], color=COLOURS[0], linestyle="--", label="base model")
            ax.legend(fontsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def write_table(out: Path, table: dict) -> None:
    (out / "compare.json").write_text(json.dumps(table, indent=2, ensure_ascii=False) + "\n")
    (out / "compare.md").write_text(to_markdown(table), encoding="utf-8")
    (out / "compare.png").write_bytes(chart_png(table))
