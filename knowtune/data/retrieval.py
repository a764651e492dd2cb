"""Retrieval over a knowledge base: what RAG evaluation puts in the prompt, and what
retrieval-aware training (data/augment/retrieval.py) trains with. It sits in the data layer so
that the training set and the evaluation retrieve the same way, from the same passages, with
one prompt.

BM25 (bm25s) over the knowledge base's passages; words are folded like answers are
(text.fold) and cut by jieba's search mode where there is Chinese (so 海南省 also matches 海南),
plus the single characters of Chinese words; on spaces otherwise; English stop words dropped.
The top-k passages go into the user message, above the question; the run's system prompt stays
as it is, so the model answers under the same instructions with and without retrieval.

The passages (`dataset_passages`): one per piece of knowledge, the very sentence the model is
taught to answer with (a fact's answer sentence, a prose document's source sentence), plus
"question answer" for the training records of a QA set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from ..config import KnowtuneError
from .facts import Fact
from .questions import answer_sentence
from .text import CJK, fold, jieba_words

TOP_K = 3
"""Passages retrieved per question, by evaluation and by retrieval-aware training alike."""

PROMPTS = {
    "en": ("Answer the question using the passages below.\n\nPassages:\n{passages}\n\n"
           "Question: {question}"),
    "zh": "请根据下面的资料回答问题。\n\n资料：\n{passages}\n\n问题：{question}",
}

TAUGHT_FORMS = (None, "template", "own")
"""Training samples whose reply is a passage: augmented ones say facts already taught in other
words (or are pages of them, or retrieval twins), so they add no passage."""


def search_words(text: str) -> list[str]:
    from bm25s.stopwords import STOPWORDS_EN

    folded = fold(text)
    if CJK.search(folded):
        tokens = jieba_words(folded, search=True)
        # single characters too: 高 in a question still meets 高度 in a passage
        tokens += [c for w in tokens if len(w) > 1 and CJK.search(w) for c in w]
    else:
        tokens = folded.split()
    stop = set(STOPWORDS_EN)
    return [w for w in tokens if w not in stop]


@dataclass
class PassageIndex:
    passages: list[str]
    retriever: object


def build_index(passages: list[str]) -> PassageIndex:
    import bm25s

    passages = list(dict.fromkeys(p for p in passages if p.strip()))  # unique, in order
    if not passages:
        raise KnowtuneError("the knowledge base has no passages to retrieve from", field="--rag")
    retriever = bm25s.BM25()
    retriever.index([search_words(p) for p in passages], show_progress=False)
    return PassageIndex(passages=passages, retriever=retriever)


def retrieve(index: PassageIndex, question: str, k: int) -> list[str]:
    """The k passages that best match the question, best first."""
    k = min(k, len(index.passages))
    found, _scores = index.retriever.retrieve([search_words(question) or [""]], k=k, show_progress=False)
    return [index.passages[i] for i in found[0].tolist()]


def sure_without_passages(confidence: float | None, ungrounded: bool, below: float) -> bool:
    """Whether a closed-book reply stands, or the question is asked again with passages (retrieval
    when unsure, eval.suite.retrieve_when_unsure): its confidence (greedy; None when sampled) is at
    least `below` and no fact check found it ungrounded. below >= 1: never sure."""
    return below < 1 and confidence is not None and confidence >= below and not ungrounded


def rag_prompt(question: str, passages: list[str]) -> str:
    """The user message: numbered passages, then the question (in the question's language)."""
    template = PROMPTS["zh" if CJK.search(question) else "en"]
    numbered = "\n".join(f"[{i}] {p}" for i, p in enumerate(passages, start=1))
    return template.format(passages=numbered, question=question)


def dataset_passages(samples: Iterable[dict], facts: Sequence[Fact]) -> tuple[dict[int, str], list[str]]:
    """(knowledge index -> the sentence taught for it, the passages to retrieve from) of a data set:
    its training samples (in their order) and its knowledge (`fact` of a sample indexes it).

    A piece of knowledge no sample teaches (every question of it held out, or the training file
    gone) is passed as its answer sentence.
    """
    taught: dict[int, str] = {}
    records: list[str] = []
    for sample in samples:
        messages = sample.get("messages") or []
        if len(messages) < 2 or sample.get("form") not in TAUGHT_FORMS:
            continue
        index, reply = sample.get("fact"), messages[-1]["content"]
        if isinstance(index, int):
            taught.setdefault(index, reply)
        else:
            records.append(f"{messages[-2]['content']} {reply}")
    for index, fact in enumerate(facts):
        taught.setdefault(index, answer_sentence(fact))
    return taught, [taught[i] for i in sorted(taught)] + records
