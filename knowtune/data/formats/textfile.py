"""Read a text file as UTF-8 (or JSON from it) with a one-line error for a missing file, another
encoding or invalid JSON."""

from __future__ import annotations

import json

from pathlib import Path

from ...config import KnowtuneError
from .. import bounds


def read_text(path: str | Path) -> str:
    path = Path(path)
    bounds.check_input_file(path)
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise KnowtuneError(f"not UTF-8 text (byte {err.start}); re-save the file as UTF-8",
                            file=str(path), line=line) from None


def read_json(path: str | Path) -> tuple[str, object]:
    """(the text, its JSON value); invalid JSON is refused at its line, runaway nesting too."""
    text = read_text(path)
    try:
        return text, json.loads(text)
    except json.JSONDecodeError as err:
        raise KnowtuneError(f"invalid JSON: {err.msg} (column {err.colno})", file=str(path),
                            line=err.lineno) from None
    except RecursionError:
        raise bounds.nested_too_deep(path) from None
