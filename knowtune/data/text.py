"""Text helpers shared by the data and evaluation code: what marks Chinese, when two
spellings are one phrase, and the folding that answer matching and retrieval share."""

from __future__ import annotations

import functools
import re
import unicodedata

CJK = re.compile(r"[\u3400-\u9fff]")
"""A CJK unified ideograph (the basic block and extension A): Chinese text has them, English none."""


def text_key(text: str) -> str:
    """Lower case, white space folded to single spaces: the key two spellings of one phrase share."""
    return " ".join(text.lower().split())


def unique_texts(items: list[str]) -> list[str]:
    """The items in order, each phrase once (by `text_key`), first spelling kept."""
    seen: set[str] = set()
    out = []
    for item in items:
        key = text_key(item)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def quiet_jieba():
    """jieba, its dictionary-load notice on stderr silenced (wordfreq cuts Chinese with it too)."""
    import logging

    import jieba

    jieba.setLogLevel(logging.ERROR)
    return jieba


def jieba_words(text: str, *, search: bool = False) -> list[str]:
    """jieba's words of a text, blanks left out; `search`: its search mode, which adds the shorter
    words inside longer ones (海南省 -> 海南, 海南省)."""
    jieba = quiet_jieba()
    cut = jieba.lcut_for_search(text) if search else jieba.lcut(text)
    return [w for w in cut if w.strip()]


def fold(text: str) -> str:
    """Case, Unicode width, punctuation, thousands separators and spacing folded away: how answers
    are matched (eval) and how words are compared in retrieval (data.retrieval)."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"(?<=\d)[,，](?=\d{3})", "", text)  # 1,867 -> 1867
    chars = [" " if unicodedata.category(c)[0] in "PSZC" else c for c in text]
    return " ".join("".join(chars).split())


# Matching a name inside a reply. Shared by answer scoring (eval) and grounding (data.grounding),
# which checks hundreds of names per reply: each name's pattern is compiled once.

_PLURAL = "(?:s|es)?"
"""An English plural ending: "hot spring" is in "hot springs". Only after a word of four letters or
more: "1990" is no answer in "1990s", nor "Li" in "lies"."""
_IDEOGRAPHIC = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")


class Matchable:
    """A text folded once for many `names_in` tests: as folded, with Chinese, Japanese and Korean
    characters as spaces (word boundaries for a Latin name), and without spaces (for a Chinese one)."""

    __slots__ = ("folded", "spaced", "compact")

    def __init__(self, text: str):
        self.folded = fold(text)
        self.spaced = _IDEOGRAPHIC.sub(" ", self.folded)
        self.compact = self.folded.replace(" ", "")


@functools.lru_cache(maxsize=None)
def _name_test(name: str) -> tuple[str, re.Pattern | str | None]:
    target = fold(name)
    if not target:
        return "none", None
    if CJK.search(target):
        return "cjk", target.replace(" ", "")
    plural = _PLURAL if re.search(r"(?<![^\W\d_])[^\W\d_]{4,}$", target) else ""
    return "latin", re.compile(rf"(?<![^\W_]){re.escape(target)}{plural}(?![^\W_])")


def names_in(text: Matchable, names) -> bool:
    """Whether the text holds one of the names: a name in Latin script or digits as whole words (an
    English plural ending allowed after a word), one with Chinese characters anywhere (no spaces)."""
    for name in names:
        kind, test = _name_test(name)
        if kind == "cjk" and test in text.compact:
            return True
        if kind == "latin" and test.search(text.spaced):
            return True
    return False
