"""The locked set-up: constraints.txt agrees with pyproject.toml, the Makefile and this environment.

CI runs `make test` in a fresh clone, whose `make setup` installs through the lock: the
installed-versions check below then proves that the lock installed as written.
"""

import importlib.util
import re
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("lock", ROOT / "scripts" / "lock.py")
lock = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lock)

# Libraries whose internals knowtune reads (see pyproject.toml): each needs an upper bound.
INTERNALS_READ = ("torch", "transformers", "peft", "accelerate", "gguf")


def read_lock(text: str) -> dict[str, str]:
    pins = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([A-Za-z0-9.]+)", line)
        assert match, f"constraints.txt:{number}: not name==version: {line!r}"
        pins[canonicalize_name(match[1])] = match[2]
    return pins


@pytest.fixture(scope="module")
def pins() -> dict[str, str]:
    return read_lock(lock.LOCK.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def requirements() -> list[Requirement]:
    return lock.top_requirements(lock.load_pyproject())


def test_every_dependency_is_pinned_within_its_bounds(pins, requirements):
    for req in requirements:
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} (pyproject.toml) has no pin in constraints.txt"
        assert req.specifier.contains(Version(pins[name]), prereleases=True), \
            f"constraints.txt pins {name}=={pins[name]}, outside pyproject's {req}"


def test_libraries_whose_internals_are_read_have_upper_bounds(requirements):
    by_name = {canonicalize_name(r.name): r for r in requirements}
    for name in INTERNALS_READ:
        assert any(s.operator in ("<", "<=", "~=", "==") for s in by_name[name].specifier), \
            f"{name} needs an upper bound in pyproject.toml"


def test_installed_versions_are_the_locked_ones(pins):
    """What `make setup` installed matches the lock, and the lock holds everything it needs."""
    assert lock.closure(lock.top_requirements(lock.load_pyproject())) == pins, \
        "installed versions differ from constraints.txt: run `make setup`, or scripts/lock.py after the suite passes"


def test_the_setup_installs_through_the_lock_with_the_locked_extras():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    installs = [line for line in makefile.splitlines() if "$(PIP) install" in line and "-e " in line]
    assert installs and all("-c constraints.txt" in line for line in installs)
    extras = re.search(r'-e "\.\[([a-z,]+)\]"', installs[0])[1].split(",")
    assert sorted(extras) == sorted(lock.SETUP_EXTRAS)


def test_read_lock_refuses_a_loose_line():
    with pytest.raises(AssertionError, match="constraints.txt:2"):
        read_lock("a==1.0\nb>=2\n")
    assert read_lock("# c\nPy_Yaml==6.0\n") == {"py-yaml": "6.0"}
