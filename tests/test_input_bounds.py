"""Bounded input: size, records, line length, nesting and unpacked size limits, each a one-line
error naming the file; JSON line separators inside strings survive a round trip; a
dataset_info.json and a folder cannot read beyond their folder; wrong types are named."""

import json
import os
import zipfile

import pytest

from knowtune.config import KnowtuneError
from knowtune.data import load_dataset_dir
from knowtune.data.bounds import InputLimits, parse_limits
from knowtune.data.formats import load_inputs
from knowtune.data.jsonl import read_jsonl, write_jsonl

from test_outputs_safe import refused, run_cli

QA = {"instruction": "What is the capital of Hainan?", "output": "Haikou."}


def write_lines(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def deep(levels: int):
    return "[" * levels + "]" * levels


@pytest.mark.parametrize("suffix, text, where", [
    (".jsonl", '{"instruction": "q", "output": "a", "x": ' + deep(5000) + "}\n", ":1"),
    (".json", "[" + '{"instruction": "q", "output": "a", "x": ' + deep(5000) + "}]", ""),
    (".json", '[\n{"instruction": "q", "output": "a", "x": ' + deep(100) + "}]", ":2"),
    (".jsonl", '{"instruction": "q", "output": "a", "x": ' + deep(100) + "}\n", ":1"),
])
def test_deep_nesting_is_one_line_exit_2(tmp_path, capsys, suffix, text, where):
    path = tmp_path / f"deep{suffix}"
    path.write_text(text, encoding="utf-8")
    code, err = run_cli(capsys, "data", "build", path, "--format", "alpaca", "--out", tmp_path / "out")
    assert refused(code, err, f"{path}{where}: ", "nested more than 64 levels")
    assert not (tmp_path / "out").exists()


def test_line_separators_round_trip_through_a_built_set(tmp_path, capsys):
    answer = "Haikou\u2028(the capital)\u2029 of Hainan\x85."
    src = tmp_path / "qa.jsonl"
    src.write_text(json.dumps({"instruction": "Capital\u2028of Hainan?", "output": answer}, ensure_ascii=False)
                   + "\n", encoding="utf-8")
    out = tmp_path / "built"
    assert run_cli(capsys, "data", "build", src, "--out", out, "--heldout-ratio", "0")[0] == 0
    raw = (out / "train.jsonl").read_text(encoding="utf-8")
    assert "\u2028" not in raw and "\\u2028" in raw and "\\u0085" in raw
    train, _ = load_dataset_dir(out)
    assert any(s["messages"][-1]["content"] == answer.strip() for s in train)
    assert run_cli(capsys, "data", "show", out)[0] == 0


def test_writer_escapes_and_reader_splits_on_newline_only(tmp_path):
    path = tmp_path / "x.jsonl"
    rows = [{"t": "a\u2028b\u2029c\x85d\re"}, {"t": "second"}]
    write_jsonl(path, rows)
    assert path.read_text(encoding="utf-8").count("\n") == 2
    assert [obj for _, obj in read_jsonl(path)] == rows


@pytest.mark.parametrize("record, field", [
    ({"instruction": 5, "output": "x"}, "instruction"),
    ({"instruction": "q", "input": 7.5, "output": "x"}, "input"),
    ({"instruction": "q", "output": float("nan")}, "output"),
])
def test_wrong_types_are_named_not_coerced(tmp_path, capsys, record, field):
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    code, err = run_cli(capsys, "data", "build", path, "--format", "alpaca", "--out", tmp_path / "out")
    assert refused(code, err, f"{path}:1", f"field '{field}'", "must be a string")


def test_a_numeric_answer_is_still_read_as_text(tmp_path):
    path = write_lines(tmp_path / "a.jsonl", [{"instruction": "How many cities?", "output": 19}])
    assert load_inputs([path]).conversations[0].answer == "19"


@pytest.mark.parametrize("file_name", ["../outside.jsonl", "{abs}", "link.jsonl", "linkdir"])
def test_dataset_info_cannot_reach_outside_its_folder(tmp_path, capsys, file_name):
    outside = write_lines(tmp_path / "outside.jsonl", [QA])
    folder = tmp_path / "data"
    folder.mkdir()
    os.symlink(outside, folder / "link.jsonl")
    os.symlink(tmp_path, folder / "linkdir")
    name = file_name.format(abs=outside)
    (folder / "dataset_info.json").write_text(json.dumps({"mine": {"file_name": name}}))
    code, err = run_cli(capsys, "data", "build", folder, "--out", tmp_path / "out")
    assert refused(code, err, "dataset_info.json", "field 'mine.file_name'", "--allow-outside")
    code, _ = run_cli(capsys, "data", "build", folder, "--out", tmp_path / "out", "--allow-outside")
    assert code == 0


def test_a_link_out_of_an_input_folder_is_not_followed(tmp_path, capsys):
    secret = write_lines(tmp_path / "secret.jsonl", [QA])
    folder = tmp_path / "kb"
    folder.mkdir()
    write_lines(folder / "mine.jsonl", [QA])
    os.symlink(secret, folder / "z.jsonl")
    code, err = run_cli(capsys, "data", "build", folder, "--out", tmp_path / "out")
    assert refused(code, err, "z.jsonl", "outside the input folder")


@pytest.mark.parametrize("limit, make, needle", [
    ("file_mb=0.001", lambda p: write_lines(p / "a.jsonl", [QA] * 40), "MiB limit"),
    ("records=3", lambda p: write_lines(p / "a.jsonl", [QA] * 4), "more than 3 records"),
    ("records=3", lambda p: (p / "a.json").write_text(json.dumps([QA] * 4)) and p / "a.json", "more than 3 records"),
    ("records=3", lambda p: (p / "a.csv").write_text("question,answer\n" + "q,a\n" * 4) and p / "a.csv",
     "more than 3 records"),
    ("line_kb=1", lambda p: write_lines(p / "a.jsonl", [dict(QA, output="x" * 2000)]), "KiB limit"),
    ("depth=3", lambda p: write_lines(p / "a.jsonl", [dict(QA, extra=[[["x"]]])]), "nested more than 3"),
])
def test_limits_are_one_line_and_configurable(tmp_path, capsys, limit, make, needle):
    path = make(tmp_path)
    out = tmp_path / "out"
    code, err = run_cli(capsys, "data", "build", path, "--out", out, "--limit", limit)
    assert refused(code, err, str(path), needle)
    assert not out.exists()


def test_a_docx_that_unpacks_beyond_the_limit_is_refused_unopened(tmp_path, capsys):
    bomb = tmp_path / "bomb.docx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"\0" * (3 << 20))  # 3 MiB of zeros, a few KiB packed
    assert bomb.stat().st_size < 100_000
    code, err = run_cli(capsys, "data", "build", bomb, "--out", tmp_path / "out", "--limit", "unpacked_mb=1")
    assert refused(code, err, str(bomb), "unpacks to 3 MiB")


def test_a_parquet_file_that_unpacks_beyond_the_limit_is_refused(tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    # one 100 kB answer stored once and repeated 2,000 times: a small file that decodes to 200 MB
    # (kept small so that a regression costs the test machine little)
    rows = 2_000
    once = pa.array([0] * rows, pa.int32())
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"question": pa.DictionaryArray.from_arrays(once, pa.array(["q?"])),
                             "answer": pa.DictionaryArray.from_arrays(once, pa.array(["a" * 100_000]))}), path)
    assert path.stat().st_size < 1 << 20
    code, err = run_cli(capsys, "data", "build", path, "--out", tmp_path / "out", "--limit", "unpacked_mb=100")
    assert refused(code, err, str(path), "over the 100 MiB limit")
    nested = tmp_path / "n.parquet"
    turns = [[{"from": "human", "value": "q?"}, {"from": "gpt", "value": "a" * 5000}]] * 300
    pq.write_table(pa.table({"conversations": turns}), nested)
    code, err = run_cli(capsys, "data", "build", nested, "--out", tmp_path / "out", "--limit", "unpacked_mb=1")
    assert refused(code, err, str(nested), "over the 1 MiB limit")
    code, err = run_cli(capsys, "data", "build", path, "--out", tmp_path / "out", "--limit", "records=999")
    assert refused(code, err, str(path), "more than 999 records")


@pytest.mark.parametrize("pair, needle", [("bogus=1", "KEY=VALUE"), ("records=x", "must be a whole number"),
                                          ("file_mb=0", "must be > 0"), ("depth", "KEY=VALUE")])
def test_bad_limit_options(pair, needle):
    with pytest.raises(KnowtuneError, match=needle):
        parse_limits([pair])


def test_limits_parse():
    assert parse_limits(["records=5", "file_mb=1.5"]) == InputLimits(records=5, file_mb=1.5)
