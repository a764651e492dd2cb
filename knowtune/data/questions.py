"""Question paraphrases and answer sentences for a fact, in English and Chinese.

Training and held-out questions come from disjoint template pools, so a held-out
question's form is never seen in training: the score measures recall of the fact,
not of the sentence.
"""

from __future__ import annotations

from .facts import Fact
from .text import unique_texts

TRAIN_TEMPLATES = {
    "en": [
        "What is the {r} of {s}?",
        "Tell me the {r} of {s}.",
        "Do you know the {r} of {s}?",
        "{S}: what is its {r}?",
        "I want to know the {r} of {s}.",
    ],
    "zh": [
        "{s}的{r}是什么？",
        "请问{s}的{r}是什么？",
        "{s}的{r}是？",
        "你知道{s}的{r}吗？",
        "告诉我{s}的{r}。",
    ],
}

HELDOUT_TEMPLATES = {
    "en": [
        "Could you tell me what the {r} of {s} is?",
        "Can you name the {r} of {s}?",
        "What would you say is the {r} of {s}?",
    ],
    "zh": [
        "能告诉我{s}的{r}是什么吗？",
        "我想了解一下{s}的{r}。",
        "你能说出{s}的{r}吗？",
    ],
}

ANSWER_TEMPLATES = {
    "en": "The {r} of {s} is {a}.",
    "zh": "{s}的{r}是{a}。",
}


def _fill(template: str, fact: Fact) -> str:
    subject = fact.subject
    capital = subject[:1].upper() + subject[1:]
    text = template.format(r=fact.relation, s=subject, S=capital, a=fact.answer)
    return text[:1].upper() + text[1:]


def answer_sentence(fact: Fact) -> str:
    """A full sentence restating subject and answer."""
    return _fill(ANSWER_TEMPLATES[fact.lang], fact)


def training_questions(fact: Fact) -> list[str]:
    """Every training phrasing: the templates plus the fact's own hand-written questions."""
    forms = [_fill(t, fact) for t in TRAIN_TEMPLATES[fact.lang]] + list(fact.questions)
    return unique_texts(forms)


def heldout_question(fact: Fact, index: int) -> str:
    """One held-out phrasing from the held-out pool, rotated over facts for variety."""
    pool = HELDOUT_TEMPLATES[fact.lang]
    return _fill(pool[index % len(pool)], fact)
