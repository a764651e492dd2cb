"""Text helpers shared by the data and evaluation code: what marks Chinese, and when two
spellings are one phrase."""

from __future__ import annotations

import re

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
