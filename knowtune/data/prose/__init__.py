"""Prose -> questions: sentence splitting, rule-based question synthesis (English, Chinese), an
optional LLM question generator."""

from .sentences import split_sentences
from .synthesize import ProseResult, sentence_lang, synthesize

__all__ = ["split_sentences", "synthesize", "ProseResult", "sentence_lang"]
