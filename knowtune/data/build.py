"""Knowledge (facts, prose readings) and QA conversations -> a training set of chat samples and a
held-out question set, written atomically.

Held-out questions are split by fact (or by source sentence, or by QA record), never by
sample: a held-out question's form never appears in training, and neither does any other
phrasing of a held-out QA record.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..config import KnowtuneError
from .facts import Fact, guess_lang
from .jsonl import atomic_dir, read_jsonl, write_jsonl
from .augment.boundary import BOUNDARY_SHARE, boundary_samples
from .augment.dataset import augmented_questions, document_passages, knowledge_passages
from .augment.retrieval import DEFAULT_SHARE, with_retrieval
from .knowledge import Knowledge, from_fact
from .text import text_key

TRAIN_FILE = "train.jsonl"
HELDOUT_FILE = "heldout.jsonl"
KNOWLEDGE_FILE = "knowledge.jsonl"
STATS_FILE = "stats.json"
PRETRAIN_FILE = "pretrain.jsonl"


@dataclass
class BuiltDataset:
    train: list[dict]
    heldout: list[dict]
    facts: list[Fact]
    stats: dict
    pretrain: list[dict] = field(default_factory=list)
    """Raw text for continued pre-training: {"text", "source"} per section or record."""


_NOT_A_WORD = re.compile(r"[\W_]+")


def _loose(text: str) -> str:
    """A held-out question's key: case, spacing and punctuation do not make it another question
    (《奥伦口号角报》是哪一年创刊的？ is 奥伦口号角报是哪一年创刊的？; Chinese has no spaces to keep)."""
    return _NOT_A_WORD.sub("", text.lower())


def build_samples(facts: list[Fact], *, seed: int = 0, augment: bool = True,
                  natural: list[dict] | None = None, retrieval: float = DEFAULT_SHARE) -> BuiltDataset:
    """Each fact asked in every training form; one held-out form per fact is kept apart."""
    built = build_dataset([from_fact(f, i) for i, f in enumerate(facts)], seed=seed, augment=augment,
                          natural=natural, retrieval=retrieval)
    built.stats = {key: built.stats[key] for key in ("facts", "train_samples", "train_forms", "heldout_questions",
                                                     "heldout_sets", "languages", "categories")}
    return built


def build_dataset(knowledge: list[Knowledge], conversations: list | None = None, pretrain: list[dict] | None = None,
                  *, seed: int = 0, heldout_ratio: float = 0.1, augment: bool = True,
                  natural: list[dict] | None = None, boundary: float = BOUNDARY_SHARE,
                  retrieval: float = DEFAULT_SHARE) -> BuiltDataset:
    """Everything into one training set; conflicting facts raise, other conflicts keep the first.

    augment: each fact also asked in the augmentation's ways (other words, other names, backwards),
    each subject's page and the documents' text (data/augment); off: the templates and own questions only.
    natural: the user's own test questions (heldout.load_heldout_questions): held out, never trained.
    boundary: refusal samples ("not in my knowledge base") per fact question sample (augment/boundary); 0: none.
    retrieval: the share of fact questions also trained with retrieved passages in the prompt
    (augment/retrieval.py).
    """
    counts: Counter = Counter()
    heldout = _heldout_of_knowledge(knowledge, counts)
    asked = {text_key(h["question"]) for h in heldout}
    heldout += [q for q in natural or [] if text_key(q["question"]) not in asked]
    held_qa, train_qa = _split_conversations(conversations or [], heldout_ratio, seed)
    heldout += held_qa
    held_norms = {_loose(q["question"]) for q in heldout}
    train: list[dict] = []
    seen: dict[str, tuple[str, Knowledge | None]] = {}
    extra = augmented_questions(knowledge) if augment else [[] for _ in knowledge]
    for index, item in enumerate(knowledge):
        own = {text_key(q) for q in item.fact.questions}
        asked = [(q, item.reply, "own" if text_key(q) in own else "template") for q in item.train_questions]
        for question, reply, form in asked + [(a.question, a.reply, a.form) for a in extra[index]]:
            norm = text_key(question)
            if _loose(question) in held_norms:
                counts["heldout_forms_kept_out"] += _loose(question) not in _heldout_norms(item)
                continue  # never let a held-out form into training
            if norm in seen:
                _check_conflict(seen[norm], item, question, counts, reply=reply)
                continue
            seen[norm] = (reply, item)
            train.append({"messages": [{"role": "user", "content": question},
                                       {"role": "assistant", "content": reply}],
                          "fact": index, "lang": item.fact.lang, "form": form})
    if augment:
        passages = knowledge_passages(knowledge, seed=seed) + document_passages(pretrain or [])
        for page in passages:
            key = text_key(page["question"]) + "\x00" + page["reply"]
            if _loose(page["question"]) in held_norms or key in seen:
                continue
            seen[key] = (page["reply"], None)
            train.append({"messages": [{"role": "user", "content": page["question"]},
                                       {"role": "assistant", "content": page["reply"]}],
                          "fact": None, "group": page["group"], "lang": page["lang"], "form": "passage"})
    for conv in train_qa:
        norm = text_key(conv.question)
        key = norm + "\x00" + json.dumps(conv.messages, ensure_ascii=False)
        if _loose(conv.question) in held_norms:
            counts["qa_records_dropped_as_heldout_duplicates"] += 1
            continue
        if key in seen:
            counts["duplicates_removed"] += 1
            continue
        seen[key] = (conv.answer, None)
        train.append({"messages": conv.messages, "fact": None,
                      "lang": guess_lang(conv.question + conv.answer), "record": f"{conv.file}:{conv.line}",
                      **({"rejected": conv.rejected} if conv.rejected else {})})
    train += boundary_samples(knowledge, train, heldout, share=boundary, seed=seed)
    random.Random(seed).shuffle(train)
    facts = [k.fact for k in knowledge]
    train = with_retrieval(train, facts, share=retrieval, seed=seed)
    stats = {
        "facts": len(facts),
        "train_samples": len(train),
        "heldout_questions": len(heldout),
        "heldout_sets": dict(Counter(q.get("set", "template") for q in heldout)),
        "train_forms": dict(Counter(s.get("form", "qa") for s in train)),
        "languages": dict(Counter(f.lang for f in facts)),
        "categories": dict(Counter(f.category or "general" for f in facts)),
        "qa_records": len(conversations or []),
        "pretrain_texts": len(pretrain or []),
        "train_languages": dict(Counter(s["lang"] for s in train)),
        "heldout_languages": dict(Counter(q["lang"] for q in heldout)),
        "duplicates_removed": counts["duplicates_removed"],
        "conflicting_questions_dropped": counts["conflicts"],
        **{k: v for k, v in counts.items() if k not in ("duplicates_removed", "conflicts")},
    }
    return BuiltDataset(train=train, heldout=heldout, facts=facts, stats=stats, pretrain=list(pretrain or []))


def _heldout_of_knowledge(knowledge: list[Knowledge], counts: Counter) -> list[dict]:
    heldout, seen = [], set()
    for index, item in enumerate(knowledge):
        fact = item.fact
        asked = [(item.heldout_question, "template")] if item.heldout_question else []
        for question, kind in asked + [(q, "natural") for q in fact.heldout_questions]:
            norm = text_key(question)
            if norm in seen:
                counts["duplicate_heldout_questions_removed"] += 1
                continue
            seen.add(norm)
            heldout.append({"question": question, "answers": fact.answers, "subject": fact.subject,
                            "relation": fact.relation, "category": fact.category or "general",
                            "lang": fact.lang, "fact": index, "set": kind,
                            **({"split": "test"} if kind == "natural" else {})})
    return heldout


def _heldout_norms(item: Knowledge) -> set[str]:
    return {_loose(q) for q in [item.heldout_question or "", *item.fact.heldout_questions]}


def _check_conflict(previous: tuple[str, Knowledge | None], item: Knowledge, question: str, counts: Counter,
                    *, reply: str) -> None:
    """One question, two replies: an error between facts, otherwise the first reading wins."""
    first, other = previous
    if first == reply:
        counts["duplicates_removed"] += 1
        return
    if other is not None and other is not item and other.source == "facts" and item.source == "facts" \
            and reply == item.reply:
        raise KnowtuneError(f"question {question!r} is asked of two facts with different answers")
    counts["conflicts"] += 1


def _split_conversations(conversations: list, ratio: float, seed: int) -> tuple[list[dict], list]:
    """Hold out whole single-turn records: their question is asked in evaluation, never trained."""
    if not 0 <= ratio < 1:
        raise KnowtuneError(f"must be in [0, 1), got {ratio}", field="--heldout-ratio")
    eligible = [i for i, c in enumerate(conversations) if c.single_turn]
    n = round(ratio * len(eligible))
    if ratio > 0 and n == 0 and len(eligible) >= 2:
        n = 1
    held = set(random.Random(seed).sample(eligible, n)) if n else set()
    heldout, seen = [], set()
    for i in sorted(held):
        conv = conversations[i]
        if text_key(conv.question) in seen:
            continue
        seen.add(text_key(conv.question))
        heldout.append({"question": conv.question, "answers": [conv.answer], "subject": "", "relation": "",
                        "category": "qa", "lang": guess_lang(conv.question + conv.answer), "fact": None,
                        "record": f"{conv.file}:{conv.line}"})
    return heldout, [c for i, c in enumerate(conversations) if i not in held]


def count_tokens(built: BuiltDataset, tokenize: Callable[[str], int]) -> None:
    """Add token counts (of the chosen model's tokenizer) to the stats."""
    lengths = [sum(tokenize(m["content"]) for m in s["messages"]) for s in built.train]
    built.stats["train_tokens"] = sum(lengths)
    built.stats["longest_sample_tokens"] = max(lengths, default=0)
    built.stats["heldout_tokens"] = sum(tokenize(q["question"]) for q in built.heldout)
    if built.pretrain:
        built.stats["pretrain_tokens"] = sum(tokenize(t["text"]) for t in built.pretrain)


def write_dataset(built: BuiltDataset, out: str | Path, *, sources: list[str], overwrite: bool = False) -> Path:
    out = Path(out)
    with atomic_dir(out, kind="dataset", overwrite=overwrite) as tmp:
        write_jsonl(tmp / TRAIN_FILE, built.train)
        write_jsonl(tmp / HELDOUT_FILE, built.heldout)
        write_jsonl(tmp / KNOWLEDGE_FILE, (f.to_dict() for f in built.facts))
        if built.pretrain:
            write_jsonl(tmp / PRETRAIN_FILE, built.pretrain)
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
