"""Input formats: facts, prose documents, QA sets (alpaca, sharegpt, OpenAI messages, plain QA
tables) and LLaMA-Factory data folders, detected from name and content or named explicitly."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from ...config import KnowtuneError
from ..bounds import InputLimits, using
from ..facts import Fact, load_facts
from .conversations import PARSERS, Conversation
from .detect import FORMATS, detect_format, folder_files
from .documents import Document, read_document
from .llamafactory import read_dataset_info
from .tables import read_records


@dataclass
class Inputs:
    facts: list[Fact] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)
    conversations: list[Conversation] = field(default_factory=list)
    texts: list[dict] = field(default_factory=list)
    """Pre-training records from a data set: {"text", "source"}."""
    sources: list[dict] = field(default_factory=list)
    """One {"path", "format", "records"} per file read."""
    notes: list[str] = field(default_factory=list)
    """What was skipped, to tell the user."""


def load_inputs(paths: list[str | Path], fmt: str | None = None, *, datasets: list[str] | None = None,
                limits: InputLimits | None = None, allow_outside: bool = False) -> Inputs:
    """Read every path (file or folder) into one Inputs; a bad record raises KnowtuneError."""
    if fmt is not None and fmt not in FORMATS:
        raise KnowtuneError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}", field="--format")
    limits = dataclasses.replace(limits or InputLimits(), allow_outside=allow_outside)
    with using(limits):
        return _load_all(paths, fmt, datasets)


def _load_all(paths: list[str | Path], fmt: str | None, datasets: list[str] | None) -> Inputs:
    inputs = Inputs()
    for path in map(Path, paths):
        kind = fmt or detect_format(path)
        if kind == "folder" or (path.is_dir() and kind != "llamafactory"):
            for child in folder_files(path):
                _load_one(child, fmt or detect_format(child), inputs, datasets)
        else:
            _load_one(path, kind, inputs, datasets)
    return inputs


def _load_one(path: Path, kind: str, inputs: Inputs, datasets: list[str] | None) -> None:
    if kind == "facts":
        if path.suffix.lower() != ".jsonl":
            raise KnowtuneError("facts must be a .jsonl file (one fact a line)", file=str(path))
        facts = load_facts([path])
        inputs.facts += facts
        inputs.sources.append({"path": str(path), "format": "facts", "records": len(facts)})
    elif kind == "document":
        doc = read_document(path)
        inputs.documents.append(doc)
        inputs.sources.append({"path": str(path), "format": "document", "records": doc.paragraphs})
    elif kind == "llamafactory":
        info = path / "dataset_info.json" if path.is_dir() else path
        loaded = read_dataset_info(info, datasets)
        inputs.conversations += loaded.conversations
        inputs.texts += loaded.texts
        inputs.sources += loaded.sources
        inputs.notes += loaded.notes
    else:
        parse = PARSERS[kind]
        records = [parse(obj, str(path), line) for line, obj in read_records(path)]
        inputs.conversations += records
        inputs.sources.append({"path": str(path), "format": kind, "records": len(records)})


__all__ = ["Inputs", "load_inputs", "FORMATS", "detect_format", "Conversation", "Document", "read_document"]
