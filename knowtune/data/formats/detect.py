"""Which format is a file in: by its name and extension, then by the fields of its first record."""

from __future__ import annotations

from pathlib import Path

from ...config import KnowtuneError
from ..bounds import inside
from .conversations import is_qa_record
from .documents import DOCUMENT_SUFFIXES
from .llamafactory import INFO_FILE
from .tables import TABLE_SUFFIXES, read_records

FORMATS = ("facts", "document", "alpaca", "sharegpt", "openai", "qa", "llamafactory")
FACT_FIELDS = {"subject", "relation", "answer"}


def format_of_record(obj: dict) -> str | None:
    keys = set(obj)
    if FACT_FIELDS <= keys:
        return "facts"
    if "conversations" in keys:
        return "sharegpt"
    if "messages" in keys:
        return "openai"
    if {"instruction", "output"} <= keys:
        return "alpaca"
    if is_qa_record(obj):
        return "qa"
    return None


def detect_format(path: Path) -> str:
    if not path.exists():
        raise KnowtuneError("file not found", file=str(path))
    if path.is_dir():
        return "llamafactory" if (path / INFO_FILE).is_file() else "folder"
    if path.name == INFO_FILE:
        return "llamafactory"
    suffix = path.suffix.lower()
    if suffix in DOCUMENT_SUFFIXES:
        return "document"
    if suffix in TABLE_SUFFIXES:
        line, first = read_records(path)[0]
        found = format_of_record(first)
        if found is None:
            raise KnowtuneError(f"cannot tell the format from the fields ({', '.join(sorted(map(str, first)))}); "
                                f"name it with --format ({', '.join(FORMATS)})", file=str(path), line=line)
        return found
    raise KnowtuneError(f"unknown format for {suffix or 'a file without extension'}; documents: "
                        f"{' '.join(DOCUMENT_SUFFIXES)}, data: {' '.join(TABLE_SUFFIXES)} "
                        f"(or name it with --format)", file=str(path))


def folder_files(folder: Path) -> list[Path]:
    """The readable files of a folder, recursively, hidden ones skipped, in a stable order."""
    suffixes = DOCUMENT_SUFFIXES + TABLE_SUFFIXES
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    for path in files:  # a link out of the folder would read what its owner never meant to give
        if not inside(folder, path):
            raise KnowtuneError("a link to a file outside the input folder; not followed", file=str(path))
    if not files:
        raise KnowtuneError(f"no readable file in folder (looked for {' '.join(suffixes)})", file=str(folder))
    return files
