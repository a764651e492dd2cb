"""Every input format under random, large and deeply nested records: a result or one line
naming the file (exit 2 at the CLI), never another exception, never a RecursionError."""

import csv
import io
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from knowtune.config import KnowtuneError
from knowtune.data.bounds import InputLimits
from knowtune.data.formats import load_inputs

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
LIMITS = InputLimits(records=30, line_kb=8, depth=8, file_mb=1, unpacked_mb=1)

scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
           | st.sampled_from(["\u2028", "a\u2029b", "\x85", "human", "gpt", "user", "assistant", "Q?", "x" * 9000]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=10)
keys = st.sampled_from(["instruction", "input", "output", "history", "system", "conversations", "messages",
                        "question", "answer", "subject", "relation", "aliases", "from", "value", "role",
                        "content", "text"])
records = st.dictionaries(keys, values, max_size=6)


def deep_json(levels: int, inner: str = '"x"') -> str:
    """Nesting built as text: json.dumps itself would recurse."""
    opens = "".join('{"k": [' if i % 2 else "[" for i in range(levels))
    closes = "".join("]}" if i % 2 else "]" for i in reversed(range(levels)))
    return opens + inner + closes


def check(paths, fmt=None):
    try:
        load_inputs(paths, fmt, limits=LIMITS)
    except KnowtuneError as err:
        text = str(err)
        assert "\n" not in text and any(str(p) in text for p in paths) or "field '--" in text, text


@FUZZ
@given(rows=st.lists(records, max_size=40), fmt=st.sampled_from([None, "alpaca", "sharegpt", "openai", "qa"]),
       depth=st.integers(0, 3000), where=st.integers(0, 40))
def test_jsonl_and_json_arrays(tmp_path, rows, fmt, depth, where):
    lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    if depth:
        lines.insert(min(where, len(lines)), '{"instruction": "q", "output": "a", "x": ' + deep_json(depth) + "}")
    if not lines:
        lines = ["{}"]
    jsonl, array = tmp_path / "in.jsonl", tmp_path / "in.json"
    jsonl.write_text("\n".join(lines), encoding="utf-8")
    array.write_text("[\n" + ",\n".join(lines) + "\n]", encoding="utf-8")
    check([jsonl], fmt)
    check([array], fmt)


@FUZZ
@given(rows=st.lists(st.lists(st.text(max_size=30) | st.just("x" * 200_000), min_size=2, max_size=2), max_size=40))
def test_csv_tables(tmp_path, rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["question", "answer"])
    writer.writerows(rows)
    path = tmp_path / "t.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    check([path])


@FUZZ
@given(entry=st.dictionaries(st.sampled_from(["file_name", "formatting", "columns", "tags", "ranking"]), values,
                             max_size=5), rows=st.lists(records, max_size=5), depth=st.integers(0, 2000))
def test_llamafactory_folders(tmp_path, entry, rows, depth):
    folder = tmp_path / "lf"
    folder.mkdir(exist_ok=True)
    (folder / "d.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    info = json.dumps({"d": entry})
    if depth:
        info = info[:-1] + ', "deep": ' + deep_json(depth) + "}"
    (folder / "dataset_info.json").write_text(info, encoding="utf-8")
    check([folder])
