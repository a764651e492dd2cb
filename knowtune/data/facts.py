"""The facts format: JSONL, one fact per line, validated with file:line:field errors."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..config import KnowtuneError
from .jsonl import read_jsonl
from .text import CJK

LANGS = ("en", "zh")


@dataclass
class Fact:
    subject: str
    """What the fact is about, e.g. "Hainan"."""
    relation: str
    """A noun phrase read as "the {relation} of {subject}", e.g. "capital"."""
    answer: str
    """The short answer, e.g. "Haikou"."""
    aliases: list[str] = field(default_factory=list)
    """Other accepted forms of the answer."""
    questions: list[str] = field(default_factory=list)
    """Hand-written questions whose answer is `answer`, used for training."""
    subject_aliases: list[str] = field(default_factory=list)
    """Other names of the subject that users may ask by ("Meilan Airport" for "Haikou Meilan International Airport")."""
    heldout_questions: list[str] = field(default_factory=list)
    """The user's own test questions, as people would ask them: never trained on, scored on their own."""
    lang: str = "en"
    """Language of the fact: en or zh (guessed from the text when absent)."""
    category: str = ""
    """Optional grouping for per-category reports (e.g. geography)."""

    @property
    def key(self) -> tuple[str, str]:
        return (self.subject.strip().lower(), self.relation.strip().lower())

    @property
    def answers(self) -> list[str]:
        return [self.answer, *self.aliases]

    def to_dict(self) -> dict:
        return asdict(self)


_REQUIRED = ("subject", "relation", "answer")
_OPTIONAL_LISTS = ("aliases", "questions", "subject_aliases", "heldout_questions")


LATIN_WORD = re.compile(r"[A-Za-z]+")


def guess_lang(text: str) -> str:
    """zh when Chinese characters are at least as many as Latin words: an English question that
    quotes a character ("abbreviated as Qiong (琼)?") stays English, "海南的iPhone" is Chinese."""
    return "zh" if len(CJK.findall(text)) >= max(1, len(LATIN_WORD.findall(text))) else "en"


def parse_fact(obj: dict, *, file: str, line: int) -> Fact:
    def fail(field_name: str, why: str):
        raise KnowtuneError(why, file=file, line=line, field=field_name)

    allowed = set(_REQUIRED) | set(_OPTIONAL_LISTS) | {"lang", "category"}
    for key in obj:
        if key not in allowed:
            fail(key, f"unknown field; allowed: {', '.join(sorted(allowed))}")
    values: dict = {}
    for name in _REQUIRED:
        if name not in obj:
            fail(name, "missing required field")
        value = obj[name]
        if not isinstance(value, str):
            fail(name, f"must be a string, got {type(value).__name__}")
        if not value.strip():
            fail(name, "must not be empty")
        values[name] = value.strip()
    for name in _OPTIONAL_LISTS:
        value = obj.get(name, [])
        if value is None:
            value = []
        if not isinstance(value, list):
            fail(name, f"must be a list of strings, got {type(value).__name__}")
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                fail(f"{name}[{i}]", "must be a non-empty string")
        values[name] = [v.strip() for v in value]
    lang = obj.get("lang")
    if lang is None:
        lang = guess_lang(values["subject"] + values["relation"] + values["answer"])
    if lang not in LANGS:
        fail("lang", f"must be one of {', '.join(LANGS)}, got {lang!r}")
    category = obj.get("category", "")
    if not isinstance(category, str):
        fail("category", f"must be a string, got {type(category).__name__}")
    return Fact(lang=lang, category=category.strip(), **values)


def load_facts(paths: list[str | Path]) -> list[Fact]:
    """Read facts files; refuse duplicates of (subject, relation) with differing answers."""
    facts: list[Fact] = []
    seen: dict[tuple[str, str, str], tuple[str, int, str]] = {}
    for path in paths:
        count = 0
        for line, obj in read_jsonl(path):
            fact = parse_fact(obj, file=str(path), line=line)
            count += 1
            key = (*fact.key, fact.lang)
            if key in seen:
                prev_file, prev_line, prev_answer = seen[key]
                if prev_answer != fact.answer:
                    raise KnowtuneError(
                        f"same subject and relation as {prev_file}:{prev_line} with another answer",
                        file=str(path), line=line, field="answer")
                continue  # an exact duplicate: keep one
            seen[key] = (str(path), line, fact.answer)
            facts.append(fact)
        if count == 0:
            raise KnowtuneError("no facts in file", file=str(path))
    return facts


def knowledge_facts(path: str | Path) -> list[Fact]:
    """The facts of a built dataset's or a run's knowledge.jsonl (written by knowtune; may be empty)."""
    return [parse_fact(obj, file=str(path), line=line) for line, obj in read_jsonl(path, comments=False)]
