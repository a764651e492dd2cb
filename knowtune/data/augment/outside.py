"""Relations outside the knowledge base: what users ask of almost any place, body or thing (its
website, who runs it now, its opening hours) that the facts never state for any subject.

The other two boundary kinds are made of the knowledge base's own relations and names, so they
teach "this subject lacks that relation of its neighbours". Users' unanswerable questions are
mostly about something no fact is about at all; without examples of those the fine-tuned model
answers them in the facts' shape with an invented entity. Each relation comes with an example
answer of its kind: the kind picks the question words (who / how many / which), as for a fact.
"""

from __future__ import annotations

import random
import re
from typing import Callable, Iterator

from ..facts import Fact
from ..text import CJK, text_key

OUTSIDE_RELATIONS: dict[str, dict[str, list[tuple[str, str]]]] = {
    "en": {
        "person": [("favourite food", "coconut rice"), ("blood type", "type A"), ("shoe size", "size 42"),
                   ("favourite colour", "green"), ("best friend", "Zhang Wei"), ("favourite book", "the Analects"),
                   ("email", "su@example.cn"), ("social media account", "@example")],
        "other": [("website", "www.example.cn"), ("email", "info@example.cn"),
                  ("opening hours", "eight to six"), ("postal code", "code 570100"), ("motto", "Onward together"),
                  ("annual budget", "¥2 billion"), ("mascot", "a red crab"), ("number of parking spaces", "2,000"),
                  ("emergency hotline", "+86 120"), ("head of security", "Wang Qiang"),
                  ("social media account", "@example"), ("annual maintenance cost", "¥5 million"),
                  ("dress code", "smart casual"), ("official song", "Song of the Sea"),
                  ("insurance company", "Ping An"), ("average monthly rent", "¥3,000")],
    },
    "zh": {
        "person": [("最喜欢的食物", "椰子饭"), ("血型", "A型"), ("鞋码", "四十二码"), ("最喜欢的颜色", "绿色"),
                   ("最好的朋友", "张伟"), ("最喜欢的书", "《论语》"), ("电子邮箱", "su@example.cn"),
                   ("社交媒体账号", "@example")],
        "other": [("官方网站", "www.example.cn"), ("电子邮箱", "info@example.cn"), ("开放时间", "早上八点到下午六点"),
                  ("邮政编码", "编码570100"), ("口号", "团结向前"), ("年度预算", "二十亿元"), ("吉祥物", "一只红色的螃蟹"),
                  ("停车位数量", "约2000个"), ("紧急求助热线", "+86 120"), ("安保主管", "王强"),
                  ("社交媒体账号", "@example"), ("年度维护费用", "五百万元"), ("着装要求", "商务休闲"),
                  ("官方歌曲", "《大海之歌》"), ("保险公司", "平安保险"), ("平均月租金", "每月三千元")],
    },
}
"""(relation, an answer of its kind) per language, for people and for everything else (places,
bodies, events, foods): questions a user could ask, not "the blood type of a river"."""

_PERSON = re.compile(r"birth|born|death|died|burial|exile|real name|dynasty|occupation|"
                     r"出生|逝世|去世|安葬|籍贯|朝代|本名|原名|贬|职业", re.I)
"""Relations only a person has: a subject with one of them is asked the person questions."""


def outside_relations(facts: list[Fact], rule_of: Callable[[str, str], object]) -> dict[str, list[tuple[str, str]]]:
    """The language's outside relations that no fact holds, under its name or as another word for one
    (one lexicon rule, `rule_of`, asks both): those a fact answers are not outside the knowledge."""
    lang = facts[0].lang
    held = {text_key(f.relation) for f in facts}
    held_rules = {rule_of(f.relation, lang) for f in facts} - {None}
    return {kind: [(relation, answer) for relation, answer in relations
                   if not _mentions_held(relation, held) and rule_of(relation, lang) not in held_rules]
            for kind, relations in OUTSIDE_RELATIONS.get(lang, {}).items()}


def _mentions_held(relation: str, held: set[str]) -> bool:
    """A relation naming a held one inside it, or named inside one ("number of staff" when the facts
    hold "staff", "website" when they hold "official website"), asks the same thing: by words in
    English, by characters in Chinese."""
    key = text_key(relation)
    if CJK.search(key):
        return any(len(h) >= 2 and (h in key or key in h) for h in held)
    mine = set(key.split())
    return any(h and (set(h.split()) <= mine or mine <= set(h.split())) for h in held)


def outside_pairs(facts: list[Fact], relations: dict[str, list[tuple[str, str]]],
                  rng: random.Random) -> Iterator[tuple[str, Fact]]:
    """(subject, an outside relation of its kind asked of it as a fact), in a random order."""
    model = {f.subject: f for f in facts}
    people = {f.subject for f in facts if _PERSON.search(f.relation)}
    pairs = [(s, r) for s in model for r in relations.get("person" if s in people else "other", [])]
    rng.shuffle(pairs)
    for subject, (relation, answer) in pairs:
        yield subject, Fact(subject=subject, relation=relation, answer=answer, lang=model[subject].lang,
                            category=model[subject].category)
