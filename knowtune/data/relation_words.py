"""Does a question ask a fact's relation? The words a relation is asked with, for the fact check.

A model fine-tuned on a knowledge base answers a question about a relation it was never taught
with a fact of the same subject that it was: "What was the annual turnover of the Skellwyn Kelp
Company?" -> "The annual turnover of the Skellwyn Kelp Company is 340" (its number of employees).
The reply names the subject asked and an answer of that subject, so naming alone grounds it. The
question's own words tell: none of them is a word the fact's relation is asked with. Those words
are the relation's, its own questions' and the augmentation lexicon's phrasings of it (the same
lexicon that trained the model to answer them), less the names of the fact and the words that only
frame a question ("what", "which", "是", "什么"). Words are compared by their first five letters
("founded", "founder", "founding"); Chinese is cut into words with jieba.
"""

from __future__ import annotations

import functools
import re

from .augment import relation_rule
from .facts import Fact
from .text import CJK, fold, jieba_words

_FRAME_EN = frozenset("""
a an the of in on at by to for from with into about as and or is are was were be been being am do does did
what which who whom whose when where why how many much there their they them its it this that these those
has have had can could would will shall should may might please tell me you your know i name named called
any some ever still each every one ones kind sort type year years number numbers also than more most
""".split())
_FRAME_ZH = frozenset("""
的 是 了 吗 呢 吧 啊 在 有 和 与 及 或 从 到 把 被 给 对 为 于 以 就 都 也 还 又 很 最 更 哪 哪个 哪里 哪儿 哪些 哪一年 哪年
什么 多少 几 几个 谁 怎么 怎样 如何 为什么 请问 请 知道 告诉 叫 叫做 名字 称为 个 座 条 位 年 一 这 那 其 它 他 她 们 上 中 下 里
""".split())


def _words(text: str) -> set[str]:
    """The text's words that may carry a relation: Latin ones stemmed to five letters, Chinese ones whole."""
    folded = fold(text)
    out = {w[:5] for w in re.findall(r"[a-z]+", folded) if len(w) >= 3 and w not in _FRAME_EN}
    if CJK.search(folded):
        out |= {w for w in jieba_words(folded.replace(" ", "")) if CJK.search(w) and w not in _FRAME_ZH}
    return out


@functools.lru_cache(maxsize=4096)
def question_words(question: str) -> frozenset[str]:
    return frozenset(_words(question))


def relation_words(fact: Fact, names: list[str]) -> frozenset[str]:
    """The words the fact's relation is asked with: the relation's own, and those of its questions and
    the lexicon's phrasings less the words of `names` (its subject's and answer's)."""
    forward, reverse, _ = relation_rule(fact.relation, fact.lang)
    texts = [fact.relation, *fact.questions, *(re.sub(r"\{\w+\}", " ", t) for t in forward + reverse)]
    named = set().union(*(_words(n) for n in names)) if names else set()
    # the relation's own words stay even when a name holds them ("city" of "Sanya City")
    return frozenset(_words(fact.relation) | (set().union(*(_words(t) for t in texts)) - named))


def asks_relation(question: frozenset[str], relation: frozenset[str], names: frozenset[str]) -> bool:
    """Whether a question (its words) may ask the relation: it shares a word with it, or says nothing
    beyond the fact's names and a question's frame ("What about Haikou?")."""
    rest = question - (names - relation)
    return not rest or not rest.isdisjoint(relation)
