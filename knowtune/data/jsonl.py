"""Line-numbered JSONL reading with one-line errors, and atomic output directories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from ..config import KnowtuneError
from ..config.fsutil import atomic_dir  # noqa: F401  (re-exported for the data layer)
from . import bounds

# Line separators that JSON allows raw inside strings but str.splitlines() (and some
# JSONL readers) split on: written escaped, and lines are split on "\n" only.
_RAW_SEPARATORS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}


def read_jsonl(path: str | Path, *, comments: bool = True) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object); blank lines and `#` comment lines are skipped."""
    path = Path(path)
    bounds.check_input_file(path)
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:  # no newline translation: "\n" splits
            text = fh.read()
    except UnicodeDecodeError as err:
        raise KnowtuneError(f"not UTF-8 text (byte {err.start})", file=str(path)) from None
    records = 0
    for number, line in enumerate(text.split("\n"), start=1):
        bounds.check_line(path, number, line)
        stripped = line.strip()
        if not stripped or (comments and stripped.startswith("#")):
            continue
        obj = _parse_line(path, number, stripped)
        records += 1
        bounds.check_records(path, records, number)
        yield number, obj


def _parse_line(path: Path, number: int, text: str) -> dict:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        raise KnowtuneError(f"invalid JSON: {err.msg} (column {err.colno})", file=str(path), line=number) from None
    except RecursionError:
        raise bounds.nested_too_deep(path, number) from None
    if not isinstance(obj, dict):
        raise KnowtuneError("each line must be a JSON object", file=str(path), line=number)
    bounds.check_depth(path, number, obj)
    return obj


def dumps_line(row) -> str:
    """One JSONL line: UTF-8 kept readable, the line separators above escaped."""
    text = json.dumps(row, ensure_ascii=False)
    for raw, escaped in _RAW_SEPARATORS.items():
        if raw in text:  # only ever inside strings, where the escape means the same
            text = text.replace(raw, escaped)
    return text


def write_jsonl(path: str | Path, rows) -> int:
    count = 0
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(dumps_line(row) + "\n")
            count += 1
    return count
