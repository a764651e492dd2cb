"""A reading: one (subject, relation, answer) triple read off a sentence, with the questions it answers.

`relation` is a noun phrase when "the {relation} of {subject}" reads right (then the
facts path's templates apply too); structure-specific questions come in two disjoint
pools, training and held-out, built the same way for every sentence of that structure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class Reading:
    subject: str
    answer: str
    relation: str = ""
    aliases: list[str] = field(default_factory=list)
    train: list[str] = field(default_factory=list)
    heldout: list[str] = field(default_factory=list)
    kind: str = "what"


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def en_forms(wh: str, subject: str, aux: str, pred: str, *, echo: str, prep: str = "", do: str = "",
             base: str = "", extra: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """English training and held-out phrasings of one wh-question.

    wh: "when", "how many cities"...; aux: the statement's auxiliary ("was") or "" (then
    `do` + `base`, the predicate with its verb in base form, make the direct question);
    pred: the predicate with the asked-for slot removed; prep: a preposition left stranded
    ("Who was it founded by?"); echo: what stands in the slot in an echo question.
    """
    tail = f" {prep}" if prep else ""
    p = f" {pred}" if pred else ""
    verb = f" {aux}" if aux else ""
    embedded = f"{wh} {subject}{verb}{p}{tail}"
    train = []
    if aux:
        train.append(f"{cap(wh)} {aux} {subject}{p}{tail}?")
    elif do and base:
        train.append(f"{cap(wh)} {do} {subject} {base}{tail}?")
    train += [f"{cap(subject)}{verb}{p} {echo}?", f"Tell me {embedded}.", f"Do you know {embedded}?",
              f"I want to know {embedded}.", *extra]
    heldout = [f"Could you tell me {embedded}?", f"Can you say {embedded}?", f"I would like to know {embedded}."]
    return [_tidy(q) for q in train], [_tidy(q) for q in heldout]


def zh_forms(subject: str, ask: str, *, before: str = "", after: str = "") -> tuple[list[str], list[str]]:
    """Chinese phrasings: `ask` is the question word standing in the answer's place ("哪一年").

    before/after: the statement's words around the answer slot, e.g. 三沙市 + 于 + [2012年] + 设立.
    """
    core = f"{subject}{before}{ask}{after}"
    train = [f"{core}？", f"请问{core}？", f"你知道{core}吗？", f"告诉我{core}。", f"我想知道{core}。"]
    heldout = [f"能告诉我{core}吗？", f"你能说出{core}吗？", f"我想了解一下{core}。"]
    return train, heldout


def _tidy(text: str) -> str:
    return re.sub(r"\s+([?.,])", r"\1", " ".join(text.split()))
