"""Does a reply decline, hedge, or assert? A small rule-based classifier, English and Chinese.

Used on questions whose answers are not in the knowledge base (and mostly not knowable):
any reply that *asserts* something there is a confident wrong answer, a hallucination.

- declines: says it does not know, cannot say, has no information, or apologises; an
  empty reply declines too (it asserts nothing);
- hedges: gives an answer but marks it as uncertain (maybe, probably, I think; 可能, 大概);
- asserts: everything else.

Rules, not a model: they are cheap, deterministic and easy to audit; they miss unusual
wordings of a refusal (which then count as assertions, so the hallucination rate errs high).
"""

from __future__ import annotations

import re

_DECLINE_EN = re.compile(
    r"\b(?:i|we)(?:'m| am| are)? (?:do not|don't|cannot|can't|could not|couldn't|am not able|am unable|"
    r"have no|don't have|do not have|not able)\b"
    r"|\bnot (?:sure|certain|known|available|possible|recorded|documented|publicly)\b"
    r"|\b(?:no|not enough|insufficient) (?:reliable |specific |public |such )?"
    r"(?:information|data|record|records|way to know|answer)\b"
    r"|\b(?:unknown|unknowable|sorry|unable to|impossible to|no one knows|nobody knows)\b"
    r"|\bcannot be (?:known|determined|answered|predicted)\b"
    r"|\bthere (?:is|are) no (?:way|record|records|data|information)\b"
    r"|\bas an ai\b",
    re.IGNORECASE)
_HEDGE_EN = re.compile(
    r"\b(?:maybe|perhaps|probably|possibly|likely|might|i think|i believe|i guess|it seems|"
    r"could be|estimated|approximately|roughly)\b",
    re.IGNORECASE)
_DECLINE_ZH = re.compile(
    r"不知道|不清楚|无法|不确定|不能确定|不能回答|不能提供|抱歉|对不起|未知|不详|无从|不得而知|"
    r"没有(?:相关|具体|确切|公开|可靠)?的?(?:信息|资料|数据|记录)|尚无|无记录|难以(?:确定|估计|回答|知道)")
_HEDGE_ZH = re.compile(r"可能|大概|也许|或许|估计|大约|左右|我认为|我觉得|应该是|似乎")

DECLINES, HEDGES, ASSERTS = "declines", "hedges", "asserts"


def classify_reply(reply: str) -> str:
    text = reply.strip().replace("\u2019", "'")  # curly apostrophes: don’t -> don't
    if not text or _DECLINE_EN.search(text) or _DECLINE_ZH.search(text):
        return DECLINES
    if _HEDGE_EN.search(text) or _HEDGE_ZH.search(text):
        return HEDGES
    return ASSERTS


def hallucination_summary(rows: list[dict]) -> dict:
    """Counts of each kind over replies to unanswerable questions; `rows` carry "kind" and
    optionally "confidence" (the geometric mean token probability of the reply)."""
    n = len(rows)
    counts = {kind: sum(r["kind"] == kind for r in rows) for kind in (DECLINES, HEDGES, ASSERTS)}
    confident = [r["confidence"] for r in rows if r["kind"] == ASSERTS and r.get("confidence") is not None]
    checked = [r for r in rows if "ungrounded" in r]
    return {"total": n, **counts, "hallucination_rate": counts[ASSERTS] / n if n else 0.0,
            # replies the fact check (data.grounding) noted: among the hedges; None where it was off
            "ungrounded": sum(r["ungrounded"] for r in checked) if checked else None,
            "assert_confidence": sum(confident) / len(confident) if confident else None,
            "seconds_per_answer": rows[0]["seconds"] if rows else 0.0}


def hallucination_by(rows: list[dict], key: str) -> dict:
    """hallucination_summary of each value of `key` among the rows that have it (split: dev and
    test; question_kind: missing_relation and made_up_subject); empty when none has it."""
    values = sorted({r[key] for r in rows if key in r})
    return {value: hallucination_summary([r for r in rows if r.get(key) == value]) for value in values}
