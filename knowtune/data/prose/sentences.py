"""Sentence splitting for English and Chinese prose.

English: a sentence ends at . ! ? followed by space and a capital, digit or quote, except
after common abbreviations and single initials ("Dr.", "e.g.", "J. Smith"). Chinese: a
sentence ends at 。！？ or ；, closing quotes and brackets staying with it. Mixed text
gets both rules.
"""

from __future__ import annotations

import re

ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "prof", "st", "mt", "no", "vs", "etc", "e.g", "i.e", "jr", "sr",
                 "approx", "ca", "fig", "inc", "ltd", "co", "corp", "u.s", "u.k", "gen", "gov", "col",
                 "lt", "sgt", "rev", "vol", "ft", "km", "jan", "feb", "mar", "apr", "jun", "jul", "aug",
                 "sep", "sept", "oct", "nov", "dec"}

_ZH_END = re.compile(r"(?<=[。！？；!?])(?![”’」』）)\]])|(?<=[。！？；][”’」』）)\]])")
_EN_END = re.compile(r"(?<=[.!?])[\"”’)\]]*\s+(?=[A-Z0-9\"“‘(\[\u3400-\u9fff])")


def split_sentences(text: str) -> list[str]:
    sentences = []
    for chunk in _ZH_END.split(text):
        sentences += _split_english(chunk)
    return [s.strip() for s in sentences if s.strip()]


def _split_english(text: str) -> list[str]:
    out = []
    start = 0
    for match in _EN_END.finditer(text):
        before = text[start:match.start()]
        last_word = before.rsplit(None, 1)[-1] if before.split() else ""
        word = last_word.rstrip(".!?\"”’)]").lower()
        if last_word.endswith(".") and (word in ABBREVIATIONS or re.fullmatch(r"[a-z]", word)):
            continue  # "Dr. Sun", "J. Smith": not the end of a sentence
        out.append(text[start:match.start()] + text[match.start():match.end()].rstrip())
        start = match.end()
    out.append(text[start:])
    return out
