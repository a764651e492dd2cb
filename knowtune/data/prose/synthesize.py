"""Prose documents -> Knowledge (questions and answers per sentence) and pre-training texts.

Every sentence is read by the English or Chinese rules; each reading becomes one piece of
knowledge whose reply is the source sentence, asked in every training form, with one
held-out form kept apart (the facts path's held-out templates when the reading has a noun
relation, else the structure's own held-out pool). An optional generator (an LLM endpoint)
adds questions; when it fails the offline questions stand alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from ..facts import Fact
from ..formats.documents import Document
from ..knowledge import Knowledge
from ..questions import heldout_question, training_questions
from ..text import CJK, unique_texts
from .reading import Reading
from .rules_en import read_english
from .rules_zh import read_chinese
from .sentences import split_sentences

_LATIN = re.compile(r"[A-Za-z]")

Generator = Callable[[str, str], list[dict]]
"""(sentence, lang) -> [{"question", "answer"}]; may raise, then it is ignored for that sentence."""


@dataclass
class ProseResult:
    knowledge: list[Knowledge] = field(default_factory=list)
    pretrain: list[dict] = field(default_factory=list)
    sentences: int = 0
    sentences_without_questions: int = 0
    generated_questions: int = 0
    generator_failures: int = 0


def sentence_lang(sentence: str) -> str:
    """zh when Chinese characters outnumber Latin letters ("Qiong (琼)" stays English)."""
    return "zh" if len(CJK.findall(sentence)) > len(_LATIN.findall(sentence)) else "en"


def synthesize(documents: list[Document], *, generator: Generator | None = None) -> ProseResult:
    result = ProseResult()
    for doc in documents:
        for section in doc.sections:
            text = "\n\n".join(([section.title] if section.title else []) + section.paragraphs)
            result.pretrain.append({"text": text, "source": doc.path})
            category = section.title.lower() if section.title else "general"
            for paragraph in section.paragraphs:
                for sentence in split_sentences(paragraph):
                    _read_sentence(sentence, category, doc.path, result, generator)
    return result


def _read_sentence(sentence: str, category: str, path: str, result: ProseResult, generator) -> None:
    result.sentences += 1
    lang = sentence_lang(sentence)
    readings = read_chinese(sentence) if lang == "zh" else read_english(sentence)
    generated = _generate(sentence, lang, generator, result) if generator else []
    if not readings and len(generated) >= 2:
        readings = [_generated_reading(generated)]
        generated = []
    if not readings:
        result.sentences_without_questions += 1
        return
    for k, reading in enumerate(readings):
        fact = Fact(subject=reading.subject, relation=reading.relation or reading.kind, answer=reading.answer,
                    aliases=reading.aliases, lang=lang, category=category)
        index = len(result.knowledge)
        train = (training_questions(fact) if reading.relation else []) + reading.train
        if k == 0:
            train += [g["question"] for g in generated]
        if reading.relation:
            held = heldout_question(fact, index)
        else:
            held = reading.heldout[index % len(reading.heldout)] if reading.heldout else None
        result.knowledge.append(Knowledge(fact=fact, reply=sentence, train_questions=unique_texts(train),
                                          heldout_question=held, source="prose", where=path,
                                          askable=bool(reading.relation)))


def _generate(sentence: str, lang: str, generator: Generator, result: ProseResult) -> list[dict]:
    try:
        pairs = generator(sentence, lang)
    except Exception:  # a failing endpoint falls back to the offline questions
        result.generator_failures += 1
        return []
    result.generated_questions += len(pairs)
    return pairs


def _generated_reading(pairs: list[dict]) -> Reading:
    """A sentence no rule reads: the generated questions, the last one held out."""
    held = pairs[-1]
    return Reading(subject=held["question"], answer=held["answer"], relation="",
                   train=[p["question"] for p in pairs[:-1]], heldout=[held["question"]], kind="generated")
