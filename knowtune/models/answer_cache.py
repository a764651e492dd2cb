"""Greedy answers of an unchanged model, kept on disk: a base model answers a question once.

The base model's greedy reply to a rendered prompt is fixed by its weights, the generation
settings and the library versions, so the demo's "before" pass, `knowtune eval`'s base pass
and the replay answers are asked once per machine and read back on later runs. Only the caller
knows that a model is unchanged (a fine-tuned model wrapped around the same base shares its
embeddings), so only callers that hold a base model pass its identity; the fine-tuned model is
always asked afresh. Each entry keeps the seconds per answer it took when it was generated.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Callable

from ..config.hardware import cache_root

CACHE_VERSION = 2
"""2: replies in the plain chat template end where the model starts a turn of its own (models.turn_stops)."""


def model_identity(model) -> str:
    """What makes two loads the same model: its source, class, dtype and a fingerprint of its first,
    middle and last weights (a fine-tuned model, merged or not, differs in some of them)."""
    import torch

    params = list(model.parameters())
    source = str(getattr(model.config, "_name_or_path", ""))
    with torch.no_grad():
        prints = [float(p.detach().float().flatten()[:4096].double().sum()) for p in (params[0], params[len(params) // 2], params[-1])]
    return f"{source}|{type(model).__name__}|{params[0].dtype}|" + "|".join(f"{x:.10e}" for x in prints)


def _cache_file(identity: str, settings: dict) -> Path:
    import torch
    import transformers

    key = json.dumps([identity, settings, torch.__version__, transformers.__version__, CACHE_VERSION],
                     sort_keys=True)
    return cache_root() / "answers" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"


def cached_answers(prompts: list[str], identity: str, settings: dict,
                   generate: Callable[[list[str]], list], progress=None) -> tuple[list, list[float]]:
    """Replies and seconds per answer for `prompts`: from the cache where this model answered the
    same rendered prompt with the same `settings` before, else from `generate` (then stored). A
    reply is whatever JSON value `generate` gives (a string, or [text, confidence]); callers whose
    replies differ in shape differ in `settings`, so they never read each other's entries."""
    path = _cache_file(identity, settings)
    known = _read(path)
    missing = [p for p in dict.fromkeys(prompts) if p not in known]
    if progress is not None and len(prompts) > len(missing):
        progress(len(prompts) - len(missing))
    if missing:
        start = time.perf_counter()
        replies = generate(missing)
        per_answer = round((time.perf_counter() - start) / len(missing), 4)
        known.update({p: [r, per_answer] for p, r in zip(missing, replies)})
        _write(path, known)
    return [known[p][0] for p in prompts], [known[p][1] for p in prompts]


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # none yet, or unreadable: ask the model again
        return {}


def _write(path: Path, known: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(known, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)  # whole or not at all: a reader never sees half a file
