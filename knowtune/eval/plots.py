"""The report's charts, as PNG bytes (written beside the Markdown, embedded in the HTML)."""

from __future__ import annotations

import io

COLOURS = ["#9aa5b1", "#4c9be8", "#e8833a", "#3aa65b", "#a66bd3", "#d64550"]
SYSTEM_COLOURS = {"base": COLOURS[0], "base + RAG": COLOURS[1], "fine-tuned": COLOURS[2],
                  "fine-tuned + RAG": COLOURS[3], "model": COLOURS[0], "model + RAG": COLOURS[1]}
"""One colour per system in every chart of a report."""


def colour(name: str, k: int) -> str:
    return SYSTEM_COLOURS.get(name, COLOURS[k % len(COLOURS)])


def _figure(width: float = 6.4, height: float = 3.6):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height), dpi=110)
    return plt, fig, ax


def _png(plt, fig) -> bytes:
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def loss_png(losses: list[list[float]], title: str) -> bytes:
    """Training loss per optimizer step (run.json `train.losses`: [step, loss] pairs)."""
    plt, fig, ax = _figure(6.4, 3.2)
    if losses:
        steps, values = zip(*losses)
        ax.plot(steps, values, marker="o", markersize=3, color=COLOURS[1])
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (answer tokens)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return _png(plt, fig)


def bars_png(values: dict[str, float], title: str, ylabel: str = "held-out accuracy (%)") -> bytes:
    """One bar per system (base, base + RAG, fine-tuned...), labelled with its value."""
    plt, fig, ax = _figure(6.4, 3.4)
    names = list(values)
    bars = ax.bar(names, [values[n] for n in names], color=[colour(n, k) for k, n in enumerate(names)])
    ax.bar_label(bars, fmt="%.1f")
    ax.set_ylim(0, 105)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    return _png(plt, fig)


def grouped_png(groups: dict[str, dict[str, float]], title: str, ylabel: str = "accuracy (%)") -> bytes:
    """Bars grouped by the outer key (a category, a run), one colour per inner key (a system)."""
    plt, fig, ax = _figure(max(6.4, 1.1 * len(groups) + 2), 3.8)
    series = list(dict.fromkeys(s for inner in groups.values() for s in inner))
    width = 0.8 / max(len(series), 1)
    for k, name in enumerate(series):
        xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(groups))]
        bars = ax.bar(xs, [inner.get(name, 0.0) for inner in groups.values()], width, label=name,
                      color=colour(name, k))
        if len(groups) * len(series) <= 12:  # few bars: their values fit above them
            ax.bar_label(bars, fmt="%.0f", fontsize=8)
    ax.set_xticks(range(len(groups)), list(groups), rotation=20 if len(groups) > 4 else 0, ha="right"
                  if len(groups) > 4 else "center")
    ax.set_ylim(0, 122)  # the band above 100 holds the legend, clear of the bars
    ax.set_yticks(range(0, 101, 20))
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8, ncols=min(len(series), 4), loc="upper center", frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return _png(plt, fig)
