"""A method's params dataclass -> web-form fields, and the filled form -> `--set params.x=v` options.

The same per-field docstrings that make `--help` label the fields, so a new method gets
its form without any web-UI code.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from ...config import describe_fields


@dataclass(frozen=True)
class FormField:
    name: str
    kind: str  # "bool", "int", "float", "choice", "list", "text"
    default: Any
    help: str
    choices: tuple = ()


def _kind(tp: Any) -> tuple[str, tuple]:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "choice", typing.get_args(tp)
    if origin is list:
        return "list", ()
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        return _kind(options[0]) if len(options) == 1 else ("text", ())
    return {bool: "bool", int: "int", float: "float"}.get(tp, "text"), ()


def form_fields(params_cls: type) -> list[FormField]:
    """One field per dataclass field, with its type, default and docstring."""
    hints = typing.get_type_hints(params_cls)
    fields = []
    for name, _type_name, default, doc in describe_fields(params_cls):
        kind, choices = _kind(hints[name])
        fields.append(FormField(name, kind, default, doc, choices))
    return fields


def shown_value(field: FormField) -> Any:
    """The default as the form shows it (lists as comma-separated text, None as empty)."""
    if field.kind == "list":
        return ",".join(str(v) for v in field.default or [])
    if field.default is None:
        return None if field.kind in ("int", "float") else ""  # an empty number box holds None
    return field.default


def param_overrides(fields: list[FormField], values: list[Any]) -> list[str]:
    """`params.NAME=VALUE` for every field changed from its default (the CLI validates them)."""
    options = []
    for field, value in zip(fields, values):
        if value is None or value == shown_value(field):
            continue
        if field.kind == "int" and isinstance(value, float) and value.is_integer():
            value = int(value)
        if field.kind == "bool":
            value = "true" if value else "false"
        options.append(f"params.{field.name}={value}")
    return options
