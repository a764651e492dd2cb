"""Answer matching by normalised containment.

Case, Unicode width (full-width Chinese digits and letters), punctuation, thousands
separators and whitespace are folded. An answer in Latin script must appear as whole
words; an answer with Chinese characters may appear anywhere (Chinese has no spaces).
"""

from __future__ import annotations

import re
import unicodedata

_CJK = re.compile(r"[\u3400-\u9fff]")


def fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"(?<=\d)[,，](?=\d{3})", "", text)  # 1,867 -> 1867
    chars = [" " if unicodedata.category(c)[0] in "PSZC" else c for c in text]
    return " ".join("".join(chars).split())


def contains_answer(reply: str, answers: list[str]) -> bool:
    folded = fold(reply)
    for answer in answers:
        target = fold(answer)
        if not target:
            continue
        if _CJK.search(target):
            if target.replace(" ", "") in folded.replace(" ", ""):
                return True
        elif f" {target} " in f" {folded} ":
            return True
    return False
