"""The loss-curve PNG of a run."""

from __future__ import annotations

from pathlib import Path


def plot_loss(losses: list[tuple[int, float]], path: str | Path, *, title: str = "training loss") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    if losses:
        steps, values = zip(*losses)
        ax.plot(steps, values, marker="o", markersize=3)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (answer tokens)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
