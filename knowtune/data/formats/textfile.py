"""Read a text file as UTF-8 with a one-line error for a missing file or another encoding."""

from __future__ import annotations

from pathlib import Path

from ...config import KnowtuneError
from .. import bounds


def read_text(path: str | Path) -> str:
    path = Path(path)
    if not path.exists():
        raise KnowtuneError("file not found", file=str(path))
    if not path.is_file():
        raise KnowtuneError("not a file", file=str(path))
    bounds.check_file_size(path)
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise KnowtuneError(f"not UTF-8 text (byte {err.start}); re-save the file as UTF-8",
                            file=str(path), line=line) from None
