"""Write constraints.txt: the exact versions of everything pyproject.toml needs, as installed now.

Run it in a virtual environment where `make setup` (or a newer set of versions) passed the
test suite:

    .venv/bin/python scripts/lock.py            # rewrite constraints.txt
    .venv/bin/python scripts/lock.py --check    # exit 1 when constraints.txt differs

The lock holds the dependencies of the extras the set-up installs and everything they need in
turn, as `name==version` (a local build's label such as `+cpu` dropped: `torch==2.13.0` matches
`2.13.0+cpu`). `make setup` installs with `pip install -c constraints.txt`, so a fresh machine gets
the versions the suite passed on, not whatever was released since.
"""

from __future__ import annotations

import argparse
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "constraints.txt"
# The extras `make setup` installs; keep in step with the Makefile.
SETUP_EXTRAS = ("methods", "serve", "docs", "test", "track")
HEADER = ("# Exact versions `make setup` installs (pip install -c constraints.txt).\n"
          "# Written by scripts/lock.py from a set-up that passed the test suite; do not edit by hand.\n")


def load_pyproject() -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def top_requirements(project: dict, extras=SETUP_EXTRAS) -> list[Requirement]:
    """pyproject's dependencies and those of the set-up's extras."""
    reqs = [Requirement(r) for r in project["project"]["dependencies"]]
    optional = project["project"].get("optional-dependencies", {})
    for extra in extras:
        reqs += [Requirement(r) for r in optional.get(extra, [])]
    return reqs


def _applies(req: Requirement, extras: set[str]) -> bool:
    if req.marker is None:
        return True
    return any(req.marker.evaluate({"extra": e}) for e in (extras or {""}))


def closure(reqs: list[Requirement]) -> dict[str, str]:
    """Installed version of every requirement and of what it needs in turn, by canonical name."""
    pinned: dict[str, str] = {}
    todo = [(r, set()) for r in reqs]
    seen: set[tuple[str, frozenset]] = set()
    while todo:
        req, parent_extras = todo.pop()
        if not _applies(req, parent_extras):
            continue
        name = canonicalize_name(req.name)
        key = (name, frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise SystemExit(f"{req.name} is required but not installed: run `make setup` first")
        pinned[name] = dist.version.split("+")[0]
        todo += [(Requirement(r), set(req.extras)) for r in dist.requires or []]
    return pinned


def render(pinned: dict[str, str]) -> str:
    return HEADER + "".join(f"{name}=={version}\n" for name, version in sorted(pinned.items()))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with constraints.txt, write nothing")
    args = parser.parse_args(argv)
    text = render(closure(top_requirements(load_pyproject())))
    if args.check:
        if LOCK.is_file() and LOCK.read_text(encoding="utf-8") == text:
            return 0
        print("constraints.txt differs from the installed versions: run scripts/lock.py", file=sys.stderr)
        return 1
    LOCK.write_text(text, encoding="utf-8")
    print(f"wrote {LOCK.name}: {text.count('==')} packages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
