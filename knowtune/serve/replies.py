"""OpenAI's reply shapes: whole completions, stream chunks, usage, and the SSE framing."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field

from ..models import GenerationStats


def usage(stats: GenerationStats) -> dict:
    return {"prompt_tokens": stats.prompt_tokens, "completion_tokens": stats.completion_tokens,
            "total_tokens": stats.prompt_tokens + stats.completion_tokens}


def finish_reason(stats: GenerationStats) -> str:
    return stats.finish_reason or "stop"


def sse(payload: dict | str) -> str:
    """One server-sent event; OpenAI streams end with the literal `data: [DONE]`."""
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {data}\n\n"


@dataclass
class Reply:
    """Identity shared by a reply and all its stream chunks."""

    model: str
    chat: bool
    id: str = field(default="")
    created: int = field(default_factory=lambda: int(time.time()))

    def __post_init__(self):
        if not self.id:
            self.id = ("chatcmpl-" if self.chat else "cmpl-") + uuid.uuid4().hex

    def _head(self, kind: str) -> dict:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}

    def whole(self, text: str, stats: GenerationStats) -> dict:
        if self.chat:
            choice = {"index": 0, "message": {"role": "assistant", "content": text},
                      "finish_reason": finish_reason(stats), "logprobs": None}
            kind = "chat.completion"
        else:
            choice = {"index": 0, "text": text, "finish_reason": finish_reason(stats), "logprobs": None}
            kind = "text_completion"
        return {**self._head(kind), "choices": [choice], "usage": usage(stats)}

    def chunk(self, text: str | None = None, *, finish: str | None = None, first: bool = False) -> dict:
        if self.chat:
            delta = {"role": "assistant", "content": ""} if first else ({"content": text} if text else {})
            choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
            return {**self._head("chat.completion.chunk"), "choices": [choice]}
        choice = {"index": 0, "text": text or "", "finish_reason": finish, "logprobs": None}
        return {**self._head("text_completion"), "choices": [choice]}

    def usage_chunk(self, stats: GenerationStats) -> dict:
        """Sent last when the request asked for `stream_options.include_usage`."""
        kind = "chat.completion.chunk" if self.chat else "text_completion"
        return {**self._head(kind), "choices": [], "usage": usage(stats)}
