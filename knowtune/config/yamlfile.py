"""Read a YAML mapping and remember the line of every key, for one-line errors."""

from __future__ import annotations

from pathlib import Path

import yaml

from .errors import KnowtuneError


def _walk(node, prefix: str, lines: dict[str, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = prefix + str(key_node.value)
            lines[path] = key_node.start_mark.line + 1
            _walk(value_node, path + ".", lines)


def load_yaml(path: str | Path) -> tuple[dict, dict[str, int]]:
    """Return (mapping, {dotted key: line}) or raise KnowtuneError naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise KnowtuneError("file not found", file=str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise KnowtuneError(f"not UTF-8 text ({err.reason})", file=str(path)) from None
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        why = getattr(err, "problem", None) or "invalid YAML"
        raise KnowtuneError(f"invalid YAML: {why}", file=str(path),
                            line=mark.line + 1 if mark else None) from None
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise KnowtuneError("must be a YAML mapping of keys to values", file=str(path), line=1)
    lines: dict[str, int] = {}
    _walk(node, "", lines)
    return data, lines
