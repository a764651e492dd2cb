"""Is a question about the knowledge base? The test that decides which weights answer it.

Fine-tuning a small model on a knowledge base costs it general knowledge: SmolLM2-135M taught the
Hainan set answers "What is the capital of France?" with "Le France", and loses about 15 points of
the general probe whatever the replay size, distillation or learning-rate ratio (bench/knowledge).
Its base model has forgotten nothing, and with an adapter method it is the same weights with the
adapter switched off. So a question about the knowledge base is answered with the adapter, any
other without it (adapter routing, as multi-adapter servers such as LoRAX route requests to
adapters): the general questions get the base model's answers, the knowledge base's get the
fine-tuned model's.

A question is about the knowledge base when it names one of its subjects or answers (matched as
answers are scored, the subjects' aliases and short forms included), or holds a word of those
names that is rare in the language at large ("Guanyin", "Tianwen", "mangrove", "红树林"; not
"China", "river", "中国"): a user asking "How high does the Nanshan Sea Guanyin rise?" names no
subject exactly. Rarity is wordfreq's Zipf frequency (log10 of uses per billion words, from
Wikipedia, books, subtitles and the web), the one word-frequency table that covers English and
Chinese alike. A question naming nothing of the knowledge base goes to the base model even when
it is about it ("Which ape has the fewest individuals left?"): that costs the fine-tuned answer.
"""

from __future__ import annotations

import functools
import importlib
import re
from concurrent.futures import ThreadPoolExecutor

from .augment.names import subject_names
from .facts import Fact, guess_lang
from .grounding import names_a_thing
from .text import CJK, Matchable, names_in, quiet_jieba

__all__ = ["KnowledgeScope", "RARE_ZIPF"]

RARE_ZIPF = {"en": 4.0, "zh": 4.0}
"""A word of a knowledge base's names rarer than this in its language (Zipf frequency: 4 is about
ten uses per million words) marks a question as about the knowledge base. Chosen on the dev halves
of the bundled sets' natural questions and general probe (bench/routing.py)."""

_LATIN_WORD = re.compile(r"[^\W\d_]{3,}")
_CHINESE_NUMBER = re.compile(r"[第零一二三四五六七八九十百千万两]+")


def _names_something(name: str) -> bool:
    """A name a question naming it is about: a Chinese one of two characters or more that is no
    number ("黎", "明", "三", "第二" are in every other Chinese question)."""
    if not CJK.search(name):
        return True
    return len(name.strip()) >= 2 and not _CHINESE_NUMBER.fullmatch(name.strip())


@functools.cache
def _wordfreq():
    """wordfreq, with its Chinese tokenizer, imported in a thread of its own.

    wordfreq finds its data folder at import with `locate.this_dir()`, which calls
    `inspect.stack()`: that reads the source of every frame of the calling stack and, per frame,
    scans `sys.modules`. From deep inside a command, with torch and transformers loaded, its
    import took 2-2.5 s; in a fresh thread the stack is a few frames deep (0.3 s)."""
    quiet_jieba()  # wordfreq cuts Chinese with jieba
    with ThreadPoolExecutor(1, thread_name_prefix="knowtune-wordfreq-import") as thread:
        thread.submit(importlib.import_module, "wordfreq.chinese").result()  # the module that locates its dictionaries
    import wordfreq

    return wordfreq


def _rare_words(names: set[str]) -> tuple[set[str], tuple[str, ...]]:
    """The rare words of the names: Latin ones (lower case) and Chinese ones (two characters or more)."""
    wordfreq = _wordfreq()
    tokenize, zipf_frequency = wordfreq.tokenize, wordfreq.zipf_frequency

    latin: set[str] = set()
    chinese: set[str] = set()
    for name in names:
        lang = "zh" if CJK.search(name) else "en"
        for word in tokenize(name, lang):
            if CJK.search(word):
                if len(word) >= 2 and zipf_frequency(word, "zh") < RARE_ZIPF["zh"]:
                    chinese.add(word)
            elif _LATIN_WORD.fullmatch(word.replace("'", "")) and zipf_frequency(word, "en") < RARE_ZIPF["en"]:
                latin.add(word)
    return latin, tuple(sorted(chinese))


class KnowledgeScope:
    """The names of a knowledge base's facts, ready to tell its questions from others (build once)."""

    def __init__(self, facts: list[Fact]):
        subjects = {n for group in subject_names(list(facts)) for n in group}
        answers = {a for fact in facts for a in fact.answers}
        # an answer such as "three" or "1992" names nothing; its rare words still count ("Tianwen-1")
        self._names = tuple(sorted(n for n in subjects | {a for a in answers if names_a_thing(a)}
                                   if _names_something(n)))
        self._latin, self._chinese = _rare_words(subjects | answers)

    def about(self, question: str) -> bool:
        """Whether the question names something of the knowledge base, or a rare word of its names."""
        if names_in(Matchable(question), self._names):
            return True
        if any(word in question for word in self._chinese):
            return True
        if not self._latin:
            return False
        words = set(_wordfreq().tokenize(question, guess_lang(question)))
        words |= {w[:-1] for w in words if len(w) > 4 and w.endswith("s")}  # "mangroves": "mangrove"
        return not self._latin.isdisjoint(words)
