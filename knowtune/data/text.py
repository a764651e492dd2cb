"""Text helpers shared by the data and evaluation code: what marks Chinese, when two
spellings are one phrase, and the folding that answer matching and retrieval share."""

from __future__ import annotations

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


def fold(text: str) -> str:
    """Case, Unicode width, punctuation, thousands separators and spacing folded away: how answers
    are matched (eval) and how words are compared in retrieval (data.retrieval)."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"(?<=\d)[,，](?=\d{3})", "", text)  # 1,867 -> 1867
    chars = [" " if unicodedata.category(c)[0] in "PSZC" else c for c in text]
    return " ".join("".join(chars).split())
