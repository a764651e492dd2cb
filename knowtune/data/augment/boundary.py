"""Knowledge-boundary samples: questions the knowledge base cannot answer, replied to with a refusal.

A model fine-tuned only on facts learns to answer every question in their shape, including
those the facts do not cover, and then invents. Training on some questions just outside the
knowledge, answered "I don't know", teaches it where its knowledge ends (R-Tuning, Zhang et al.,
NAACL 2024: refusal-aware instruction tuning). Two kinds, both made from the knowledge base itself
and asked with the same templates and lexicon as the facts, so that the only thing telling a
refusal from an answer is whether the knowledge holds the (subject, relation):

- missing relation: a relation other subjects have (preferably subjects of the same category or
  kind), asked of a real subject that has no such fact: "What is the height of Haikou?";
- made-up subject: a name like the real ones that the knowledge base does not hold ("North
  Wenchang", "the Songtao River", "北文昌"), asked a relation the real one has;
- outside relation: what users ask of almost anything and no fact states for any subject ("What
  is the website of Haikou?"; augment.outside).

Over-refusal is the risk to guard: a refusal must never be trained on a question that is
answered anywhere (a training or held-out question), nor on a (subject, relation) the facts
answer under any name of the subject, nor on a relation that is another word for one the
subject has (the lexicon's rule for "location" is the one for "city"). Offline and the same
for a seed.
"""

from __future__ import annotations

import random
import re
from dataclasses import replace
from functools import lru_cache
from typing import Iterator

from ...config.coerce import share_in_range
from ..facts import Fact
from ..questions import training_questions
from ..text import CJK, Matchable, names_in, text_key, unique_texts
from . import forward_questions, relation_rule
from .kinds import answer_kind
from .outside import outside_pairs, outside_relations
from .names import name_key, short_forms, split_head, subject_head

BOUNDARY_SHARE = 0.08
"""Refusal samples per fact question sample, by default."""
MAX_SHARE = 0.5
"""More refusals than this would teach the model to refuse, not where to."""
REFUSALS = {"en": "I don't know: that is not in my knowledge base.",
            "zh": "我不知道，我的知识库里没有这方面的信息。"}
"""One fixed reply per language: a model learns one refusal better than many, and evaluation's
refusal classifier (eval.refusal) must read it as declining."""
MADE_UP_MAY_HOLD_REAL_NAMES = True
"""Made-up subjects may hold a real subject's name whole ("North Wenchang", "北文昌", "the Hainan
River"); off: those are left out, and only names that hold no subject's name are asked about."""
FORM = "boundary"
MISSING, MADE_UP, OUTSIDE = "missing-relation", "made-up-subject", "outside-relation"

# names made up around a real place name: "North Wenchang", "Wenchang Bay", "北文昌", "文昌湾"
_EN_PREFIXES = ("North", "South", "East", "West", "New", "Upper", "Lower")
_EN_SUFFIXES = ("Bay", "Hills", "Harbour", "Valley")
_ZH_PREFIXES = ("北", "南", "东", "西", "新", "小")
_ZH_SUFFIXES = ("湾", "港", "岭", "湖")
_PUNCTUATION = re.compile(r"[^\w\s]|_")
# relations that ask for the subject's own name: a subject with one is a description of another
# subject ("China's southernmost province" -> Hainan), whose facts answer it; asked of a named
# subject they answer themselves ("the name of Wuzhishan")
_NAME_RELATIONS = {"name", "full name", "proper name", "名称", "名字", "全称"}


def check_share(value) -> float:
    """The share as a number in [0, MAX_SHARE], or a one-line error naming the option."""
    return share_in_range(value, most=MAX_SHARE, field="--boundary", meaning="refusal samples per fact question")


