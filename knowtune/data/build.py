"""Facts -> a training set of chat samples and a held-out question set, written atomically."""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..config import KnowtuneError
from .facts import Fact
from .jsonl import atomic_dir, read_jsonl, write_jsonl
from .questions import answer_sentence, heldout_question, training_questions

TRAIN_FILE = "train.jsonl"
HELDOUT_FILE = "heldout.jsonl"
KNOWLEDGE_FILE = "knowledge.jsonl"
STATS_FILE = "stats.json"


@dataclass
class BuiltDataset:
    train: list[dict]
    heldout: list[dict]
    facts: list[Fact]
    stats: dict


def build_samples(facts: list[Fact], *, seed: int = 0) -> BuiltDataset:
    """Each fact asked in every training form; one held-out form per fact is kept apart."""
    train: list[dict] = []
    heldout: list[dict] = []
    seen_questions: dict[str, str] = {}
    for index, fact in enumerate(facts):
        answer = answer_sentence(fact)
        held = heldout_question(fact, index)
        for question in training_questions(fact):
            norm = " ".join(question.lower().split())
            if norm == " ".join(held.lower().split()):
                continue  # never let the held-out form into training
            if norm in seen_questions:
                if seen_questions[norm] != answer:
                    raise KnowtuneError(
                        f"question {question!r} is asked of two facts with different answers")
                continue
            seen_questions[norm] = answer
            train.append({"messages": [{"role": "user", "content": question},
                                       {"role": "assistant", "content": answer}],
                          "fact": index, "lang": fact.lang})
        heldout.append({"question": held, "answers": fact.answers, "subject": fact.subject,
                        "relation": fact.relation, "category": fact.category or "general",
                        "lang": fact.lang, "fact": index})
    random.Random(seed).shuffle(train)
    stats = {
        "facts": len(facts),
        "train_samples": len(train),
        "heldout_questions": len(heldout),
        "languages": dict(Counter(f.lang for f in facts)),
        "categories": dict(Counter(f.category or "general" for f in facts)),
    }
    return BuiltDataset(train=train, heldout=heldout, facts=facts, stats=stats)


def count_tokens(built: BuiltDataset, tokenize: Callable[[str], int]) -> None:
    """Add token counts (of the chosen model's tokenizer) to the stats."""
    lengths = [sum(tokenize(m["content"]) for m in s["messages"]) for s in built.train]
    built.stats["train_tokens"] = sum(lengths)
    built.stats["longest_sample_tokens"] = max(lengths, default=0)
    built.stats["heldout_tokens"] = sum(tokenize(q["question"]) for q in built.heldout)


def write_dataset(built: BuiltDataset, out: str | Path, *, sources: list[str]) -> Path:
    out = Path(out)
    with atomic_dir(out) as tmp:
        write_jsonl(tmp / TRAIN_FILE, built.train)
        write_jsonl(tmp / HELDOUT_FILE, built.heldout)
        write_jsonl(tmp / KNOWLEDGE_FILE, (f.to_dict() for f in built.facts))
        stats = dict(built.stats, sources=[str(s) for s in sources])
        (tmp / STATS_FILE).write_text(json.dumps(stats, indent=2, ensure_ascii=False) + "\n",
                                      encoding="utf-8")
    return out


def load_dataset_dir(path: str | Path) -> tuple[list[dict], list[dict]]:
    """(train samples, held-out questions) of a built dataset directory."""
    path = Path(path)
    if not (path / TRAIN_FILE).is_file():
        raise KnowtuneError(f"not a built dataset (no {TRAIN_FILE}); run `knowtune data build`",
                            file=str(path))
    train = [obj for _, obj in read_jsonl(path / TRAIN_FILE, comments=False)]
    heldout = []
    if (path / HELDOUT_FILE).is_file():
        heldout = [obj for _, obj in read_jsonl(path / HELDOUT_FILE, comments=False)]
    for i, sample in enumerate(train, start=1):
        messages = sample.get("messages")
        if (not isinstance(messages, list) or len(messages) < 2
                or not all(isinstance(m, dict) and isinstance(m.get("content"), str)
                           and m.get("role") in ("system", "user", "assistant") for m in messages)
                or messages[-1]["role"] != "assistant"):
            raise KnowtuneError("must be a list of {role, content} messages ending with the assistant",
                                file=str(path / TRAIN_FILE), line=i, field="messages")
    return train, heldout
