"""Is a reply backed by the knowledge base? A check of each reply against the facts it was taught.

A model fine-tuned on a knowledge base answers a question about it that the base cannot answer
with a fact it holds for something else, fluently and sure of itself ("Who founded Greyling
Freight?" -> the founder of another firm; "the population of Orrenwick?" -> Orrenmouth's). Its
token probabilities barely tell (data.hedge): the invented reply is as sure as a learned one. The
knowledge base itself does tell, and knowtune has it at answer time: a reply is grounded when one
fact has one side named in the question and the other side named in the reply — the subject asked
and the answer given, or the answer asked and the subject given (a reverse question). A reply to a
question about the knowledge base (the question or the reply names one of its subjects or entity
answers) that no fact grounds carries a note saying so. Questions about anything else are left to
the confidence hedge. This is attribution by string matching, not entailment: a reply that names
a fact's subject and answer passes whatever relation it states; it errs towards passing.

Names are matched as answers are scored (data.text.names_in): a subject by its name, its
`subject_aliases` and the short forms augmentation asks it by (data.augment.names), an answer by
itself and its `aliases`, each without a leading "the".
"""

from __future__ import annotations

import re

from .augment.names import name_key, subject_names
from .facts import Fact, guess_lang
from .relation_words import asks_relation, question_words, relation_words
from .text import CJK, Matchable, names_in

__all__ = ["Grounding", "UNGROUNDED_NOTES", "ungrounded_note"]

UNGROUNDED_NOTES = {"en": " (My knowledge base does not say so: this might be wrong.)",
                    "zh": "（我的知识库里没有这一条，可能有误。）"}
"""What a reply no fact grounds ends with; eval.refusal counts it a hedge ("might", "可能")."""


def ungrounded_note(reply: str) -> str:
    """The note for a reply no fact grounds, in the reply's language."""
    return UNGROUNDED_NOTES.get(guess_lang(reply), UNGROUNDED_NOTES["en"])


_ASKS_NUMBER = re.compile(
    r"\b(?:how (?:many|much|long|tall|high|big|large|old|far|deep|wide|heavy)|(?:what|which) year|when)\b"
    r"|多少|几|哪一?年|什么时候|何时|多高|多长|多大|多深|多宽|多远|多重|多厚", re.IGNORECASE)
# a Chinese numeral counts with the measure word or unit after it: names hold numerals too (三沙, 五指山, 万宁)
_NUMBER = re.compile(r"\d|[零一二三四五六七八九十百千万亿两]+(?:个|座|条|年|月|日|号|米|公里|千米|平方|人|次|届|位|名|家|"
                     r"所|种|只|头|项|处|层|级|倍|岁|度|块|件|元|天|小时|分钟|公顷|亩|吨|大)"
                     r"|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|hundred|"
                     r"thousand|million|billion|dozen|first|second|third|fourth|fifth|once|twice)\b", re.IGNORECASE)


def names_a_thing(answer: str) -> bool:
    """An answer that names something (a proper name, a Chinese name without digits): replies that
    mention it are about the knowledge base; "five", "1992" or "coconut palm" say nothing of that."""
    return not re.search(r"\d", answer) and bool(re.search(r"[A-Z]", answer) or CJK.search(answer))


class Grounding:
    """The facts of a knowledge base, ready to ground replies (build it once; checking is cheap)."""

    def __init__(self, facts: list[Fact], *, relations: bool = True):
        self.facts = list(facts)
        names = subject_names(self.facts)
        self._subjects = [tuple({name_key(n) for n in group}) for group in names]
        self._answers = [tuple({name_key(a) for a in fact.answers}) for fact in self.facts]
        # relations: a fact grounds a reply only to a question that may ask its relation (data.relation_words)
        self._relations = [(relation_words(fact, [*group, *fact.answers]), question_words(" ".join([*group, *fact.answers])))
                           for fact, group in zip(self.facts, names)] if relations else None
        about = {n for names in self._subjects for n in names}
        about |= {name_key(a) for fact in self.facts for a in fact.answers if names_a_thing(a)}
        self._about = tuple(sorted(about))

    def __len__(self) -> int:
        return len(self.facts)

    def concerns(self, question: str, reply: str) -> bool:
        """Whether the question or the reply names a subject or an entity answer of the knowledge base."""
        return names_in(Matchable(f"{question}\n{reply}"), self._about)

    def support(self, question: str, reply: str) -> Fact | None:
        """The first fact with one side named in the question and the other in the reply, and (with
        `relations`) a question that may ask its relation, or None (always None when the question
        asks for a number and the reply holds none)."""
        if _ASKS_NUMBER.search(question) and not _NUMBER.search(reply):
            return None
        asked, said = Matchable(question), Matchable(reply)
        words = question_words(question) if self._relations is not None else None
        for i, (fact, subjects, answers) in enumerate(zip(self.facts, self._subjects, self._answers)):
            named = (names_in(said, answers) and names_in(asked, subjects)) or \
                (names_in(said, subjects) and names_in(asked, answers))
            if named and (words is None or asks_relation(words, *self._relations[i])):
                return fact
        return None

    def ungrounded(self, question: str, reply: str) -> bool:
        """A reply about the knowledge base that none of its facts grounds (an empty reply never is)."""
        return bool(reply.strip()) and self.concerns(question, reply) and self.support(question, reply) is None