def boundary_samples(knowledge: list, train: list[dict], heldout: list[dict], *, share: float,
                     seed: int) -> list[dict]:
    """Refusal samples, `share` of the fact question samples of `train` in each language, a third
    of each kind (missing relations fill in where the others run short)."""
    share = check_share(share)
    facts = [item.fact for item in knowledge if item.askable]
    if not share or not facts:
        return []
    answered = {_bare(m["content"]) for s in train for m in s["messages"] if m["role"] == "user"}
    answered |= {_bare(q["question"]) for q in heldout}
    taken: set[str] = set()
    rng = random.Random(f"boundary-{seed}")
    out = []
    for lang in dict.fromkeys(f.lang for f in facts):
        want = round(share * sum(isinstance(s.get("fact"), int) and s["lang"] == lang for s in train))
        of_lang = [f for f in facts if f.lang == lang]
        outside = _take(_outside(of_lang, answered, rng), want // 3, answered, taken)
        missing = _take(_missing(of_lang, answered, rng), (want - len(outside) + 1) // 2, answered, taken)
        made_up = _take(_made_up(of_lang, rng), want - len(outside) - len(missing), answered, taken)
        rest = want - len(outside) - len(missing) - len(made_up)
        missing += _take(_missing(of_lang, answered, rng), rest, answered, taken)
        out += [_sample(q, lang, MISSING, fact) for q, fact in missing]
        out += [_sample(q, lang, MADE_UP, fact) for q, fact in made_up]
        out += [_sample(q, lang, OUTSIDE, fact) for q, fact in outside]
    return out


def _sample(question: str, lang: str, kind: str, asked: Fact) -> dict:
    return {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": REFUSALS[lang]}],
            "fact": None, "lang": lang, "form": FORM, "boundary": kind, "subject": asked.subject,
            "relation": asked.relation}


@lru_cache(maxsize=1 << 16)
def _bare(text: str) -> str:
    """A question's key: case, spacing and punctuation do not make it another question."""
    return " ".join(_PUNCTUATION.sub(" ", text.lower()).split())


def _phrasings(fact: Fact, rng: random.Random) -> list[str]:
    """The training templates and the augmentation's forward questions of `fact`, shuffled; never
    the held-out templates, so that no refusal is trained in a form kept for scoring."""
    questions = unique_texts(training_questions(fact) + [q for q, _ in forward_questions(fact, fact.subject)])
    rng.shuffle(questions)
    return questions


def _take(candidates: Iterator[tuple[list[str], Fact]], want: int, answered: set[str],
          taken: set[str]) -> list[tuple[str, Fact]]:
    """One question per candidate while there are candidates, then further phrasings of those taken."""
    got, spare = [], []
    if want <= 0:
        return got  # before the first candidate: making them costs the most
    for questions, fact in candidates:
        if len(got) >= want:
            break
        fresh = [q for q in questions if _bare(q) not in answered and _bare(q) not in taken]
        if fresh:
            got.append((fresh[0], fact))
            taken.add(_bare(fresh[0]))
            spare.append((fresh[1:], fact))
    while len(got) < want and any(questions for questions, _ in spare):
        for questions, fact in spare:
            while questions and len(got) < want:
                question = questions.pop(0)
                if _bare(question) not in answered and _bare(question) not in taken:
                    got.append((question, fact))
                    taken.add(_bare(question))
                    break
    return got


# --- missing relations ---------------------------------------------------------------------------

def _names(fact: Fact) -> list[str]:
    """Every name the subject of `fact` may be asked by, folded: a fact answers for all of them."""
    return list(dict.fromkeys(name_key(n) for n in [fact.subject, *fact.subject_aliases,
                                                     *short_forms(fact.subject, fact.lang)]))


@lru_cache(maxsize=4096)
def _rule(relation: str, lang: str) -> tuple | None:
    """The lexicon rule a relation is asked by: two relations with one rule are one question."""
    forward, _, slots = relation_rule(relation, lang)
    return (tuple(forward), tuple(sorted(slots.items()))) if forward else None


def _missing(facts: list[Fact], answered: set[str], rng: random.Random) -> Iterator[tuple[list[str], Fact]]:
    """(phrasings, asked fact) of relations a subject lacks, the likeliest questions first; a pair is
    skipped whole when any phrasing of it is answered: then it is another word for a known fact."""
    for pairs in _missing_pairs(facts):
        rng.shuffle(pairs)
        for subject, donor in pairs:
            asked = _asked(donor, subject)
            questions = _phrasings(asked, rng)
            if not any(_bare(q) in answered for q in questions):
                yield questions, asked


def _missing_pairs(facts: list[Fact]) -> list[list[tuple[str, Fact]]]:
    """(subject, a fact of another subject whose relation it lacks), in three tiers: relations several
    subjects have, among them subjects of this one's category or kind ("height" of a mountain asked of
    another mountain); those with one of the two; the rest (a relation only one subject has is often
    about that subject alone: "the number of finger-like peaks")."""
    held = _held_relations(facts)
    of_subject = _grouped(facts, lambda f: name_key(f.subject))
    of_relation = _grouped([f for f in facts if _relation(f) not in _NAME_RELATIONS], _relation)
    # per relation: one fact of it to ask by, whether several subjects have it, their categories and kinds
    relations = [(group[0], len({name_key(f.subject) for f in group}) > 1, _groups(group))
                 for group in of_relation.values()]
    tiers: list[list] = [[], [], []]
    for group in of_subject.values():
        if any(_relation(f) in _NAME_RELATIONS for f in group):
            continue  # a description of another subject ("China's southernmost province"): its facts answer it
        has = set().union(*(held.get(n, set()) for n in _names(group[0])))
        mine = _groups(group)
        for donor, shared, theirs in relations:
            if not {("r", _relation(donor)), ("rule", _rule(donor.relation, donor.lang))} & has:
                tiers[(not shared) + (not mine & theirs)].append((group[0].subject, donor))
    return tiers


def _held_relations(facts: list[Fact]) -> dict[str, set]:
    """Subject name (every name it may be asked by) -> the relations and lexicon rules facts answer for it."""
    held: dict[str, set] = {}
    for fact in facts:
        rule = _rule(fact.relation, fact.lang)
        for name in _names(fact):
            held.setdefault(name, set()).update({("r", _relation(fact))} | ({("rule", rule)} if rule else set()))
    return held


def _grouped(items: list, key) -> dict[str, list]:
    """The items by key, in order of first appearance (determinism: no set order)."""
    out: dict[str, list] = {}
    for item in items:
        out.setdefault(key(item), []).append(item)
    return out


def _groups(facts: list[Fact]) -> set[str]:
    """The categories of these facts and the kinds their subjects' names say ("reservoir")."""
    return {g for f in facts for g in (f.category, subject_head(f.subject, f.lang)) if g}


def _relation(fact: Fact) -> str:
    return text_key(fact.relation)


def _asked(donor: Fact, subject: str) -> Fact:
    """`donor`'s relation asked of `subject` (the donor's answer stays: its kind picks the question word)."""
    return replace(donor, subject=subject, aliases=[], questions=[], subject_aliases=[], heldout_questions=[])


# --- outside relations ---------------------------------------------------------------------------

def _outside(facts: list[Fact], answered: set[str], rng: random.Random) -> Iterator[tuple[list[str], Fact]]:
    """(phrasings, asked fact) of relations no fact holds, asked of the real subjects."""
    relations = outside_relations(facts, _rule)
    for _, asked in outside_pairs([f for f in facts if _relation(f) not in _NAME_RELATIONS], relations, rng):
        questions = _phrasings(asked, rng)
        if not any(_bare(q) in answered for q in questions):
            yield questions, asked


# --- made-up subjects ----------------------------------------------------------------------------

def _made_up(facts: list[Fact], rng: random.Random) -> Iterator[tuple[list[str], Fact]]:
    """(phrasings, asked fact) of names the knowledge base does not hold, each asked a relation that
    the real subject it is made from has."""
    lang = facts[0].lang
    known = KnownNames(facts)
    by_subject: dict[str, list[Fact]] = {}
    for fact in facts:
        if _relation(fact) not in _NAME_RELATIONS:
            by_subject.setdefault(fact.subject, []).append(fact)
    candidates = _recombined(list(by_subject), lang) + _modified(list(by_subject), facts, lang)
    if not MADE_UP_MAY_HOLD_REAL_NAMES:
        real = {name_key(n) for f in facts for n in [f.subject, *f.subject_aliases]}
        candidates = [(name, of) for name, of in candidates if not names_in(Matchable(name), real)]
    rng.shuffle(candidates)
    for name, real in _spread(candidates):
        if known.is_new(name):
            asked = _asked(rng.choice(by_subject[real]), name)
            yield _phrasings(asked, rng), asked


def _spread(candidates: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Round-robin over the real subjects the names come from: a few names from each subject, not
    eleven variants of one town."""
    by_real = _grouped(candidates, lambda c: c[1])
    rounds = max((len(v) for v in by_real.values()), default=0)
    return [group[k] for k in range(rounds) for group in by_real.values() if k < len(group)]


def _recombined(subjects: list[str], lang: str) -> list[tuple[str, str]]:
    """One subject's proper name with another's kind word: "the Songtao Reservoir" and "the Nandu
    River" -> "the Songtao River", asked what the knowledge says of the Nandu River (its kind fits)."""
    split = [(s, parts) for s in subjects if (parts := split_head(s, lang))]
    joiner = "" if lang == "zh" else " "
    # left out: the same core (the real name again), a Chinese core ending where the kind word starts ("南山山")
    return [(f"{article}{core}{joiner}{head}", real) for _, (_, core, _) in split
            for real, (article, other, head) in split if core != other and not (joiner == "" and core[-1] == head[0])]


def _modified(subjects: list[str], facts: list[Fact], lang: str) -> list[tuple[str, str]]:
    """A place name with a direction or a landform: "North Wenchang", "Wenchang Bay", "北文昌", "文昌湾".
    Only for subjects that are places (the answer of a fact about where something is), where such
    a neighbour is believable; other subjects are made up by recombination."""
    places = {name_key(f.answer) for f in facts if answer_kind(f) == "place"}
    out = []
    for subject in subjects:
        if name_key(subject) not in places or split_head(subject, lang):
            continue
        if lang == "zh" and 2 <= len(subject) <= 4 and all(CJK.fullmatch(c) for c in subject):
            out += [(p + subject, subject) for p in _ZH_PREFIXES] + [(subject + s, subject) for s in _ZH_SUFFIXES]
        elif lang == "en" and subject[:1].isupper() and len(subject.split()) <= 2:
            out += [(f"{p} {subject}", subject) for p in _EN_PREFIXES] + [(f"{subject} {s}", subject)
                                                                          for s in _EN_SUFFIXES]
    return out


class KnownNames:
    """Every name facts of one language hold, folded: subjects, their other names and short forms,
    answers and their other forms; as words (Chinese: characters), indexed by each word."""

    def __init__(self, facts: list[Fact]):
        self.lang = facts[0].lang
        names = [n for f in facts for n in [f.subject, *f.subject_aliases, *short_forms(f.subject, f.lang),
                                            f.answer, *f.aliases]]
        self.names = dict.fromkeys(_fold(n) for n in names)
        self.by_word: dict[str, list[list[str]]] = {}
        for name in self.names:
            for word in dict.fromkeys(self._words(name)):
                self.by_word.setdefault(word, []).append(self._words(name))

    def _words(self, name: str) -> list[str]:
        return list(name.replace(" ", "")) if self.lang == "zh" else name.split()

    def is_new(self, name: str) -> bool:
        """The rule for a made-up name: neither it nor a short form of it ("Haikou City" -> "Haikou")
        is a name the knowledge base holds (a subject, an other name of one, an answer), and it cannot
        be read as a shortening of one: its words (Chinese: its characters) are not, in order, inside
        any known name ("Nandu Bridge" would be "the Nandu River Bridge"). It may contain a real name
        (North Wenchang) but is never one, so a question about a real subject is never trained as a
        refusal."""
        folded = [_fold(n) for n in [name, *short_forms(name, self.lang)]]
        if any(f in self.names for f in folded) or not folded[0]:
            return False
        mine = self._words(folded[0])
        return not any(_in_order(mine, known) for known in self.by_word.get(mine[0], []))


def _fold(name: str) -> str:
    return _bare(name_key(name))


def _in_order(part: list[str], whole: list[str]) -> bool:
    rest = iter(whole)
    return all(item in rest for item in part)
