"""Build a dataclass from a plain dict, refusing unknown keys and values of the wrong type.

Every config dataclass states its rules one way: a `validate()` method raising
`ValueError("name: why")`; `check_valid` turns that into the one-line KnowtuneError naming the
field as the user wrote it (a YAML key with its line, or a command-line flag)."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Literal, Union

from .errors import KnowtuneError


def _type_label(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(_type_label(a) for a in typing.get_args(tp))
    if origin is list:
        (inner,) = typing.get_args(tp) or (Any,)
        return f"list of {_type_label(inner)}"
    return "null" if tp is type(None) else getattr(tp, "__name__", str(tp))


def coerce_value(tp: Any, value: Any) -> Any:
    """Return `value` converted to `tp`, or raise ValueError with the expected type."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value in allowed:
            return value
        raise ValueError(f"must be one of {', '.join(repr(a) for a in allowed)}, got {value!r}")
    if origin in (Union, types.UnionType):
        errors = []
        for option in typing.get_args(tp):
            try:
                return coerce_value(option, value)
            except ValueError as err:
                errors.append(str(err))
        options = [o for o in typing.get_args(tp) if o is not type(None)]
        if len(options) == 1 and len(errors) == 2:  # Optional[T]: T's own reason, and that empty is allowed
            raise ValueError(f"{errors[0]} (or empty for the default)")
        raise ValueError(f"must be {_type_label(tp)}, got {value!r}")
    if tp is type(None):
        if value is None:
            return None
        raise ValueError(f"must be null, got {value!r}")
    if origin is list:
        (inner,) = typing.get_args(tp) or (Any,)
        if isinstance(value, str):  # "a,b,c" from a command line
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"must be {_type_label(tp)}, got {value!r}")
        return [coerce_value(inner, v) for v in value]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ValueError(f"must be a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ValueError(f"must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise ValueError(f"must be an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ValueError(f"must be an integer, got {value!r}")
    if tp is float:
        if isinstance(value, bool):
            raise ValueError(f"must be a number, got {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ValueError(f"must be a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ValueError(f"must be a string, got {value!r}")
    raise ValueError(f"unsupported type {tp!r}")


def share_in_range(value: Any, *, most: float, field: str, meaning: str = "") -> float:
    """A share from 0 to `most`, given as a number or its text (the command line), else the one-line
    error naming `field`; booleans, NaN and infinities are refused."""
    try:
        number = math.nan if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not 0 <= number <= most:  # NaN fails too
        note = f" ({meaning})" if meaning else ""
        raise KnowtuneError(f"must be a number from 0 to {most:g}{note}, got {value!r}", field=field)
    return number


def from_dict(cls: type, data: dict, *, file: str | None = None,
              lines: dict[str, int] | None = None, prefix: str = "") -> Any:
    """Instantiate dataclass `cls` from `data`; errors name the file, line and field."""
    lines = lines or {}
    if not isinstance(data, dict):
        raise KnowtuneError("must be a mapping of keys to values", file=file, field=prefix.rstrip(".") or None)
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in data.items():
        path = prefix + str(key)
        if key not in known:
            raise KnowtuneError(f"unknown key; allowed: {', '.join(sorted(known)) or 'none'}",
                                file=file, line=lines.get(path), field=path)
        try:
            kwargs[key] = coerce_value(hints[key], value)
        except ValueError as err:
            raise KnowtuneError(str(err), file=file, line=lines.get(path), field=path) from None
    try:
        obj = cls(**kwargs)
    except TypeError as err:
        raise KnowtuneError(str(err), file=file) from None
    check_valid(obj, file=file, lines=lines, field=lambda name: prefix + name)
    return obj


def check_valid(obj: Any, *, file: str | None = None, lines: dict[str, int] | None = None,
                field: typing.Callable[[str], str] = lambda name: name) -> None:
    """Run `obj.validate()` (when it has one); its ValueError "name: why" becomes a KnowtuneError
    naming `field(name)`, at its line in `lines` when known."""
    check = getattr(obj, "validate", None)
    if check is None:
        return
    try:
        check()
    except ValueError as err:
        name, _, why = str(err).partition(": ")
        path = field(name)
        raise KnowtuneError(why or name, file=file, line=(lines or {}).get(path), field=path) from None


def cli_flag(name: str) -> str:
    """The command-line option of a field: max_tokens -> --max-tokens."""
    return "--" + name.replace("_", "-")
