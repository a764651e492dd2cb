"""The Chat tab: streaming replies from a run's fine-tuned model (or a base model), through the
same Engine as `knowtune chat` and the API."""

from __future__ import annotations

import threading

from ...config import DEFAULT_MODEL
from ...config.run import Run
from ..engine import Engine
from .workspace import Workspace


class EngineCache:
    """One loaded model at a time: switching runs frees the previous one."""

    def __init__(self) -> None:
        self.key: str | None = None
        self.engine: Engine | None = None
        self._lock = threading.Lock()

    def get(self, source: str) -> Engine:
        with self._lock:
            if source != self.key:
                self.engine = None  # drop the old weights before loading the new ones
                self.engine = Engine.from_run(Run(source)) if Run.is_run(source) else Engine.from_model(source)
                self.key = source
            return self.engine


EMPTY_REPLY = "(no reply: the model ended its turn without any text)"


def history_messages(history: list) -> list[dict]:
    """Gradio's message history -> plain {role, content} chat messages."""
    messages = []
    for item in history or []:
        role, content = (item.get("role"), item.get("content")) if isinstance(item, dict) else item
        if isinstance(content, str) and role in ("user", "assistant"):
            content = "" if content == EMPTY_REPLY else content  # the tab's note, not the model's words
            messages.append({"role": role, "content": content})
    return messages


def build_chat_tab(gr, workspace: Workspace, engines: EngineCache):
    with gr.Row():
        source = gr.Dropdown(label="model", choices=workspace.runs() + [DEFAULT_MODEL], allow_custom_value=True,
                             value=(workspace.runs() or [DEFAULT_MODEL])[0], elem_id="chat-source",
                             info="A run (its fine-tuned model) or a base model preset / folder.")
        refresh = gr.Button("Refresh runs", elem_id="chat-refresh")
        max_tokens = gr.Slider(8, 512, value=128, step=8, label="max new tokens")
        temperature = gr.Slider(0.0, 1.5, value=0.0, step=0.05, label="temperature (0: greedy)")
    chatbot = gr.Chatbot(label="chat", elem_id="chatbot", height=360)
    message = gr.Textbox(label="message", placeholder="Ask something and press Enter", elem_id="chat-input")
    clear = gr.Button("Clear")

    refresh.click(lambda: gr.update(choices=workspace.runs() + [DEFAULT_MODEL]), None, source)

    def respond(text, history, source_value, max_tokens_value, temperature_value):
        if not text.strip():
            yield "", history
            return
        if not source_value:
            raise gr.Error("choose a run or a model")
        engine = engines.get(source_value)
        history = list(history or []) + [{"role": "user", "content": text},
                                         {"role": "assistant", "content": ""}]
        yield "", history  # the question shows at once, whatever the model does
        reply = ""
        for piece in engine.stream(history_messages(history[:-1]), max_new_tokens=int(max_tokens_value),
                                   temperature=float(temperature_value)):
            reply += piece
            history[-1] = {"role": "assistant", "content": reply}
            yield "", history
        if not reply.strip():  # said, rather than a silently missing reply
            history[-1] = {"role": "assistant", "content": EMPTY_REPLY}
            yield "", history

    message.submit(respond, [message, chatbot, source, max_tokens, temperature], [message, chatbot])
    clear.click(lambda: [], None, chatbot)
    return source
