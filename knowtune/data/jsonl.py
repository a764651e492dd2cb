"""Line-numbered JSONL reading with one-line errors, and atomic output directories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from ..config import KnowtuneError
from ..config.fsutil import atomic_dir  # noqa: F401  (re-exported for the data layer)


def read_jsonl(path: str | Path, *, comments: bool = True) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object); blank lines and `#` comment lines are skipped."""
    path = Path(path)
    if not path.exists():
        raise KnowtuneError("file not found", file=str(path))
    if not path.is_file():
        raise KnowtuneError("not a file", file=str(path))
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise KnowtuneError(f"not UTF-8 text (byte {err.start})", file=str(path)) from None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or (comments and stripped.startswith("#")):
            continue
        try:
            obj = json.loads(stripped)
        except json.JSONDecodeError as err:
            raise KnowtuneError(f"invalid JSON: {err.msg} (column {err.colno})",
                                file=str(path), line=number) from None
        if not isinstance(obj, dict):
            raise KnowtuneError("each line must be a JSON object", file=str(path), line=number)
        yield number, obj


def write_jsonl(path: str | Path, rows) -> int:
    count = 0
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count
