"""The one inference engine behind chat, the API and the web UI.

It loads a base model or a run (base + trained method), renders the chat template,
and generates greedily or by sampling, streaming or not. A lock serialises model
calls: concurrent callers queue instead of interleaving inside one model.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from ..models import LoadedModel, generate_batch, render_prompt, stream_generate


@dataclass
class Engine:
    loaded: LoadedModel
    name: str
    bf16: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_run(cls, run_dir: str | Path, **load) -> "Engine":
        from ..methods import load_trained
        from ..train.hardware import fast_bf16_available

        run_dir = Path(run_dir)
        loaded, _meta = load_trained(run_dir / "adapter", **load)
        return cls(loaded=loaded, name=run_dir.name, bf16=fast_bf16_available())

    @classmethod
    def from_model(cls, spec: str, **load) -> "Engine":
        from ..models import load_model
        from ..train.hardware import fast_bf16_available

        loaded = load_model(spec, **load)
        loaded.model.eval()
        return cls(loaded=loaded, name=loaded.name, bf16=fast_bf16_available())

    @property
    def tokenizer(self):
        return self.loaded.tokenizer

    def prompt(self, messages: list[dict]) -> str:
        return render_prompt(self.tokenizer, messages)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def stream(self, messages: list[dict], *, max_new_tokens: int = 256, temperature: float = 0.0,
               top_p: float = 1.0, seed: int | None = None) -> Iterator[str]:
        with self.lock:
            yield from stream_generate(self.loaded.model, self.tokenizer, self.prompt(messages),
                                       max_new_tokens=max_new_tokens, bf16=self.bf16,
                                       temperature=temperature, top_p=top_p, seed=seed)

    def complete(self, prompts: list[str], *, max_new_tokens: int = 256, temperature: float = 0.0,
                 top_p: float = 1.0) -> list[str]:
        """Replies to already-rendered prompts, batched."""
        with self.lock:
            return generate_batch(self.loaded.model, self.tokenizer, prompts, max_new_tokens=max_new_tokens,
                                  bf16=self.bf16, temperature=temperature, top_p=top_p)

    def chat(self, messages: list[dict], **kwargs) -> str:
        return self.complete([self.prompt(messages)], **kwargs)[0]
