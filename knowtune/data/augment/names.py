"""The names a subject may be asked by: the one it is stored under, its `subject_aliases`, and
short forms derived from it ("the Nandu River" -> "Nandu River", "Sanya City" -> "Sanya",
"海南省" -> "海南") unless a short form is the name of another subject of the knowledge base."""

from __future__ import annotations

import re

from ..facts import Fact

_EN_SUFFIXES = (" City", " County", " Province", " Island", " Company", " Ltd", " Inc", " Co.", " Town",
                " Village", " Museum", " Group")
_ZH_SUFFIXES = ("省", "市", "县", "镇", "村", "岛", "公司", "集团", "有限公司")


def name_key(name: str) -> str:
    """A name folded for comparison: case, spacing and a leading "the" do not count."""
    key = " ".join(name.lower().split())
    return key[4:] if key.startswith("the ") else key


def short_forms(name: str, lang: str) -> list[str]:
    forms = []
    base = re.sub(r"\s*[(（][^)）]*[)）]$", "", name).strip()  # "X (Y)" -> "X"; "中国（海南）…" stays whole
    if base and base != name:
        forms.append(base)
    if lang == "zh":
        for suffix in _ZH_SUFFIXES:
            if base.endswith(suffix) and len(base) - len(suffix) >= 2:
                forms.append(base[: -len(suffix)])
                break
        return forms
    plain = base[4:] if base.lower().startswith("the ") else base
    if plain != base:
        forms.append(plain)
    for suffix in _EN_SUFFIXES:
        if plain.endswith(suffix) and len(plain) > len(suffix) + 2:
            forms.append(plain[: -len(suffix)])
            break
    return forms


def subject_names(facts: list[Fact]) -> list[list[str]]:
    """Per fact: its subject first, then its aliases and the short forms no other subject claims."""
    owners: dict[tuple[str, str], set[str]] = {}
    for fact in facts:
        for name in [fact.subject, *fact.subject_aliases]:
            owners.setdefault((fact.lang, name_key(name)), set()).add(name_key(fact.subject))
    out = []
    for fact in facts:
        own = name_key(fact.subject)
        names, seen = [fact.subject], {fact.subject.lower()}
        for name in [*fact.subject_aliases, *short_forms(fact.subject, fact.lang)]:
            if name.lower() in seen or owners.get((fact.lang, name_key(name)), {own}) != {own}:
                continue  # already there, or the name of another subject
            names.append(name)
            seen.add(name.lower())
        out.append(names)
    return out
