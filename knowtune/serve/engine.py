"""The one inference engine behind chat, the API and the web UI.

It loads a base model or a run (base + trained method), renders the chat template,
and generates greedily or by sampling, streaming or not. A lock serialises model
calls: concurrent callers queue instead of interleaving inside one model.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ContextManager, Iterator

from ..config import RETRIEVE_BELOW, KnowtuneError
from ..config.run import Run
from ..data import KNOWLEDGE_FILE, ChatPrompt
from ..data.facts import knowledge_facts
from ..data.grounding import Grounding
from ..data.hedge import HEDGE_BELOW, note_for
from ..data.retrieval import TOP_K, PassageIndex, build_index, rag_prompt, retrieve, sure_without_passages
from ..data.scope import KnowledgeScope
from ..models import GenerationStats, LoadedModel, generate_batch, stream_generate
from ..models.merged import base_switch, merged_for_good
from ..models.turn_stops import turn_stops
from .stop_text import StopText


@dataclass(frozen=True)
class Sampling:
    """How to decode one reply: greedy when temperature is 0; `stop` strings end it early."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()


def check_source(run, model, rag: bool) -> None:
    """chat's and serve's choice of what answers: a run or a base model, exactly one; retrieval
    (`--rag`) only from a run's knowledge base."""
    if (run is None) == (model is None):
        raise KnowtuneError("give exactly one of --run or --model", field="--run")
    if rag and run is None:
        raise KnowtuneError("retrieval needs a run's knowledge base: use --run", field="--rag")


