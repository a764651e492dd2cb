"""Preference pairs from a model's own mistakes: the knowledge base's training questions, answered
greedily; where the reply misses every accepted answer, (taught answer: chosen, its reply: rejected).

Only training questions are asked: a held-out question (template, natural, QA record) never
becomes a pair, even where the same words were trained too, so a preference stage cannot learn
what the evaluation asks.
"""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict

from ..data.augment.boundary import FORM as BOUNDARY_FORM
from ..data.augment.retrieval import FORM as RETRIEVAL_FORM
from ..data.facts import Fact
from .evaluate import answer_questions

SKIPPED_FORMS = {BOUNDARY_FORM, RETRIEVAL_FORM, "passage"}
"""Refusals, questions with passages in the prompt and subject pages: no short answer to check."""


def bare(text: str) -> str:
    """A question without case, spacing or punctuation: two questions that differ only there are one."""
    return " ".join(re.sub(r"[^\w\s]|_", " ", text.lower()).split())


def pair_questions(samples: list[dict], facts: list[Fact], heldout: list[dict], *, per_fact: int = 0,
                   seed: int = 0) -> list[dict]:
    """The training samples to ask: one fact's plain question and its taught answer, never a held-out one.

    per_fact: at most this many questions of each fact (chosen by `seed`); 0: all of them.
    """
    held = {bare(q["question"]) for q in heldout}
    by_fact: dict[int, list[dict]] = defaultdict(list)
    for s in samples:
        fact, turns = s.get("fact"), s.get("messages", [])
        if not isinstance(fact, int) or not 0 <= fact < len(facts) or s.get("form") in SKIPPED_FORMS:
            continue
        if s.get("boundary") or [m.get("role") for m in turns] != ["user", "assistant"]:
            continue
        if bare(turns[0]["content"]) in held:
            continue
        by_fact[fact].append(s)
    rng = random.Random(seed)
    chosen = []
    for fact in sorted(by_fact):
        asked = by_fact[fact]
        chosen += rng.sample(asked, per_fact) if 0 < per_fact < len(asked) else asked
    return chosen


def wrong_answer_pairs(model, tokenizer, samples: list[dict], facts: list[Fact], *, system: str | None,
                       bf16: bool = False, batch_size: int = 32, progress=None) -> tuple[list[dict], dict]:
    """(pairs, counts): each sample whose greedy reply misses its fact's answers, with that reply as `rejected`."""
    questions = [{"question": s["messages"][0]["content"], "answers": facts[s["fact"]].answers} for s in samples]
    rows = answer_questions(model, tokenizer, questions, bf16=bf16, batch_size=batch_size, progress=progress,
                            system=system, hedge_below=0.0)  # a rejected side is the model's bare reply
    pairs = []
    for sample, row in zip(samples, rows):
        reply = row["reply"].strip()
        if row["correct"] or not reply:
            continue
        pairs.append({**sample, "rejected": reply})
    counts = Counter(asked=len(rows), right=sum(r["correct"] for r in rows), pairs=len(pairs))
    return pairs, dict(counts)
