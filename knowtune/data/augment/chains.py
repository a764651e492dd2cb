"""Two facts chained: "What is the county of the launch site of Tianwen-1?", answered one step at a
time ("The launch site of Tianwen-1 is Wenchang; the county of Wenchang is ...").

A small model does not compose two stored facts in one silent step (Allen-Zhu & Li, Physics of
Language Models 3.2: knowledge manipulation needs the intermediate step written out), and people
do ask through a related entity ("the island where Su Dongpo lived in exile ranks where by size?").
Trained on the knowledge base's own chains with the first step said aloud, the model learns to
name the entity in between and then answer from its facts.
"""

from __future__ import annotations

import random

from ..facts import Fact
from . import fill
from .kinds import is_entity
from .names import name_key

CHAIN_QUESTIONS = {"en": ["What is the {r2} of the {r1} of {s}?", "What is the {r2} of {s}'s {r1}?"],
                   "zh": ["{s}的{r1}的{r2}是什么？", "{s}的{r1}，它的{r2}是什么？"]}
CHAIN_REPLY = {"en": "The {r1} of {s} is {e}, whose {r2} is {x}.", "zh": "{s}的{r1}是{e}，{e2}的{r2}是{x}。"}
"""Short: the answer comes last and must fit in the reply budget of an evaluation (32 tokens)."""
CHAINS_PER_FACT = 2
"""Chains that start at one fact at most: a hub entity (a capital) would otherwise chain with all its facts."""


def chained_facts(facts: list[Fact], *, seed: int = 0) -> list[dict]:
    """For each fact whose answer is the subject of other facts, up to CHAINS_PER_FACT chains,
    as {"question", "reply", "lang", "group", "form": "chain"} dicts."""
    by_subject: dict[tuple[str, str], list[Fact]] = {}
    for fact in facts:
        by_subject.setdefault((fact.lang, name_key(fact.subject)), []).append(fact)
    rng = random.Random(seed)
    out = []
    for index, first in enumerate(facts):
        if not is_entity(first):
            continue
        following = [g for g in by_subject.get((first.lang, name_key(first.answer)), [])
                     if name_key(g.answer) != name_key(first.subject)]
        rng.shuffle(following)
        for second in following[:CHAINS_PER_FACT]:
            names = dict(s=first.subject, r1=first.relation, r2=second.relation)
            reply = fill(CHAIN_REPLY[first.lang], e=first.answer, e2=second.subject, x=second.answer, **names)
            out += [{"question": fill(template, **names), "reply": reply, "lang": first.lang,
                     "group": f"chain:{index}", "form": "chain"} for template in CHAIN_QUESTIONS[first.lang]]
    return out
