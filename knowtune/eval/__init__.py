"""Evaluation: answering, scoring, before/after reports."""

from .evaluate import accuracy_line, answer_questions, load_questions, summarise, write_results
from .normalize import contains_answer, fold

__all__ = ["accuracy_line", "answer_questions", "load_questions", "summarise", "write_results",
           "contains_answer", "fold"]
