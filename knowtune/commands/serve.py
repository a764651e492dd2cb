"""`knowtune serve`: the OpenAI-compatible API over a run or a base model."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from ..config.run import Run

console = Console(stderr=True)


def serve_command(run: Path | None, model: str | None, settings) -> None:
    import uvicorn

    from ..serve.api import create_app
    from ..serve.engine import Engine, check_source

    check_source(run, model, settings.rag)
    if run is not None:
        run = Run.open(run)
    if not settings.loopback_only and settings.api_key is None:  # only with --insecure
        console.print(f"[yellow]warning: serving on {settings.host} without an API key (--insecure): anyone "
                      f"who can reach this port can use the model[/yellow]")
    if settings.threads is not None:
        import torch

        torch.set_num_threads(settings.threads)
    engine = Engine.from_run(run, route=settings.route, rag=settings.rag) if run is not None \
        else Engine.from_model(model)
    engine.hedge_below = settings.hedge_below
    if not settings.fact_check:
        engine.grounding = None
    app = create_app(engine, settings)
    console.print(f"serving [bold]{engine.name}[/bold] at http://{settings.host}:{settings.port}/v1 "
                  f"(queue {settings.max_queue}, max_tokens {settings.max_tokens}"
                  f"{', API key required' if settings.api_key else ''})")
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")
