"""What an evaluation reads besides the model: the knowledge base and the extra question sets.

The knowledge base gives two things:
- passages for retrieval (data.retrieval.dataset_passages, the same that retrieval-aware
  training retrieves from): one per piece of knowledge, the very sentence the model was
  taught to answer with, plus "question answer" for the training records of a QA set;
- the gold answer of each held-out question, for overlap metrics and perplexity: that
  taught sentence when the question comes from the knowledge base, else (a held-out QA
  record) its first accepted answer.
The taught sentences are read from the training set (train.jsonl); when it is gone, a
fact's answer sentence is rebuilt from knowledge.jsonl with the answer template.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..config import KnowtuneError
from ..config.run import Run
from ..data import KNOWLEDGE_FILE, TRAIN_FILE, load_facts
from ..data.facts import Fact, knowledge_facts
from ..data.jsonl import read_jsonl
from ..data.retrieval import dataset_passages

PROBES_DIR = Path(__file__).resolve().parent / "probes"
HAINAN_DIR = Path(__file__).resolve().parent.parent / "data" / "hainan"


@dataclass
class KnowledgeBase:
    passages: list[str] = field(default_factory=list)
    taught: dict[int, str] = field(default_factory=dict)
    """Knowledge index (the `fact` of a held-out question) -> the sentence taught for it."""
    facts: list[Fact] = field(default_factory=list)
    """The facts, for grounding replies (data.grounding) and choosing the unanswerable set."""

    @property
    def subjects(self) -> set[str]:
        return {f.subject.lower() for f in self.facts}

    def gold(self, question: dict) -> str:
        index = question.get("fact")
        return self.taught.get(index, question["answers"][0]) if isinstance(index, int) \
            else question["answers"][0]


def knowledge_of_dataset(data_dir: Path, knowledge_file: Path | None = None) -> KnowledgeBase:
    """A built dataset directory (its knowledge file may live elsewhere, as in a run)."""
    train_file, knowledge_file = data_dir / TRAIN_FILE, knowledge_file or data_dir / KNOWLEDGE_FILE
    samples = (obj for _, obj in read_jsonl(train_file, comments=False)) if train_file.is_file() else ()
    facts = knowledge_facts(knowledge_file) if knowledge_file.is_file() else []
    taught, passages = dataset_passages(samples, facts)
    return KnowledgeBase(passages=passages, taught=taught, facts=facts)


def knowledge_of_run(run_dir: Path) -> KnowledgeBase:
    """The run's training set (where run.json says it is) and its copy of knowledge.jsonl."""
    return knowledge_of_dataset(Run(run_dir).data_dir(), run_dir / KNOWLEDGE_FILE)


def knowledge_of_path(path: Path) -> KnowledgeBase:
    """--kb: a run directory, a built dataset directory, or facts JSONL files (comma-separated)."""
    if path.is_dir():
        if Run(path).info_file.is_file():
            return knowledge_of_run(path)
        if not (path / TRAIN_FILE).is_file() and not (path / KNOWLEDGE_FILE).is_file():
            raise KnowtuneError(f"neither a run nor a built dataset (no {TRAIN_FILE})", file=str(path),
                                field="--kb")
        return knowledge_of_dataset(path)
    facts = load_facts([Path(p) for p in str(path).split(",")])
    return KnowledgeBase(passages=dataset_passages([], facts)[1], facts=facts)


def main_lang(questions: list[dict]) -> str:
    langs = Counter(q.get("lang", "en") for q in questions)
    return "zh" if langs and langs.most_common(1)[0][0] == "zh" else "en"


def probe_file(lang: str) -> Path:
    """The bundled general-knowledge probe (nothing about any knowledge base) in that language."""
    return PROBES_DIR / f"general_{lang}.jsonl"


def default_unanswerable(lang: str, subjects: set[str]) -> Path | None:
    """The bundled unanswerable questions are about Hainan: used only when most of their
    subjects are subjects of this knowledge base. Questions about made-up subjects are left
    out of that count: their subjects are in no knowledge base, by design."""
    path = HAINAN_DIR / f"unanswerable_{lang}.jsonl"
    asked = [obj.get("subject", "").lower() for _, obj in read_jsonl(path) if obj.get("kind") != "made_up_subject"]
    return path if subjects and sum(s in subjects for s in asked) * 2 >= len(asked) else None


def load_unanswerable(path: Path) -> list[dict]:
    """{"question": str} per line (other fields kept)."""
    rows = []
    for line, obj in read_jsonl(path):
        if not isinstance(obj.get("question"), str) or not obj["question"].strip():
            raise KnowtuneError("missing or empty", file=str(path), line=line, field="question")
        rows.append(obj)
    if not rows:
        raise KnowtuneError("no questions in file", file=str(path))
    return rows
