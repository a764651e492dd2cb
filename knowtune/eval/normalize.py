"""Answer matching by normalised containment.

Case, Unicode width (full-width Chinese digits and letters), punctuation, thousands
separators and whitespace are folded. An answer in Latin script or digits must appear as
whole words (an English plural ending allowed after a letter): not inside a longer Latin word or number, while a Chinese character next to it
is a boundary ("学名是Nomascus hainanus", "海拔1867米"); an answer with Chinese characters
may appear anywhere (Chinese has no spaces). The matching itself is data.text's `names_in`,
which grounding (data.grounding) uses too.
"""

from __future__ import annotations

from ..data.text import Matchable, fold, names_in

__all__ = ["contains_answer", "fold"]


def contains_answer(reply: str, answers: list[str]) -> bool:
    return names_in(Matchable(reply), answers)
