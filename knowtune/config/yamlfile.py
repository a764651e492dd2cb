"""Read a YAML mapping and remember the line of every key, for one-line errors.

A config is a short hand-written file, so it is bounded by fixed limits: its size, its nesting and
the nodes its aliases expand to (a "billion laughs" file is a few lines of anchors). PyYAML parses
by recursion, so a deeply nested file would otherwise end in a RecursionError traceback.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from .errors import KnowtuneError

MAX_BYTES = 1 << 20
MAX_DEPTH = 64
MAX_NODES = 100_000


def _key_lines(root, path: Path) -> dict[str, int]:
    """{dotted key: line}, walked without recursion; every visit of an aliased node counts."""
    lines: dict[str, int] = {}
    stack, visits = [(root, "", 1)], 0
    while stack:
        node, prefix, depth = stack.pop()
        visits += 1
        if visits > MAX_NODES:
            raise KnowtuneError(f"YAML expands to more than {MAX_NODES:,} values (aliases?)", file=str(path))
        if depth > MAX_DEPTH:
            raise KnowtuneError(f"YAML nested more than {MAX_DEPTH} levels deep", file=str(path),
                                line=node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = prefix + str(key_node.value)
                lines[key] = key_node.start_mark.line + 1
                stack.append((value_node, key + ".", depth + 1))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, prefix, depth + 1) for item in node.value)
    return lines


def load_yaml(path: str | Path) -> tuple[dict, dict[str, int]]:
    """Return (mapping, {dotted key: line}) or raise KnowtuneError naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise KnowtuneError("file not found", file=str(path))
    if path.stat().st_size > MAX_BYTES:
        raise KnowtuneError(f"larger than {MAX_BYTES >> 20} MiB: not a config file", file=str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise KnowtuneError(f"not UTF-8 text ({err.reason})", file=str(path)) from None
    try:
        node = yaml.compose(text)
        lines = _key_lines(node, path) if node is not None else {}
        data = yaml.safe_load(text)
    except RecursionError:
        raise KnowtuneError(f"YAML nested more than {MAX_DEPTH} levels deep", file=str(path)) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        why = getattr(err, "problem", None) or "invalid YAML"
        raise KnowtuneError(f"invalid YAML: {why}", file=str(path),
                            line=mark.line + 1 if mark else None) from None
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise KnowtuneError("must be a YAML mapping of keys to values", file=str(path), line=1)
    return data, lines
