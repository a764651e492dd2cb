"""`knowtune webui`: a Gradio app over the CLI (Data, Train, Evaluate, Chat tabs).

Training and evaluation run the same `knowtune` commands in a subprocess and show them;
chat streams from the same Engine as `knowtune chat` and the API.
"""

from __future__ import annotations

import os
from pathlib import Path

from .access import app_kwargs, login_checker
from .chat_tab import EngineCache, build_chat_tab
from .data_tab import build_data_tab
from .eval_tab import build_eval_tab
from .jobs import JobSlot
from .train_tab import build_train_tab
from .workspace import Workspace


def build_app(root: Path):
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home: this machine is offline
    import gradio as gr

    workspace = Workspace(Path(root).resolve())
    slot = JobSlot()  # one training or evaluation at a time
    with gr.Blocks(title="knowtune") as app:
        gr.Markdown("# knowtune\nTeach a small model your knowledge base, and prove it learned.")
        with gr.Tab("Data"):
            build_data_tab(gr, workspace)
        with gr.Tab("Train"):
            build_train_tab(gr, workspace, slot)
        with gr.Tab("Evaluate"):
            build_eval_tab(gr, workspace, slot)
        with gr.Tab("Chat"):
            build_chat_tab(gr, workspace, EngineCache())
    return app


def launch(root: Path, host: str = "127.0.0.1", port: int = 7860, login: tuple[str, str] | None = None) -> None:
    app = build_app(root)
    app.queue(default_concurrency_limit=1).launch(server_name=host, server_port=port, share=False,
                                                 show_error=True, inbrowser=False,
                                                 auth=login_checker(login) if login else None,
                                                 app_kwargs=app_kwargs(host, login))