@dataclass
class Engine:
    loaded: LoadedModel
    name: str
    bf16: bool = False
    system_prompt: str = ""
    """The run's system message, put before chats that bring none (as in training)."""
    hedge_below: float = HEDGE_BELOW
    """A greedy chat reply less sure than this ends with a hedge note (data.hedge); 0: never."""
    grounding: Grounding | None = None
    """A run's knowledge base: a reply about it that none of its facts grounds ends with a note
    saying so (data.grounding); None (a base model, or fact checking off): no such note."""
    scope: KnowledgeScope | None = None
    """A run's knowledge base, for a model with an adapter: a chat question outside it is answered
    with the adapter off, by the base model, which forgot nothing (data.scope); None: no routing."""
    base_weights: Callable[[], ContextManager] | None = field(default=None, repr=False)
    """A context in which the model answers as its base (models.merged.base_switch), with `scope`."""
    index: PassageIndex | None = None
    """A run's knowledge base as passages (data.retrieval), to answer as eval's fine-tuned + RAG row
    does: a greedy reply less sure than `retrieve_below`, or that no fact grounds, is asked again
    with the top passages before the question (a sampled reply, whose sureness is not measured,
    always is); None: no retrieval."""
    retrieve_below: float = RETRIEVE_BELOW
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_run(cls, run: Run | str | Path, *, route: bool = True, rag: bool = False, **load) -> "Engine":
        from ..config.hardware import fast_bf16_available
        from ..eval.sources import knowledge_of_run
        from ..train.trained import load_run

        run = run if isinstance(run, Run) else Run.open(run)
        system_prompt = run.system_prompt  # a broken config.yaml fails before the weights load
        knowledge = run.path / KNOWLEDGE_FILE
        facts = knowledge_facts(knowledge) if knowledge.is_file() else []
        passages = knowledge_of_run(run.path).passages if rag else []
        if rag and not passages:
            raise KnowtuneError("the run has no knowledge base to retrieve from", file=str(knowledge), field="--rag")
        loaded, _meta = load_run(run, **load)
        # serving only answers: merge once, not per request (with routing, the base weights kept beside)
        loaded.model, base_weights = base_switch(loaded.model) if route and facts else (merged_for_good(loaded.model), None)
        return cls(loaded=loaded, name=run.name, bf16=fast_bf16_available(), system_prompt=system_prompt,
                   grounding=Grounding(facts) if facts else None,
                   scope=KnowledgeScope(facts) if base_weights is not None else None, base_weights=base_weights,
                   index=build_index(passages) if passages else None)

    @classmethod
    def from_model(cls, spec: str, **load) -> "Engine":
        from ..config import TrainConfig
        from ..models import load_model
        from ..config.hardware import fast_bf16_available

        loaded = load_model(spec, **load)
        loaded.model.eval()
        # the same default system prompt as a run: a base model is asked as the "before" score asks it
        return cls(loaded=loaded, name=loaded.name, bf16=fast_bf16_available(),
                   system_prompt=TrainConfig().system_prompt)

    @property
    def tokenizer(self):
        return self.loaded.tokenizer

    def prompt(self, messages: list[dict]) -> str:
        """The text the model is asked: rendered as training rendered its samples (data.prompt)."""
        return ChatPrompt(self.tokenizer, self.system_prompt).render(messages)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    @property
    def context_length(self) -> int | None:
        """Most tokens (prompt + reply) the model's positions allow, when its config says."""
        return getattr(self.loaded.model.config, "max_position_embeddings", None)

    def stream(self, messages: list[dict], *, max_new_tokens: int = 256, temperature: float = 0.0,
               top_p: float = 1.0, seed: int | None = None, stop: tuple[str, ...] = (),
               stats: GenerationStats | None = None) -> Iterator[str]:
        """The assistant's reply to a conversation, piece by piece (leading blanks dropped); a reply
        about the knowledge base that none of its facts grounds ends with the grounding note, else a
        greedy reply the model was unsure of ends with the hedge note."""
        # a chat reply also ends where the model starts a turn of its own (a plain completion does not)
        sampling = Sampling(max_new_tokens, temperature, top_p, seed,
                            tuple(stop) + turn_stops(self.tokenizer, self.prompt(messages)))
        stats = stats if stats is not None else GenerationStats()
        asked = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), None)
        said = []
        for piece in self._reply(messages, asked, sampling, stats):
            if not said:
                piece = piece.lstrip()
            if piece:
                said.append(piece)
                yield piece
        reply = "".join(said)
        ungrounded = self.grounding is not None and isinstance(asked, str) and self.grounding.ungrounded(asked, reply)
        note = note_for(reply, stats.confidence, self.hedge_below, ungrounded=ungrounded)
        if note:
            yield note

    def _reply(self, messages: list[dict], asked, sampling: Sampling, stats: GenerationStats) -> Iterator[str]:
        """The reply's pieces: closed-book, or, with an index, asked again with retrieved passages
        where the closed-book reply was unsure or ungrounded (`stats` then counts both passes)."""
        base = self.outside(asked)
        if self.index is None or not isinstance(asked, str):
            yield from self.stream_text(self.prompt(messages), sampling, stats, base=base)
            return
        closed = GenerationStats()
        if sampling.temperature == 0:
            text = "".join(self.stream_text(self.prompt(messages), sampling, closed, base=base))
            ungrounded = self.grounding is not None and self.grounding.ungrounded(asked, text.strip())
            if sure_without_passages(closed.confidence, ungrounded, self.retrieve_below):
                for name in ("prompt_tokens", "completion_tokens", "finish_reason", "confidence"):
                    setattr(stats, name, getattr(closed, name))
                yield text
                return
        last = max(i for i, m in enumerate(messages) if m.get("role") == "user")
        passages = retrieve(self.index, asked, TOP_K)
        with_passages = [*messages[:last], {**messages[last], "content": rag_prompt(asked, passages)},
                         *messages[last + 1:]]
        yield from self.stream_text(self.prompt(with_passages), sampling, stats, base=base)
        stats.prompt_tokens += closed.prompt_tokens
        stats.completion_tokens += closed.completion_tokens

    def outside(self, question) -> bool:
        """Whether routing sends this question (the last user message) to the base model."""
        return self.scope is not None and isinstance(question, str) and not self.scope.about(question)

    def stream_text(self, prompt: str, sampling: Sampling, stats: GenerationStats | None = None, *,
                    base: bool = False) -> Iterator[str]:
        """The continuation of an already-rendered prompt, cut before the first stop string; by the
        base model when `base` (and the engine routes).

        `stats` gets the token counts and finish reason ("stop" or "length") when the stream ends.
        """
        stats = stats if stats is not None else GenerationStats()
        cut = StopText(sampling.stop)
        stopped = False
        weights = self.base_weights() if base and self.base_weights is not None else contextlib.nullcontext()
        with self.lock, weights:
            pieces = stream_generate(self.loaded.model, self.tokenizer, prompt,
                                     max_new_tokens=sampling.max_new_tokens, bf16=self.bf16,
                                     temperature=sampling.temperature, top_p=sampling.top_p,
                                     seed=sampling.seed, stats=stats)
            with contextlib.closing(pieces):  # leaving early stops the model before the lock opens
                for piece in pieces:
                    text, stopped = cut.feed(piece)
                    if text:
                        yield text
                    if stopped:
                        break
        if stopped:
            stats.finish_reason = "stop"
            return
        tail = cut.flush()
        if tail:
            yield tail

    def complete(self, prompts: list[str], *, max_new_tokens: int = 256, temperature: float = 0.0,
                 top_p: float = 1.0) -> list[str]:
        """Replies to already-rendered prompts, batched."""
        with self.lock:
            return generate_batch(self.loaded.model, self.tokenizer, prompts, max_new_tokens=max_new_tokens,
                                  bf16=self.bf16, temperature=temperature, top_p=top_p)

    def chat(self, messages: list[dict], **kwargs) -> str:
        return self.complete([self.prompt(messages)], **kwargs)[0]
