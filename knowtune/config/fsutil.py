"""Output directories that appear whole or not at all, and never replace what knowtune did not write.

Every output directory carries a marker file naming its kind (dataset, run, export, eval, ...).
An existing directory is replaced only when it holds the marker of the same kind, or is empty;
anything else (the user's own folder, an older output without a marker, another kind of output)
is refused with one line unless the user passes --overwrite.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import KnowtuneError

MARKER = ".knowtune-output.json"
BAD_NAMES = ("", ".", "..")


def check_out_name(final: str | Path, *, field: str = "--out") -> Path:
    """Refuse '.', '..' and empty names: replacing them would replace the folder they sit in."""
    text = str(final)
    last = text.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    if text.strip() == "" or last in BAD_NAMES or Path(text).name in BAD_NAMES:
        raise KnowtuneError(f"not a usable output name: {text!r}; name a folder of its own", field=field)
    return Path(text)


def marker_kind(folder: Path) -> str | None:
    """The kind a knowtune output declares, or None (no marker, or an unreadable one)."""
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data.get("kind") if isinstance(data, dict) else None


def write_marker(folder: Path, kind: str) -> None:
    (folder / MARKER).write_text(json.dumps({"kind": kind, "written_by": "knowtune"}) + "\n", encoding="utf-8")


def _holds_workplace(path: Path) -> bool:
    """The current directory, an ancestor of it, the home folder or a filesystem root: never replaced."""
    resolved = path.resolve()
    cwd = Path.cwd().resolve()
    return resolved == cwd or resolved in cwd.parents or resolved == Path.home().resolve() \
        or resolved.parent == resolved


def check_output(final: str | Path, kind: str, *, overwrite: bool = False, replace_same_kind: bool = True,
                 field: str = "--out") -> Path:
    """Raise unless writing `final` loses nothing that knowtune did not write (cheap: call it early)."""
    final = check_out_name(final, field=field)
    if not final.exists() and not final.is_symlink():
        return final
    if _holds_workplace(final):
        raise KnowtuneError("refusing to replace the current folder, one above it or the home folder",
                            file=str(final), field=field)
    if overwrite:
        return final
    if final.is_symlink() or not final.is_dir():
        raise KnowtuneError("exists and is not a folder written by knowtune; use --overwrite to replace it",
                            file=str(final), field=field)
    if not any(final.iterdir()):
        return final
    found = marker_kind(final)
    if found == kind and replace_same_kind:
        return final
    if found == kind:
        why = f"a knowtune {kind} is already there"
    elif found:
        why = f"holds a knowtune {found}, not a {kind}"
    else:
        why = "exists and has no knowtune marker (not written by knowtune, or by an older version)"
    raise KnowtuneError(f"{why}; use --overwrite to replace it", file=str(final), field=field)


def remove_output(path: Path) -> None:
    """Remove a file, link or folder that check_output allowed to be replaced."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def replace_dir(tmp: Path, final: Path) -> None:
    """Put the finished `tmp` under the name `final`, the old one (if any) set aside first."""
    if final.exists() or final.is_symlink():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        remove_output(old)
        os.rename(final, old)
        os.rename(tmp, final)
        remove_output(old)
    else:
        os.rename(tmp, final)


@contextlib.contextmanager
def atomic_dir(final: str | Path, *, kind: str, overwrite: bool = False,
               replace_same_kind: bool = True) -> Iterator[Path]:
    """Write into a temporary sibling directory, then rename it to `final` in one step.

    An exception (or Ctrl-C) leaves nothing under the final name. The check runs before and
    again after the writing, as the folder may have appeared meanwhile.
    """
    final = check_output(final, kind, overwrite=overwrite, replace_same_kind=replace_same_kind)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        yield tmp
        write_marker(tmp, kind)
        check_output(final, kind, overwrite=overwrite, replace_same_kind=replace_same_kind)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    replace_dir(tmp, final)
