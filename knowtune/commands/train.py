"""`knowtune train`."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from ..config import load_train_config
from ..train import train_run

console = Console()


def train_command(data: str, out: Path, config: Path | None, overrides: dict, *, model_named: bool,
                  resume: bool = False, overwrite: bool = False):
    cfg = load_train_config(config, overrides)
    from ..config.yamlfile import load_yaml
    from ..methods import get_method

    method = get_method(cfg.method)
    yaml_keys, lines = load_yaml(config) if config else ({}, {})
    if config:  # the file's own params first, so their errors name its lines
        method.parse_params(yaml_keys.get("params") or {}, file=str(config), lines=lines)
    method.parse_params(cfg.params)
    result = train_run(cfg, data, out, model_named=model_named or "model" in yaml_keys, resume=resume,
                       overwrite=overwrite)
    stats = result.stats
    if not result.is_main_process:
        return result
    if stats.resumed_from:
        console.print(f"resumed from the checkpoint of step {stats.resumed_from}")
    console.print(f"trained {stats.steps} steps ({stats.epochs:.1f} epochs; each fact seen ~{stats.exposures:.0f} "
                  f"times) in {stats.seconds:.0f} s "
                  f"({stats.tokens_per_second:,.0f} tok/s, {stats.precision}), final loss {stats.final_loss:.4f}")
    console.print(f"run written to [bold]{result.path}[/bold]; next: knowtune eval --run {result.path}")
    return result
