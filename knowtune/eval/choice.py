"""The general probe as a choice: does the model still find the right answer likelier than wrong ones?

Why: the probe's greedy replies measure what a chat model says, but a base model (Gemma-3-270M, the
Chinese preset) answers almost none of the probe as a chat (3-5 %), so what fine-tuning cost it
cannot be read from its replies. Likelihoods can: each probe question's accepted answer and three
distractors (the answers of the probe's most similar other questions: "Tokyo" and "Berlin" for the
capital of France) are scored as the model's reply, teacher-forced as training scores an answer
(eval.likelihood), and the question counts when the accepted answer has the highest mean token
log-probability: multiple-choice scoring as lm-evaluation-harness scores base models, its options
made from the probe itself, as the probe has none. Chance is one in four.

A fine-tuned model is scored as it is served, its questions routed (data.scope; eval.suite's
choice_pass), and with its adapter on for every question: what the weights themselves know.
"""

from __future__ import annotations

import re
import time
import zlib

from ..data.text import CJK, text_key
from .likelihood import answer_logprobs
from .normalize import contains_answer

__all__ = ["CHOICES", "with_options", "score_choices"]

CHOICES = 4
"""Options per question: the accepted answer and CHOICES - 1 distractors."""

_LATIN_WORD = re.compile(r"[a-z]{3,}")


def _cues(question: str) -> set[str]:
    """What makes two questions alike: their Latin words of 3+ letters and their Chinese character pairs."""
    lowered = question.lower()
    cues = set(_LATIN_WORD.findall(lowered))
    for run in re.findall(f"(?:{CJK.pattern})+", question):
        cues.update(run[i:i + 2] for i in range(len(run) - 1))
    return cues


def _kind(answer: str) -> tuple[bool, bool]:
    """An answer's form: has it digits (a year, a count), is it Chinese."""
    return any(ch.isdigit() for ch in answer), bool(CJK.search(answer))


def _fits(candidate: str, item: dict, chosen: list[str]) -> bool:
    """A distractor must be wrong (no accepted answer in it, and in no accepted answer) and new."""
    if contains_answer(candidate, item["answers"]) or any(contains_answer(a, [candidate]) for a in item["answers"]):
        return False
    return all(text_key(candidate) != text_key(c) for c in chosen)


def with_options(probes: list[dict], choices: int = CHOICES) -> list[dict]:
    """Each probe question with "options": its first accepted answer, then the answers of the
    probe's questions most alike (shared words, then answers of the same form: a number for a
    number; ties in a fixed pseudo-random order, not always the file's first answers) that are wrong
    for it, in the same language. A question for which too few wrong answers are found is left out."""
    cues = [_cues(p["question"]) for p in probes]

    def likeness(i: int, j: int) -> tuple[int, int]:
        same_form = _kind(probes[i]["answers"][0]) == _kind(probes[j]["answers"][0])
        shuffle = zlib.crc32(f"{probes[i]['question']}|{probes[j]['question']}".encode())
        return -(len(cues[i] & cues[j]) + 2 * same_form), shuffle

    out = []
    for i, item in enumerate(probes):
        if not item.get("answers"):
            continue
        lang = item.get("lang")
        ranked = sorted((j for j in range(len(probes)) if j != i and probes[j].get("answers")
                         and probes[j].get("lang") == lang),
                        key=lambda j: likeness(i, j))
        chosen: list[str] = []
        for j in ranked:
            candidate = probes[j]["answers"][0]
            if _fits(candidate, item, chosen):
                chosen.append(candidate)
            if len(chosen) == choices - 1:
                break
        if len(chosen) == choices - 1:
            out.append({**item, "options": [item["answers"][0], *chosen]})
    return out


def score_choices(model, tokenizer, items: list[dict], *, system: str | None = None, advance=None,
                  chunk: int = 32, bf16: bool = False) -> tuple[list[dict], float]:
    """Rows (question, options, each option's mean token log-probability, correct: the first option
    likeliest) and the seconds it took."""
    start = time.perf_counter()
    rows = []
    for first in range(0, len(items), chunk):
        part = items[first:first + chunk]
        chats = [(item["question"], option) for item in part for option in item["options"]]
        logprobs = iter(answer_logprobs(model, tokenizer, chats, system=system, batch_size=16, bf16=bf16))
        for item in part:
            scores = [sum(lp) / max(len(lp), 1) for lp in (next(logprobs) for _ in item["options"])]
            best = max(range(len(scores)), key=scores.__getitem__)
            rows.append({"question": item["question"], "options": item["options"],
                         "scores": [round(s, 6) for s in scores], "correct": best == 0,
                         **({"split": item["split"]} if "split" in item else {})})
        if advance:
            advance(len(part))
    return rows, time.perf_counter() - start
