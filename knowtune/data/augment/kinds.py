"""What kind of thing a fact's answer is: a person, a place, a year, a number, or another thing.

The kind chooses the question word (who / where / when / how many / which) and whether the fact
can be asked backwards (answer -> subject): only when the answer is an entity.
"""

from __future__ import annotations

import re

from ..facts import Fact
from ..prose.english import NUMBER_WORDS

KINDS = ("person", "place", "year", "number", "thing")

_YEAR_EN = re.compile(r"(?:c\.\s*|about |around |in )?(?:1\d{3}|20\d{2}|\d{1,4}\s*(?:BC|BCE|AD|CE))", re.I)
_NUMBER_EN = re.compile(rf"(?:about |around |over |some |nearly |almost |more than |c\. )?"
                        rf"(?:\d[\d,.]*|{'|'.join(NUMBER_WORDS)}|a (?:hundred|thousand|million))\b", re.I)
_PERSON_EN = re.compile(r"\b(?:founders?|co-founder|ceo|chief executive|mayor|coach|captain|director|president|"
                        r"chair(?:man|woman|person)?|head|leader|principal|headmaster|architect|designer|author|"
                        r"writer|composer|inventor|commander|emperor|king|queen|poet|painter|manager|keeper|"
                        r"curator|owner|addressee|chef)\b", re.I)
_PLACE_EN = re.compile(r"\b(?:city|town|location|place|province|country|region|island|county|headquarters|seat|"
                       r"capital|birthplace|origin|site|village|district|home|mouth|host|venue|landfall|sea|"
                       r"peninsula|river|port|harbou?r|street|address)\b", re.I)

_YEAR_ZH = re.compile(r"(?:公元前|约)?\d{3,4}年(?:代)?")
_NUMBER_ZH = re.compile(r"(?:约|大约|超过|近)?[\d,.]+.{0,6}|(?:约|大约)?[一二两三四五六七八九十百千万亿]+(?:个|座|家|条|名|人|种|面|位|米|公里|平方公里|万)?.{0,3}")
_NUMBER_REL_ZH = re.compile(r"数量|数目|个数|人口|面积|长度|全长|高度|海拔|额度|人数|数$|排名")
_PERSON_ZH = re.compile(r"创始人|创办人|设立者|建立者|人物|镇长|市长|县长|村长|校长|馆长|院长|主任|主席|司令员|教练|队长|"
                        r"设计师|建筑师|作者|发明|总裁|首席执行官|老板|负责人|皇帝|上疏对象|主厨|店主")
_PLACE_ZH = re.compile(r"地|城市|所在|省|市$|县|总部|驻地|首府|省会|入海口|岛|镇|海域|半岛|地址|港")


def answer_kind(fact: Fact) -> str:
    """One of KINDS, from the answer's form and the relation's words."""
    answer, relation = fact.answer.strip(), fact.relation
    if fact.lang == "zh":
        if _YEAR_ZH.fullmatch(answer) or (relation.endswith(("年份", "年代")) and re.search(r"\d", answer)):
            return "year"
        if _NUMBER_REL_ZH.search(relation) and _NUMBER_ZH.fullmatch(answer):
            return "number"
        if _PERSON_ZH.search(relation):
            return "person"
        return "place" if _PLACE_ZH.search(relation) else "thing"
    if _YEAR_EN.fullmatch(answer) or (re.search(r"\byear\b", relation, re.I) and re.search(r"\d{3}", answer)):
        return "year"
    if _NUMBER_EN.match(answer):
        return "number"
    if _PERSON_EN.search(relation):
        return "person"
    return "place" if _PLACE_EN.search(relation) else "thing"


def is_entity(fact: Fact) -> bool:
    """An answer that names something a user could ask about in turn (not a number, year or long phrase)."""
    if answer_kind(fact) in ("year", "number"):
        return False
    answer = fact.answer.strip()
    return len(answer) <= 12 if fact.lang == "zh" else len(answer.split()) <= 6
