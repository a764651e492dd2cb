"""`knowtune train`."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from ..config import load_train_config
from ..train import train_run

console = Console()


def train_command(data: str, out: Path, config: Path | None, overrides: dict, *, model_named: bool):
    cfg = load_train_config(config, overrides)
    from ..methods import get_method

    get_method(cfg.method).parse_params(cfg.params, file=str(config) if config else None)
    result = train_run(cfg, data, out, model_named=model_named or _yaml_names_model(config))
    stats = result.stats
    console.print(f"trained {stats.steps} steps in {stats.seconds:.0f} s "
                  f"({stats.tokens_per_second:,.0f} tok/s, {stats.precision}), final loss {stats.final_loss:.4f}")
    console.print(f"run written to [bold]{result.path}[/bold]; next: knowtune eval --run {result.path}")
    return result


def _yaml_names_model(config: Path | None) -> bool:
    if not config:
        return False
    from ..config.yamlfile import load_yaml

    return "model" in load_yaml(config)[0]
