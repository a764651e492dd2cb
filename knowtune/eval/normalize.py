"""Answer matching by normalised containment.

Case, Unicode width (full-width Chinese digits and letters), punctuation, thousands
separators and whitespace are folded. An answer in Latin script or digits must appear as
whole words (an English plural ending allowed after a letter): not inside a longer Latin word or number, while a Chinese character next to it
is a boundary ("学名是Nomascus hainanus", "海拔1867米"); an answer with Chinese characters
may appear anywhere (Chinese has no spaces).
"""

from __future__ import annotations

import re

from ..data.text import CJK, fold

__all__ = ["contains_answer", "fold"]

_PLURAL = "(?:s|es)?"
"""An English plural ending: "hot spring" is in "hot springs". Only after a word of four letters or
more: "1990" is no answer in "1990s", nor "Li" in "lies"."""


def _ends_in_word(target: str) -> bool:
    return bool(re.search(r"(?<![^\W\d_])[^\W\d_]{4,}$", target))
_IDEOGRAPHIC = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def _spaced_ideographs(text: str) -> str:
    """Chinese, Japanese and Korean characters become spaces: word boundaries for a Latin answer."""
    return _IDEOGRAPHIC.sub(" ", text)


def contains_answer(reply: str, answers: list[str]) -> bool:
    folded = fold(reply)
    for answer in answers:
        target = fold(answer)
        if not target:
            continue
        if CJK.search(target):
            if target.replace(" ", "") in folded.replace(" ", ""):
                return True
        elif re.search(rf"(?<![^\W_]){re.escape(target)}{_PLURAL if _ends_in_word(target) else ''}(?![^\W_])",
                       _spaced_ideographs(folded)):
            return True
    return False
