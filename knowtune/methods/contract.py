"""The method-module contract, checked when the registry loads a method module.

A misspelt name would otherwise pass unnoticed: `FROZEN_BASES = True` read as a missing
`FROZEN_BASE` with its default False, `make_optimiser` never called. So every public
upper-case name of a method module must be one of the contract's constants, with the type
the contract gives it, and a public function whose name is a near miss of a hook's is
refused. A method keeps its own constants private (`_NAME`) and gives its own helpers names
unlike the hooks'.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import inspect
from types import ModuleType

from ..config import KnowtuneError


@dataclasses.dataclass(frozen=True)
class TinySettings:
    """How the contract tests (tests/test_methods_*.py) exercise a method on tiny random models."""

    params: dict
    """Small parameters for a model of a few hundred thousand weights."""
    lr: float
    """A learning rate that moves those parameters within a few steps."""
    bad_value: dict | None = None
    """One parameter set to a value the method must refuse, naming that parameter (None: no parameters)."""


@dataclasses.dataclass
class StateBytes:
    """A method's own gradients and optimizer state, in bytes, for the memory estimate."""

    gradients: int | None = None
    """None: one gradient per trainable parameter."""
    optimizer: int | None = None
    """None: AdamW's two moments per trainable parameter."""
    notes: list[str] = dataclasses.field(default_factory=list)
    """What the estimate's report says about them."""


REQUIRED = {"NAME": str, "SUMMARY": str, "MERGEABLE": bool, "SAVE_FORMAT": str}
OPTIONAL = {"DEFAULT_LR": float, "FROZEN_BASE": bool, "USES_MODEL_FORWARD": bool, "COMPILE_AUTO": bool,
            "TEST_SETTINGS": TinySettings}
HOOKS = ("apply", "load_kwargs", "make_optimizer", "prepare_base", "estimate_state", "trainable_count")
SAVE_FORMATS = ("peft", "weights")


def check_module(module: ModuleType) -> None:
    """Raise one KnowtuneError naming the module's file, the line and the attribute that break the contract."""
    for name in REQUIRED:
        if not hasattr(module, name):
            _fail(module, name, f"missing; a method module defines {', '.join(REQUIRED)}")
    for name, value in vars(module).items():
        if name.isupper() and not name.startswith("_"):
            _check_constant(module, name, value)
    if module.SAVE_FORMAT not in SAVE_FORMATS:
        _fail(module, "SAVE_FORMAT", f"must be one of {', '.join(SAVE_FORMATS)}, got {module.SAVE_FORMAT!r}")
    params = getattr(module, "Params", None)
    if not (inspect.isclass(params) and dataclasses.is_dataclass(params)):
        _fail(module, "Params", "must be a dataclass of the method's parameters")
    if not callable(getattr(module, "apply", None)):
        _fail(module, "apply", "must be a function apply(model, params) -> model")
    _check_hooks(module)


def _check_constant(module: ModuleType, name: str, value) -> None:
    expected = REQUIRED.get(name) or OPTIONAL.get(name)
    if expected is None:
        near = difflib.get_close_matches(name, [*REQUIRED, *OPTIONAL], n=1)
        hint = f"did you mean {near[0]}?" if near else "constants of the method's own start with '_'"
        _fail(module, name, f"not a name of the method contract; {hint}")
    # an int learning rate (1) is a float to everyone else; a bool is an int to Python, not here
    ok = isinstance(value, expected) or (expected is float and type(value) is int)
    if not ok or (expected is not bool and isinstance(value, bool)):
        _fail(module, name, f"must be a {expected.__name__}, got {value!r}")


def _check_hooks(module: ModuleType) -> None:
    for name, value in vars(module).items():
        if name.startswith("_") or not inspect.isfunction(value) or name in HOOKS:
            continue
        near = difflib.get_close_matches(name, HOOKS, n=1, cutoff=0.85)
        if near:
            _fail(module, name, f"looks like the hook {near[0]} misspelt; a helper of the method's own "
                                f"starts with '_'")
    for name in HOOKS:
        if hasattr(module, name) and not callable(getattr(module, name)):
            _fail(module, name, "a hook of the method contract must be a function")


def _fail(module: ModuleType, name: str, why: str):
    file = getattr(module, "__file__", None) or module.__name__
    raise KnowtuneError(f"method module {module.__name__}: {why}", file=file, line=_line_of(module, name),
                        field=name)


def _line_of(module: ModuleType, name: str) -> int | None:
    """Where the module assigns or defines `name` (None for a module without source)."""
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError):
        return None
    for node in tree.body:
        targets = []
        if isinstance(node, ast.Assign):
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign):
            targets = [getattr(node.target, "id", None)]
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            targets = [node.name]
        if name in targets:
            return node.lineno
    return None
