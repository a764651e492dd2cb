"""The layers of docs/architecture.md hold: import-linter checks the contracts in pyproject.toml.

Each check runs in a fresh interpreter from the folder that holds the `knowtune` to check, so
that the package read is that folder's (the tree under test, or a copy with a bad import).
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = ("import sys; from importlinter.cli import lint_imports; "
        "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))")


def lint(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", LINT], cwd=folder, capture_output=True, text=True, timeout=300)


def layer_contract() -> dict:
    from importlinter.api import read_configuration

    contracts = read_configuration(str(ROOT / "pyproject.toml"))["contracts_options"]
    return next(c for c in contracts if c["type"] == "layers")


def test_the_contracts_are_kept():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_every_package_has_its_layer_and_the_doc_draws_the_same_picture():
    contract = layer_contract()
    layers = [[name.strip() for name in layer.split("|")] for layer in contract["layers"]]
    packages = {p.name for p in (ROOT / "knowtune").iterdir() if (p / "__init__.py").is_file()} | {"cli"}
    assert sorted(n for layer in layers for n in layer) == sorted(packages)
    line = " > ".join(", ".join(layer) for layer in layers)
    assert f"`{line}`" in (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def broken_copy(tmp_path_factory) -> Path:
    """The package with three bad imports: sideways, upward, and a circle inside commands."""
    copy = tmp_path_factory.mktemp("layers")
    shutil.copytree(ROOT / "knowtune", copy / "knowtune", ignore=shutil.ignore_patterns("__pycache__", "*.json*",
                                                                                          "*.md", "*.yaml"))
    shutil.copy(ROOT / "pyproject.toml", copy)
    bad = {"methods/persist.py": "from ..models import load_model",
           "config/errors.py": "from ..train import loop",
           "commands/evaluate.py": "from . import compare"}
    for path, line in bad.items():
        target = copy / "knowtune" / path
        target.write_text(target.read_text(encoding="utf-8") + f"\n{line}  # noqa\n", encoding="utf-8")
    return copy


def test_a_bad_import_breaks_the_contracts(broken_copy):
    result = lint(broken_copy)
    assert result.returncode != 0
    assert "0 kept, 2 broken" in result.stdout
    for message in ("knowtune.methods is not allowed to import knowtune.models",
                    "knowtune.config is not allowed to import knowtune.train",
                    "No cycles are allowed in knowtune.commands"):
        assert message in result.stdout, result.stdout
