"""The registry checks each method module against the contract when it loads it: a misspelt or
unknown name fails there, in one line naming the module's file, the line and the name."""

import importlib
import sys

import pytest

from knowtune.config import KnowtuneError
from knowtune.methods import get_method, method_names, registry
from knowtune.methods.contract import check_module

GOOD = '''"""A method that keeps the contract."""
from dataclasses import dataclass

NAME = "fake"
SUMMARY = "a method for the contract's tests"
MERGEABLE = True
SAVE_FORMAT = "peft"
FROZEN_BASE = True
DEFAULT_LR = 1


@dataclass
class Params:
    r: int = 1


def apply(model, params):
    return model


def _helper():
    return None


def peft_config(params):
    return None
'''

# (what is changed, into what; the name the error must give, words of its reason)
BROKEN = [
    ("FROZEN_BASE = True", "FROZEN_BASES = True", "FROZEN_BASES", "did you mean FROZEN_BASE"),
    ("FROZEN_BASE = True", "FROZEN_BASE = 1", "FROZEN_BASE", "must be a bool"),
    ("MERGEABLE = True", 'MERGEABLE = "yes"', "MERGEABLE", "must be a bool"),
    ("DEFAULT_LR = 1", "DEFAULT_LR = True", "DEFAULT_LR", "must be a float"),
    ('SAVE_FORMAT = "peft"', 'SAVE_FORMAT = "pef"', "SAVE_FORMAT", "must be one of peft, weights"),
    ('NAME = "fake"', "", "NAME", "missing"),
    ("FROZEN_BASE = True", "MAX_RANK = 8", "MAX_RANK", "start with '_'"),
    ("def _helper", "def make_optimiser", "make_optimiser", "hook make_optimizer misspelt"),
    ("def _helper", "def prepare_bases", "prepare_bases", "hook prepare_base misspelt"),
    ("@dataclass\nclass Params", "class Params", "Params", "must be a dataclass"),
    ("TEST_SETTINGS", "TEST_SETTINGS", "TEST_SETTINGS", "must be a TinySettings"),
]


def write_module(tmp_path, monkeypatch, source: str, name: str):
    (tmp_path / f"{name}.py").write_text(source, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


@pytest.mark.parametrize("name", method_names())
def test_every_registered_method_keeps_the_contract(name):
    check_module(get_method(name).module)


def test_a_module_that_keeps_the_contract_passes(tmp_path, monkeypatch):
    check_module(importlib.import_module(write_module(tmp_path, monkeypatch, GOOD, "kt_fake_good")))


@pytest.mark.parametrize("i", range(len(BROKEN)))
def test_a_broken_module_fails_at_registry_load_naming_file_line_and_name(i, tmp_path, monkeypatch):
    old, new, field, why = BROKEN[i]
    source = GOOD.replace(old, new) if old != "TEST_SETTINGS" else GOOD + 'TEST_SETTINGS = {"params": {}}\n'
    assert source != GOOD
    module = write_module(tmp_path, monkeypatch, source, f"kt_fake_broken_{i}")
    monkeypatch.setitem(registry.METHOD_MODULES, "fake", module)
    with pytest.raises(KnowtuneError) as info:
        get_method("fake")
    err = info.value
    assert err.field == field and why in err.message and module in err.message
    assert err.file.endswith(f"{module}.py")
    if field != "NAME":  # a missing name has no line
        assert field in source.splitlines()[err.line - 1]
    assert "\n" not in str(err)
    sys.modules.pop(module, None)
