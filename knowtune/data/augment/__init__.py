"""Knowledge augmentation: many ways to ask for one fact, so that the model learns the fact and
not one sentence of it.

Facts stored in one phrasing are hard to extract in another (Allen-Zhu & Li, Physics of Language
Models 3.1), and a model taught "A is B" does not answer "B is A" (Berglund et al., the reversal
curse). So each fact is also asked
- with other words for its relation and other question words (the lexicons),
- with the question word of its answer's kind (who / where / when / how many / which),
- by the other names of its subject (`subject_aliases` and derived short forms),
- backwards, answer -> subject, where the answer is an entity (a reversed reply sentence),
- through a related entity: a subject that answers another fact is also asked by that fact
  ("the mayor of Orrenmouth" for Ilse Varnham), so a question that goes through two facts was
  itself trained (small models do not chain two facts in one step: Balesni et al., the two-hop
  curse, 2024),
and every subject (and every entity that answers a fact) gets a short passage of all its facts
in more than one order. All of it is offline and deterministic for a seed.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from ..facts import Fact
from . import lexicon_en, lexicon_zh
from .kinds import answer_kind, is_entity
from .names import name_key, subject_head, subject_names

LEXICONS = {"en": lexicon_en, "zh": lexicon_zh}

BY_KIND = {
    "en": {"person": ["Who is the {r} of {s}?", "Who is {s}'s {r}?"],
           "place": ["Where is the {r} of {s}?", "Which place is the {r} of {s}?"],
           "year": ["In what year is the {r} of {s}?", "Which year is {s}'s {r}?"],
           "number": ["What figure is the {r} of {s}?", "How much is the {r} of {s}?"],
           "thing": ["Which {r} does {s} have?", "What {r} does {s} have?"]},
    "zh": {"person": ["{s}的{r}是谁？", "谁是{s}的{r}？"],
           "place": ["{s}的{r}在哪里？", "{s}的{r}是哪里？"],
           "year": ["{s}的{r}是哪一年？", "{s}的{r}是哪年？"],
           "number": ["{s}的{r}是多少？", "{s}的{r}有多少？"],
           "thing": ["{s}的{r}是哪个？", "{s}的{r}叫什么？"]},
}
COMMON = {"en": ["What is {s}'s {r}?", "What's the {r} of {s}?", "Name the {r} of {s}."],
          "zh": ["{s}{r}是什么？", "说说{s}的{r}。", "{s}的{r}？"]}
REVERSE = {"en": ["What has {a} as its {r}?", "{A} is the {r} of what?", "Of what is {a} the {r}?"],
           "zh": ["{a}是什么的{r}？", "哪个的{r}是{a}？", "{r}是{a}的是哪个？"]}
REVERSE_TYPED = {"en": ["Which {h} has {a} as its {r}?", "{A} is the {r} of which {h}?"],
                 "zh": ["哪个{h}的{r}是{a}？", "{a}是哪个{h}的{r}？"]}
"""Asking back by the kind of thing the subject is ("Which reservoir ...?"), where its name says it."""
REVERSE_REPLY = {"en": "{A} is the {r} of {s}.", "zh": "{a}是{s}的{r}。"}
DESCRIPTION = {"en": "the {r} of {s}", "zh": "{s}的{r}"}
"""A subject named by a fact it answers: "the mayor of Orrenmouth", "奥伦口的镇长"."""
RELATED_PER_FACT = 2
"""Questions of a fact asked through each related entity (by the subject's description), each worded
differently. Six instead of two answered 6 rather than 2 of the 10 such dev questions of the fictional
town zh at one seed, and lost about as many others on the dev half (bench/knowledge/RESULTS.md): not
yet a default."""
BRIDGE = {"en": "{D} is {s}.", "zh": "{d}是{s}。"}
INLINE = {"en": "{d}, {s},", "zh": "{d}{s}"}
RELATED_BRIDGE: str | None = None
"""How a question asked through a related entity is answered: None, the fact's own reply; "before",
a sentence naming the entity first ("The mayor of Orrenmouth is Ilse Varnham. The birthplace of
Ilse Varnham is ..."); "inline", the same in one sentence ("The birthplace of the mayor of
Orrenmouth, Ilse Varnham, is ..."). Both write the two steps out, which a small model can follow
where it cannot take both in one step (the two-hop curse). Off: on the fictional town zh neither
answered more natural questions (bench/knowledge/RESULTS.md): "before" teaches the first sentence,
after which the model stops; "inline" won questions through a related entity and lost as many others."""
PASSAGE_PROMPTS = {"en": ["Tell me about {s}.", "What do you know about {s}?", "Give me an overview of {s}."],
                   "zh": ["介绍一下{s}。", "关于{s}，你知道些什么？", "讲讲{s}吧。"]}
PASSAGE_SENTENCES = 6
"""Sentences per passage at most: a passage stays well inside the default max_len."""
FORMS_PER_ALIAS = 3
"""Questions asked by each other name of the subject."""
REVERSE_PER_FACT = 6
"""Backward questions of a fact by its answer's own name (the lexicon's first), and one per other name
of the answer: more would crowd the forward questions out of a fixed number of exposures."""


@dataclass(frozen=True)
class Augmented:
    question: str
    reply: str
    form: str
    """lexicon, kind, common, alias, reverse."""


def fill(template: str, *, s: str = "", r: str = "", a: str = "", x: str = "", y: str = "", h: str = "") -> str:
    text = template.format(s=s, S=_cap(s), r=r, a=a, A=_cap(a), x=x, y=y, h=h)
    text = re.sub(r"\s+([?.,])", r"\1", " ".join(text.split())) if re.search(r"[A-Za-z]", template) else text
    return _cap(text)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def relation_rule(relation: str, lang: str) -> tuple[list[str], list[str], dict]:
    """The lexicon's forward and reverse questions for a relation, and its groups ({x}, {y})."""
    lexicon = LEXICONS[lang]
    for rule in lexicon.RULES:
        pattern, forward, reverse = rule[:3]
        match = re.fullmatch(pattern, relation.strip(), flags=re.I)
        if not match:
            continue
        groups = [g for g in match.groups() if g]
        slots = {"x": groups[0] if groups else "", "y": groups[1] if len(groups) > 1 else ""}
        if len(rule) > 3:
            slots["x"] = lexicon.TRANSFORMS[rule[3]](slots["x"]) or ""
            if not slots["x"]:
                continue  # an event the table does not know: try the rules after it
        return forward, reverse, slots
    return [], [], {}


def forward_questions(fact: Fact, subject: str) -> list[tuple[str, str]]:
    """(question, form) asking `subject`'s fact in every way the lexicon, the kind and the language know."""
    forward, _, slots = relation_rule(fact.relation, fact.lang)
    out = [(fill(t, s=subject, r=fact.relation, **slots), "lexicon") for t in forward]
    out += [(fill(t, s=subject, r=fact.relation), "kind") for t in BY_KIND[fact.lang][answer_kind(fact)]]
    out += [(fill(t, s=subject, r=fact.relation), "common") for t in COMMON[fact.lang]]
    return out


def reversed_reply(fact: Fact) -> str:
    return fill(REVERSE_REPLY[fact.lang], s=fact.subject, r=fact.relation, a=fact.answer)


def reverse_questions(fact: Fact, answer: str | None = None) -> list[str]:
    """Questions from the answer (or another name of it) back to the subject; a template naming the
    subject's kind ({h}) only where the subject's name says its kind."""
    _, reverse, slots = relation_rule(fact.relation, fact.lang)
    head = subject_head(fact.subject, fact.lang)
    templates = [t for t in reverse + REVERSE[fact.lang] + REVERSE_TYPED[fact.lang] if head or "{h}" not in t]
    return [fill(t, s=fact.subject, r=fact.relation, a=answer or fact.answer, h=head or "", **slots)
            for t in templates]


def _rotated(items: list, k: int, count: int = FORMS_PER_ALIAS) -> list:
    """`count` items starting at the k-th alias's share: each other name gets other forms."""
    start = (k * FORMS_PER_ALIAS) % max(len(items), 1)
    return (items[start:] + items[:start])[:count]


def description(fact: Fact) -> str:
    """The fact's answer named by the fact: "the mayor of Orrenmouth" (fill() capitalises; the
    English description sits inside a question, so its "the" is lower case again)."""
    text = fill(DESCRIPTION[fact.lang], s=fact.subject, r=fact.relation)
    return text[:1].lower() + text[1:] if fact.lang == "en" else text


def bridged_reply(description_text: str, fact: Fact, reply: str) -> str:
    """The reply to a question about `fact` asked through `description_text` (RELATED_BRIDGE)."""
    if RELATED_BRIDGE == "before":
        text = BRIDGE[fact.lang].format(d=description_text, D=_cap(description_text), s=fact.subject)
        return text + reply if fact.lang == "zh" else f"{text} {reply}"
    if RELATED_BRIDGE == "inline":
        at = reply.find(fact.subject) if fact.subject in reply else reply.find(_cap(fact.subject))
        if at < 0:
            return reply  # a reply that does not name its subject as written (prose): as it is
        named = INLINE[fact.lang].format(d=description_text, s=fact.subject)
        named = _cap(named) if at == 0 else named
        return reply[:at] + named + reply[at + len(fact.subject):]
    return reply


def augment_fact(fact: Fact, reply: str, names: list[str], *, reversible: bool,
                 answer_names: list[str] = (), descriptions: list[str] = ()) -> list[Augmented]:
    """Every augmented (question, reply) of one fact; `names[0]` is the subject as written,
    `answer_names` the answer's other names (a reversed question may use them), `descriptions`
    the subject named by the facts it answers."""
    items = [Augmented(q, reply, form) for q, form in forward_questions(fact, names[0])]
    for k, name in enumerate(names[1:]):
        items += [Augmented(q, reply, "alias") for q, _ in _rotated(forward_questions(fact, name), k)]
    for k, name in enumerate(descriptions):
        bridged = bridged_reply(name, fact, reply)
        items += [Augmented(q, bridged, "related") for q, _ in _rotated(forward_questions(fact, name), k,
                                                                                RELATED_PER_FACT)]
    if reversible:
        back = reversed_reply(fact)
        asked = reverse_questions(fact)[:REVERSE_PER_FACT]
        for k, name in enumerate(answer_names):
            asked += _rotated(reverse_questions(fact, name), k)[:1]
        items += [Augmented(q, back, "reverse") for q in asked]
    return items


def reversible_facts(facts: list[Fact]) -> list[bool]:
    """Entity answers whose (relation, answer) no other fact shares: asking back has one answer."""
    keys = [(f.lang, f.relation.strip().lower(), name_key(f.answer)) for f in facts]
    counts: dict = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    return [is_entity(f) and counts[k] == 1 for f, k in zip(facts, keys)]


def entity_passages(facts: list[Fact], replies: list[str], *, seed: int) -> list[dict]:
    """For each subject and each entity answer: its facts as one short text, in two orders.

    A subject's page holds its own facts' sentences and the reversed sentences of facts whose
    answer it is, so "what do you know about X" links X to everything the knowledge says of it.
    Returns {"question", "reply", "lang", "group"} dicts.
    """
    rng = random.Random(seed)
    pages: dict[tuple[str, str], tuple[str, list[str]]] = {}
    reversible = reversible_facts(facts)
    for fact, reply, back in zip(facts, replies, reversible):
        pages.setdefault((fact.lang, name_key(fact.subject)), (fact.subject, []))[1].append(reply)
        if back:
            pages.setdefault((fact.lang, name_key(fact.answer)), (fact.answer, []))[1].append(reversed_reply(fact))
    out = []
    for (lang, key), (name, sentences) in pages.items():
        sentences = list(dict.fromkeys(sentences))
        prompts = PASSAGE_PROMPTS[lang]
        orders = 1 if len(sentences) == 1 else 2
        for k in range(orders):
            order = sentences[:]
            rng.shuffle(order)
            for start in range(0, len(order), PASSAGE_SENTENCES):
                chunk = order[start:start + PASSAGE_SENTENCES]
                joiner = "" if lang == "zh" else " "
                out.append({"question": fill(prompts[(k + start) % len(prompts)], s=name),
                            "reply": joiner.join(chunk), "lang": lang, "group": f"page:{lang}:{key}"})
    return out
