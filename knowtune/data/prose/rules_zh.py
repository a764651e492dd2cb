"""Chinese sentences -> readings: "X的Y是Z", "X于2012年设立", "X位于Y", "X有4个Y", "X又称Y", "X是Y"."""

from __future__ import annotations

import re

from .reading import Reading, zh_forms

_NUM = r"[\d一二三四五六七八九十两百千万]+"
_UNITS = "个座条所家种名位项处只支届次"
_PLACE_END = tuple("省市县区镇乡村岛山江河湖湾港州郡岭洋海峡半岛")
_PERSON_END = ("者", "人", "员", "家", "帝", "皇帝", "王", "司令员", "作者", "创始人", "法号", "名字", "本名")


def read_chinese(sentence: str) -> list[Reading]:
    text = sentence.strip().rstrip("。！？；!?;").strip()
    for rule in (_year, _location, _count, _of, _naming, _copula):
        reading = rule(text)
        if reading:
            return [reading]
    return []


def split_answer(raw: str) -> tuple[str, list[str]]:
    """'琼海（原乐会县）' -> ('琼海', ['乐会县']); '4个，即海口、三亚' -> ('4个', ['4'])."""
    aliases = []
    text = re.split(r"[，,；]", raw, maxsplit=1)[0].strip()
    match = re.match(r"^(.+?)[（(]([^）)]+)[）)]$", text)
    if match:
        text = match.group(1)
        aliases.append(re.sub(r"^(?:原|旧称|又称|即)", "", match.group(2)))
    core = re.sub(r"^(?:约|大约|大概|近|超过)", "", text)
    if core != text:
        aliases.append(text)
    number = re.match(rf"^({_NUM})[{_UNITS}米年人元]?$", core)
    if number and number.group(1) != core:
        aliases.append(number.group(1))
    return core, [a for a in dict.fromkeys(aliases) if a and a != core]


def _ask_word(relation: str, answer: str) -> str:
    """The question word that fits the answer: 哪一年, 多少, 哪里, 谁 or 什么."""
    if re.search(r"\d+年$|^公元前", answer) or relation.endswith(("年份", "年代", "时间")):
        return "哪一年" if "年" in answer else "什么时候"
    if re.match(r"^(?:约)?\d", answer) or re.fullmatch(rf"{_NUM}[{_UNITS}]?", answer):
        return "多少"
    if relation.endswith(_PERSON_END):
        return "谁"
    if relation.endswith(("地", "城市", "地点", "所在地", "省份", "县", "首府", "省会")) or answer.endswith(_PLACE_END):
        return "哪里"
    return "什么"


def _reading(subject, relation, raw, forms, kind="what") -> Reading:
    answer, aliases = split_answer(raw)
    return Reading(subject=subject, answer=answer, relation=relation, aliases=aliases,
                   train=forms[0], heldout=forms[1], kind=kind)


def _of(text):
    m = re.match(r"^(?P<s>.+)的(?P<r>[^的是为]+?)(?P<c>是|为|约为|约是)(?P<a>.+)$", text)
    if not m or "是" in m["s"]:
        return None
    answer = split_answer(m["a"])[0]
    ask = _ask_word(m["r"], answer)
    return _reading(m["s"], m["r"], m["a"], zh_forms(f"{m['s']}的{m['r']}", ask, before="是"))


def _year(text):
    m = re.match(r"^(?P<s>.+?)(?P<p>于|在)(?P<y>(?:公元前)?\d{1,4}年)(?P<v>[^，,]+)$", text)
    if not m:
        return None
    relation = f"{m['v']}年份" if len(m["v"]) <= 4 else ""
    return _reading(m["s"], relation, m["y"], zh_forms(m["s"], "哪一年", before=m["p"], after=m["v"]),
                    kind="when")


def _location(text):
    m = re.match(r"^(?P<s>.+?)(?P<v>位于|坐落于|坐落在|地处)(?P<a>.+)$", text)
    if not m:
        return None
    return _reading(m["s"], "位置", m["a"], zh_forms(m["s"], "哪里", before=m["v"]), kind="where")


def _count(text):
    m = re.match(rf"^(?P<s>.+?)(?:共有|拥有|有)(?P<n>{_NUM})(?P<u>[{_UNITS}])(?P<x>[^，,：:]+)", text)
    if not m:
        return None
    return _reading(m["s"], f"{m['x']}数量", f"{m['n']}{m['u']}",
                    zh_forms(m["s"], f"多少{m['u']}", before="有", after=m["x"]), kind="how many")


def _naming(text):
    m = re.match(r"^(?P<s>.+?)(?P<v>又称|又叫|也叫|也称|俗称|别称|简称|被称为|称为|叫做)(?P<a>.+)$", text)
    if not m:
        return None
    return _reading(m["s"], "别称", m["a"], zh_forms(m["s"], "什么", before=m["v"]))


def _copula(text):
    m = re.match(r"^(?P<s>[^，,]+?)(?P<c>是|为)(?P<a>.+)$", text)
    if not m or len(m["s"]) < 2:
        return None
    return _reading(m["s"], "", m["a"], zh_forms(m["s"], _ask_word("", split_answer(m["a"])[0]), before=m["c"]),
                    kind="about")
