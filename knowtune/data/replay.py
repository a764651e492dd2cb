"""General-knowledge replay: bundled prompts whose base-model answers are mixed into fine-tuning.

Fine-tuning a small model on a few hundred facts of one pattern ("The X of Y is Z.") makes
it answer every question that way, with the new entities: on the general-knowledge probe
SmolLM2-135M fell from 67% to 36% after the demo's LoRA run. Mixing in the base model's
own answers to unrelated prompts (self-distillation replay) keeps its old behaviour on
them. The prompts are disjoint from the evaluation probes, so the probe still measures.
"""

from __future__ import annotations

import re
from collections import Counter
from itertools import cycle, islice
from pathlib import Path

from .jsonl import read_jsonl

REPLAY_DIR = Path(__file__).resolve().parent / "replay"
REPLAY_LANGS = ("en", "zh")
SENTENCE_END = re.compile(r"[.!?](?=\s|$)|[。！？]")  # not the dot of 3.5


def replay_prompts(lang: str) -> list[str]:
    """The bundled replay prompts of a language (empty for a language without a set)."""
    path = REPLAY_DIR / f"general_{lang}.jsonl"
    return [row["prompt"] for _, row in read_jsonl(path)] if path.is_file() else []


def replay_plan(langs: list[str], total: int, knowledge: list[dict] = (), mirror: float = 0.0) -> list[tuple[str, str]]:
    """(lang, prompt) pairs: `total` prompts shared out by the knowledge's language mix; the share
    `mirror` of them the knowledge's relations asked of world subjects (mirror_plan).

    A share larger than a language's bundled prompts goes round them again: a large knowledge base
    needs more replay samples than there are prompts to keep its general answers in proportion.
    """
    mirrored = mirror_plan(knowledge, round(total * mirror)) if knowledge and mirror > 0 else []
    return general_plan(langs, total - len(mirrored)) + mirrored


def general_plan(langs: list[str], total: int) -> list[tuple[str, str]]:
    """(lang, prompt) pairs of the bundled general prompts, `total` in all, by language share."""
    counts = Counter(lang if lang in REPLAY_LANGS else "en" for lang in langs) or Counter({"en": 1})
    plan: list[tuple[str, str]] = []
    n_all = sum(counts.values())
    for lang, n in counts.most_common():
        share, prompts = round(total * n / n_all), replay_prompts(lang)
        if prompts:
            plan += [(lang, prompt) for prompt in islice(cycle(prompts), share)]
    return plan


MIRROR_QUESTIONS = {"en": "What is the {relation} of {subject}?", "zh": "{subject}的{relation}是什么？"}


def world_subjects(lang: str) -> list[str]:
    """Bundled well-known world subjects of a language (none appears in a general-probe question)."""
    path = REPLAY_DIR / f"world_{lang}.jsonl"
    return [row["subject"] for _, row in read_jsonl(path)] if path.is_file() else []


def mirror_plan(knowledge: list[dict], total: int) -> list[tuple[str, str]]:
    """Up to `total` (lang, prompt) pairs: each relation of the knowledge asked of world subjects.

    Trained on facts, a small model binds the relation to the knowledge base's answer whatever the
    subject: after the Hainan demo it said the capital of China is Haikou and the highest mountain
    in the world Wuzhishan. The base model's own answers to the same relations of other subjects
    ("What is the highest peak of Tasmania?") are the counter-examples. A world subject named in
    the knowledge itself is skipped, so no question here has its answer in the knowledge base.
    """
    import random

    named = " ".join(f"{k.get('subject', '')} {k.get('answer', '')}" for k in knowledge).lower()
    pairs = []
    for lang in dict.fromkeys(k.get("lang", "en") for k in knowledge):
        if lang not in MIRROR_QUESTIONS:
            continue
        relations = list(dict.fromkeys(k["relation"] for k in knowledge if k.get("lang", "en") == lang))
        subjects = [s for s in world_subjects(lang) if s.lower().removeprefix("the ") not in named]
        pairs += [(lang, MIRROR_QUESTIONS[lang].format(relation=r, subject=s)) for r in relations for s in subjects]
    random.Random(0).shuffle(pairs)  # a spread of relations and subjects, the same for every run
    return pairs[:total]


def complete_sentences(reply: str) -> str:
    """A reply cut after its last full sentence (generation stops at a token budget, not a
    sentence); empty when no sentence ended, so no sample teaches stopping mid-thought."""
    reply = reply.strip()
    if reply.rstrip("\"'”’）) ")[-1:] in tuple(".!?。！？"):
        return reply
    ends = [m.end() for m in SENTENCE_END.finditer(reply)]
    return reply[:ends[-1]].strip() if ends else ""


LIST_NUMBER = re.compile(r"^\s*\d+[.)、]\s*")
TURN_MARKERS = ("User:", "Assistant:", "<start_of_turn>", "<end_of_turn>", "<|im_start|>", "<|im_end|>")


def usable_reply(prompt: str, reply: str, system: str = "") -> str:
    """The part of a base model's reply worth training on, or "" when it is not an answer.

    A base (non-chat) model such as Gemma-3-270M often echoes the question, writes the next
    turns of the conversation itself or loops; training on that would teach exactly that.
    """
    reply = complete_sentences(reply)
    if not reply:
        return ""
    if any(marker in reply for marker in TURN_MARKERS) or (system and system in reply):
        return ""
    if prompt.strip().rstrip("?？.。!！") in reply:  # an echo of the question
        return ""
    units = [LIST_NUMBER.sub("", u).strip() for u in re.split(r"\n+|(?<=[。！？])|(?<=[.!?])\s+", reply)]
    units = [u for u in units if u and not u.rstrip(".").isdigit()]
    if not units:  # nothing but list numbers
        return ""
    if len(units) >= 3 and len(set(units)) < 0.7 * len(units):  # a loop (list numbers aside)
        return ""
    return reply


DEMONSTRATIONS = {
    "en": [("How many seasons are there in a year?", "There are four seasons: spring, summer, autumn and winter."),
           ("What sound does a cat make?", "A cat meows."),
           ("How can I sleep better?", "Keep a regular bedtime, put screens away before bed and keep the bedroom "
                                       "dark and quiet.")],
    "zh": [("一年有几个季节？", "一年有四个季节：春、夏、秋、冬。"), ("猫一般怎么叫？", "猫一般“喵喵”地叫。"),
           ("怎样才能睡得更好？", "保持规律的作息，睡前少看手机，让卧室保持安静和黑暗。")],
}
"""Earlier turns shown to a base model that cannot answer a bare prompt (it echoes or writes the next
turns itself): with three answered questions before it, it answers the fourth. None is a probe question."""


def demonstration_turns(lang: str) -> list[dict]:
    turns = []
    for question, answer in DEMONSTRATIONS.get(lang, DEMONSTRATIONS["en"]):
        turns += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    return turns


def reply_before_next_turn(reply: str) -> str:
    """A base model's reply up to the turn it goes on to invent ("...\nUser: ...")."""
    cut = min((reply.find(m) for m in TURN_MARKERS if m in reply), default=len(reply))
    return reply[:cut].strip()


def replay_sample(prompt: str, reply: str) -> dict:
    return {"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": reply}],
            "source": "replay"}
