"""Ask questions, score replies, summarise: the before/after numbers of every run."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

from ..config import ANSWER_BATCH, KnowtuneError
from ..data import ChatPrompt
from ..data.heldout import read_questions
from ..data.jsonl import write_jsonl
from ..data.grounding import Grounding
from ..data.hedge import HEDGE_BELOW, hedged
from ..data.scope import KnowledgeScope
from ..models import generate_scored
from ..models.answer_cache import cached_answers
from ..models.merged import adapter_off, adapter_on
from .normalize import contains_answer


def load_questions(path: str | Path) -> list[dict]:
    """A questions file: {"question": str, "answers": [str]} per line (extra fields kept)."""
    return [obj for _, obj in read_questions(path)]


def answer_questions(model, tokenizer, questions: list[dict], *, bf16: bool = False,
                     batch_size: int = ANSWER_BATCH, max_new_tokens: int = 32, progress=None,
                     system: str | None = None, user_texts: list[str] | None = None,
                     identity: str | None = None, hedge_below: float = HEDGE_BELOW,
                     grounding: Grounding | None = None, scope: KnowledgeScope | None = None,
                     base_identity: str | None = None) -> list[dict]:
    """Greedy replies to each question, scored against its accepted answers.

    Each row keeps the model's confidence in its reply (data.hedge); a reply below `hedge_below`
    carries the hedge note, as chat and the API give it; with `grounding`, a reply about the knowledge
    base that none of its facts grounds carries the grounding note, and its row `ungrounded` is true.
    user_texts: what to send instead of the bare questions (e.g. with retrieved passages).
    identity: the caller's word that `model` is an unchanged model of this identity (a base model):
    its answers are then read from, and kept in, the answer cache (models.answer_cache).
    scope: for a model with its adapter on, the questions outside the knowledge base are answered
    with the adapter off, as chat and the API answer them (data.scope); each row's `answered_by`
    says which ("fine-tuned" or "base"). base_identity: the identity of those base weights, whose
    answers are then read from the answer cache like `identity`'s (the before pass asked them).
    """
    texts = user_texts if user_texts is not None else [q["question"] for q in questions]
    prompt = ChatPrompt(tokenizer, system)
    prompts = [prompt.ask(t) for t in texts]

    def generate(asked: list[str]) -> list[list]:
        return [[r.text, r.confidence] for r in generate_scored(
            model, tokenizer, asked, bf16=bf16, batch_size=batch_size, max_new_tokens=max_new_tokens,
            progress=progress)]

    def base_generate(asked: list[str]) -> list[list]:
        with adapter_off(model):
            return generate(asked)

    def base_answers(asked: list[str]) -> list[list]:
        return cached_answers(asked, base_identity, settings, base_generate, progress)[0] if base_identity \
            else base_generate(asked)

    settings = {"bf16": bf16, "max_new_tokens": max_new_tokens, "scored": True}
    routed = scope is not None and identity is None and adapter_on(model)
    to_base = [routed and not scope.about(q["question"]) for q in questions]
    if identity is None:
        start = time.perf_counter()
        scored = route_each(generate, base_answers, prompts, to_base)
        seconds = [round((time.perf_counter() - start) / max(len(questions), 1), 4)] * len(prompts)
    else:
        scored, seconds = cached_answers(prompts, identity, settings, generate, progress)
    rows = []
    for q, (text, confidence), t, base in zip(questions, scored, seconds, to_base):
        ungrounded = grounding is not None and grounding.ungrounded(q["question"], text)
        reply = hedged(text, confidence, hedge_below, ungrounded=ungrounded)
        rows.append({"question": q["question"], "reply": reply, "correct": contains_answer(reply, q["answers"]),
                     "answers": q["answers"], "category": q.get("category", "general"), "seconds": t,
                     "confidence": None if confidence is None else round(confidence, 4),
                     **({"ungrounded": ungrounded} if grounding is not None else {}),
                     **({"answered_by": "base" if base else "fine-tuned"} if routed else {})})
    return rows


def route_each(generate, base_answers, prompts: list, to_base: list[bool]) -> list:
    """generate(prompts), but base_answers() for the prompts marked `to_base`, in the prompts' order."""
    if not any(to_base):
        return generate(prompts)
    mine = [i for i, base in enumerate(to_base) if not base]
    theirs = [i for i, base in enumerate(to_base) if base]
    out: list = [None] * len(prompts)
    for i, reply in zip(mine, generate([prompts[i] for i in mine]) if mine else []):
        out[i] = reply
    for i, reply in zip(theirs, base_answers([prompts[i] for i in theirs])):
        out[i] = reply
    return out


def summarise(rows: list[dict]) -> dict:
    n = len(rows)
    k = sum(r["correct"] for r in rows)
    by_cat: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        by_cat[r["category"]][0] += r["correct"]
        by_cat[r["category"]][1] += 1
    routed = [r for r in rows if "answered_by" in r]
    return {"accuracy": k / n if n else 0.0, "correct": k, "total": n,
            "seconds_per_answer": rows[0]["seconds"] if rows else 0.0,
            "by_category": {c: {"accuracy": a / t, "correct": a, "total": t}
                            for c, (a, t) in sorted(by_cat.items())},
            **({"answered_by_base": sum(r["answered_by"] == "base" for r in routed)} if routed else {})}


def accuracy_line(summary: dict) -> str:
    return f"accuracy: {100 * summary['accuracy']:.1f}% ({summary['correct']}/{summary['total']})"


def write_results(out_dir: str | Path, name: str, rows: list[dict], summary: dict) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_jsonl(out_dir / f"{name}_answers.jsonl", rows)
    (out_dir / f"{name}_metrics.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
