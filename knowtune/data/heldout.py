"""A user's own test questions ({"question", "answers"} per line; "split": dev or test optional):
held out of training whatever the augmentation would ask, and scored on their own as "natural"."""

from __future__ import annotations

from pathlib import Path

from ..config import KnowtuneError
from .facts import guess_lang
from .jsonl import read_jsonl

SPLITS = ("dev", "test")


def read_questions(path: str | Path) -> list[dict]:
    """A questions file: {"question": str, "answers": [str]} per line (extra fields kept), checked."""
    rows = []
    for line, obj in read_jsonl(path):
        question, answers = obj.get("question"), obj.get("answers")
        if not isinstance(question, str) or not question.strip():
            raise KnowtuneError("missing or empty", file=str(path), line=line, field="question")
        if not isinstance(answers, list) or not answers or not all(isinstance(a, str) and a.strip() for a in answers):
            raise KnowtuneError("must be a non-empty list of strings", file=str(path), line=line, field="answers")
        rows.append((line, obj))
    if not rows:
        raise KnowtuneError("no questions in file", file=str(path))
    return rows


def load_heldout_questions(path: str | Path) -> list[dict]:
    rows = []
    for line, obj in read_questions(path):
        question, answers = obj["question"], obj["answers"]
        split = obj.get("split", "test")
        if split not in SPLITS:
            raise KnowtuneError(f"must be dev or test, got {split!r}", file=str(path), line=line, field="split")
        rows.append({**obj, "split": split, "set": "natural", "fact": None,
                     "lang": obj.get("lang") or guess_lang(question + answers[0]),
                     "category": obj.get("category", "natural")})
    return rows
