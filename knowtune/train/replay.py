"""Self-distillation replay: the base model answers the bundled general prompts before it is
fine-tuned, and those answers are trained on beside the knowledge (see data/replay.py).

Greedy answers of a given base model are fixed, so they are cached by model, prompts and
settings: only the first run on a model pays for the generation.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..data import ChatPrompt
from ..data.replay import demonstration_turns, replay_plan, replay_sample, reply_before_next_turn, usable_reply
from ..models import generate_batch
from ..models.presets import cache_root

REPLAY_TOKENS = 64  # long enough for a sentence or two; the reply is cut after its last full one
CACHE_VERSION = 2  # 2: unusable replies asked again after demonstrations


def _cache_path(model_id: str, prompts: list[str], system: str, bf16: bool) -> Path:
    key = json.dumps([model_id, prompts, system, bf16, REPLAY_TOKENS, CACHE_VERSION], ensure_ascii=False)
    return cache_root() / "replay" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"


def model_identity(model) -> str:
    """What makes two loads the same base model: its source path and a weight fingerprint."""
    import torch

    source = str(getattr(model.config, "_name_or_path", ""))
    first = next(p for p in model.parameters())
    with torch.no_grad():
        fingerprint = float(first.float().flatten()[:4096].double().sum())
    return f"{source}|{type(model).__name__}|{first.dtype}|{fingerprint:.10e}"


def replay_samples(model, tokenizer, langs: list[str], count: int, *, system: str, bf16: bool,
                   progress=None) -> list[dict]:
    """`count` prompts (shared by the knowledge's languages) answered by `model` as it is now."""
    plan = replay_plan(langs, count)
    if not plan:
        return []
    unique = list(dict.fromkeys(plan))  # a plan longer than the bundled prompts repeats them: ask each once
    replies = dict(zip(unique, _cached_replies(model, tokenizer, unique, system, bf16, progress)))
    samples = []
    for lang_prompt in plan:
        kept = usable_reply(lang_prompt[1], replies[lang_prompt], system)
        if kept:
            samples.append(replay_sample(lang_prompt[1], kept))
    return samples


def _cached_replies(model, tokenizer, plan: list[tuple[str, str]], system: str, bf16: bool,
                    progress) -> list[str]:
    """The model's replies to the plan's prompts, from the cache when this model answered them before."""
    prompts = [prompt for _, prompt in plan]
    cache = _cache_path(model_identity(model), prompts, system, bf16)
    if cache.is_file():
        return json.loads(cache.read_text(encoding="utf-8"))
    was_training = model.training
    model.eval()
    replies = _answer(model, tokenizer, [[] for _ in plan], prompts, system, bf16, progress)
    # a base model echoes or invents turns: ask those again after three answered questions
    again = [i for i, (prompt, reply) in enumerate(zip(prompts, replies)) if not usable_reply(prompt, reply, system)]
    if again:
        retried = _answer(model, tokenizer, [demonstration_turns(plan[i][0]) for i in again],
                          [prompts[i] for i in again], system, bf16, None)
        for i, reply in zip(again, retried):
            replies[i] = reply_before_next_turn(reply)
    model.train(was_training)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps(replies, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, cache)
    return replies


def _answer(model, tokenizer, earlier: list[list[dict]], prompts: list[str], system: str, bf16: bool,
            progress) -> list[str]:
    prompt = ChatPrompt(tokenizer, system)
    rendered = [prompt.render([*turns, {"role": "user", "content": p}]) for turns, p in zip(earlier, prompts)]
    return generate_batch(model, tokenizer, rendered, max_new_tokens=REPLAY_TOKENS, batch_size=32, bf16=bf16,
                          progress=progress)
