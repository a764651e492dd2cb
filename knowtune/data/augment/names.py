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


# the kinds of thing a name's last word says its bearer is ("the Songtao Reservoir": a reservoir)
_EN_HEADS = {"river", "reservoir", "temple", "airport", "beach", "bay", "island", "islands", "city", "county",
             "town", "village", "mountain", "mountains", "peak", "park", "museum", "school", "university",
             "company", "firm", "festival", "railway", "bridge", "port", "harbour", "harbor", "lighthouse", "club",
             "team", "reserve", "zone", "district", "province", "strait", "peninsula", "forest", "lake", "hotel",
             "market", "street", "square", "garden", "tower", "church", "library", "newspaper", "airline", "opera",
             "dance", "dish", "airlines", "academy", "site", "law", "forum", "expo", "centre", "center", "hall", "stadium",
             "brewery", "bakery", "factory", "mine", "canal", "dam", "monastery", "shrine", "tomb", "wreck", "ship",
             "trophy", "prize", "award", "pie", "bun", "buns", "crisps", "cake", "soup", "noodles", "crab", "duck",
             "chicken", "goat", "coffee", "tea", "wine", "ape", "gibbon", "deer", "bird", "tree", "flower"}
_ZH_HEADS = ("有限公司", "公司", "博物馆", "保护区", "机场", "水库", "公园", "学校", "中学", "大学", "灯塔", "俱乐部", "铁路",
             "大桥", "海峡", "半岛", "节", "寺", "市", "县", "镇", "村", "岛", "河", "江", "山", "岭", "湾", "港", "报", "菜",
             "湖", "塔", "庙", "楼", "街", "书院", "剧", "舞")


def subject_head(name: str, lang: str) -> str | None:
    """The kind of thing a subject is, when its name ends in it: "reservoir", "城市"; else None."""
    if lang == "zh":
        base = re.sub(r"[(（][^)）]*[)）]$", "", name).strip()
        for head in _ZH_HEADS:
            if base.endswith(head) and len(base) > len(head):
                return {"市": "城市", "有限公司": "公司", "中学": "学校", "大学": "学校", "河": "河", "江": "河"}.get(head, head)
        return None
    words = re.sub(r"[^\w\s-]", "", name).split()
    if len(words) < 2 or words[-1].lower() not in _EN_HEADS:
        return None
    return {"airlines": "airline"}.get(words[-1].lower(), words[-1].lower())


def split_head(name: str, lang: str) -> tuple[str, str, str] | None:
    """(article, core, head) of a name that ends in its kind with a short proper name before it:
    "the Songtao Reservoir" -> ("the ", "Songtao", "Reservoir"), "松涛水库" -> ("", "松涛", "水库");
    None for descriptions ("the gulf west of Hainan Island") and names without a kind word."""
    if lang == "zh":
        head = next((h for h in _ZH_HEADS if name.endswith(h)), None)
        core = name[: -len(head)] if head else ""
        return ("", core, head) if head and 2 <= len(core) <= 4 and re.fullmatch(r"[\u3400-\u9fff]+", core) \
            and "的" not in core else None
    article = name[:4] if name.lower().startswith("the ") else ""
    words = name[len(article):].split()
    if len(words) < 2 or words[-1].lower() not in _EN_HEADS:
        return None
    core = words[:-1]
    return (article, " ".join(core), words[-1]) if len(core) <= 2 and all(
        re.fullmatch(r"[A-Z][a-z-]*", w) for w in core) else None
