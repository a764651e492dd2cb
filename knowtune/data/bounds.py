"""Bounds on what an input file may cost to read: size on disk, records, line length, JSON
nesting, unpacked size of zip-based (.docx) and Parquet files; and where an input may point.

A hostile or broken file must end in one line naming it, not in an exhausted machine or a
RecursionError. The limits are generous for real knowledge bases and set per build with
`--limit KEY=VALUE`; the readers take the ones in force from `current()`.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..config import KnowtuneError

MB = 1 << 20


@dataclass(frozen=True)
class InputLimits:
    file_mb: float = 256
    """Largest input file on disk, in MiB."""
    records: int = 1_000_000
    """Most records (lines, rows, array elements) in one file."""
    line_kb: float = 1024
    """Longest JSONL line, in KiB of text."""
    depth: int = 64
    """Deepest JSON nesting of a record."""
    unpacked_mb: float = 1024
    """Largest unpacked size of a .docx (zip) or Parquet file, in MiB."""
    allow_outside: bool = False
    """Whether a dataset_info.json may name files outside its folder."""


_LIMITS: contextvars.ContextVar[InputLimits] = contextvars.ContextVar("knowtune_input_limits",
                                                                      default=InputLimits())
KEYS = tuple(f.name for f in dataclasses.fields(InputLimits) if f.name != "allow_outside")


def current() -> InputLimits:
    return _LIMITS.get()


@contextlib.contextmanager
def using(limits: InputLimits | None) -> Iterator[InputLimits]:
    token = _LIMITS.set(limits or current())
    try:
        yield _LIMITS.get()
    finally:
        _LIMITS.reset(token)


def parse_limits(pairs: list[str] | None, base: InputLimits | None = None) -> InputLimits:
    """`--limit file_mb=512` options -> InputLimits (each value positive)."""
    values = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or key not in KEYS:
            raise KnowtuneError(f"expected KEY=VALUE with KEY one of {', '.join(KEYS)}, got {pair!r}",
                                field="--limit")
        kind = int if key in ("records", "depth") else float
        try:
            value = kind(raw.strip())
        except ValueError:
            what = "whole number" if kind is int else "number"
            raise KnowtuneError(f"must be a {what}, got {raw!r}", field=f"--limit {key}") from None
        if not (math.isfinite(value) and value > 0):
            raise KnowtuneError(f"must be > 0, got {raw!r}", field=f"--limit {key}")
        values[key] = value
    return dataclasses.replace(base or InputLimits(), **values)


def check_input_file(path: Path) -> None:
    """An input that exists, is a file and is within the size bound, before any of it is read."""
    if not path.exists():
        raise KnowtuneError("file not found", file=str(path))
    if not path.is_file():
        raise KnowtuneError("not a file", file=str(path))
    check_file_size(path)


def check_file_size(path: Path) -> None:
    limit = current().file_mb
    size = path.stat().st_size
    if size > limit * MB:
        raise KnowtuneError(f"file is {size / MB:.1f} MiB, over the {limit:g} MiB limit "
                            f"(raise it with --limit file_mb=N)", file=str(path))


def check_records(path: Path | str, count: int, line: int | None = None) -> None:
    limit = current().records
    if count > limit:
        raise KnowtuneError(f"more than {limit} records (raise it with --limit records=N)", file=str(path),
                            line=line)


def check_line(path: Path | str, line: int, text: str) -> None:
    limit = current().line_kb
    if len(text) > limit * 1024:
        raise KnowtuneError(f"line of {len(text) / 1024:.0f} KiB, over the {limit:g} KiB limit "
                            f"(raise it with --limit line_kb=N)", file=str(path), line=line)


def check_depth(path: Path | str, line: int | None, obj) -> None:
    """Nesting depth of a parsed value, walked without recursion (a deep value is the danger)."""
    limit = current().depth
    stack = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = list(value.values())
        elif not isinstance(value, list):
            continue
        if depth > limit:
            raise KnowtuneError(f"JSON nested more than {limit} levels deep (raise it with --limit depth=N)",
                                file=str(path), line=line)
        stack.extend((child, depth + 1) for child in value)


def nested_too_deep(path: Path | str, line: int | None = None) -> KnowtuneError:
    """The parser itself gave up (RecursionError): far deeper than any limit."""
    return KnowtuneError(f"JSON nested more than {current().depth} levels deep", file=str(path), line=line)


def check_unpacked(path: Path, size: int) -> None:
    limit = current().unpacked_mb
    if size > limit * MB:
        raise KnowtuneError(f"unpacks to {size / MB:.0f} MiB, over the {limit:g} MiB limit "
                            f"(raise it with --limit unpacked_mb=N)", file=str(path))


def check_zip(path: Path) -> None:
    """A .docx is a zip: refuse one whose members unpack beyond the limit before opening it."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as err:
        raise KnowtuneError(f"not a readable .docx file ({type(err).__name__})", file=str(path)) from None
    check_records(path, len(members))
    check_unpacked(path, sum(m.file_size for m in members))


def inside(folder: Path, path: Path) -> bool:
    """Whether `path`, links resolved, lies in `folder`."""
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True
