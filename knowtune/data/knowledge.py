"""One piece of knowledge ready to be asked: a fact, its reply, its training and held-out questions.

Facts files, sentences of prose documents and generated questions all become Knowledge;
build.py turns a list of them into the training and held-out sets.
"""

from __future__ import annotations

from dataclasses import dataclass

from .facts import Fact
from .questions import answer_sentence, heldout_question, training_questions


@dataclass
class Knowledge:
    fact: Fact
    """Subject, relation, short answer (+ aliases) for held-out scoring and knowledge.jsonl."""
    reply: str
    """What the assistant says in training: a full sentence restating the fact."""
    train_questions: list[str]
    heldout_question: str | None
    """A phrasing never used in training (None: this knowledge is not held out)."""
    source: str = "facts"
    """What it was read from: facts, prose or generated (conflicts between facts are errors)."""
    where: str = ""
    """File (and sentence) it came from."""
    askable: bool = True
    """The relation is a noun phrase ("the {relation} of {subject}"): augmentation may ask it other ways."""


def from_fact(fact: Fact, index: int, where: str = "") -> Knowledge:
    """The facts path: template answer sentence, every training template, one held-out template."""
    return Knowledge(fact=fact, reply=answer_sentence(fact), train_questions=training_questions(fact),
                     heldout_question=heldout_question(fact, index), where=where)
