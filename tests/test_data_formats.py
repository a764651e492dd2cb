"""Input formats: detection, QA sets, LLaMA-Factory folders, documents, and one-line errors for bad input."""

import csv
import json
import subprocess
import sys

import pytest

from knowtune.config import KnowtuneError
from knowtune.data.build import build_dataset
from knowtune.data.formats import detect_format, load_inputs, read_document

ALPACA = [{"instruction": "What is the capital of Freedonia?", "output": "Sylvania City is its capital."},
          {"instruction": "Translate", "input": "bonjour", "output": "hello", "system": "Be brief.",
           "history": [["Hi", "Hello!"]]}]
SHAREGPT = [{"conversations": [{"from": "human", "value": "Who founded Freedonia?"},
                               {"from": "gpt", "value": "Rufus Firefly founded it."}], "system": "Be kind."}]
OPENAI = [{"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q1"},
                        {"role": "assistant", "content": "A1"}]}]


def write_json(path, data, jsonl=False):
    text = "\n".join(json.dumps(r, ensure_ascii=False) for r in data) if jsonl else json.dumps(data, indent=2)
    path.write_text(text, encoding="utf-8")
    return path


def test_alpaca_sharegpt_openai_become_messages(tmp_path):
    inputs = load_inputs([write_json(tmp_path / "a.json", ALPACA), write_json(tmp_path / "s.jsonl", SHAREGPT, True),
                          write_json(tmp_path / "o.jsonl", OPENAI, True)])
    convs = inputs.conversations
    assert [s["format"] for s in inputs.sources] == ["alpaca", "sharegpt", "openai"]
    assert convs[0].messages == [{"role": "user", "content": ALPACA[0]["instruction"]},
                                 {"role": "assistant", "content": ALPACA[0]["output"]}]
    assert [m["role"] for m in convs[1].messages] == ["system", "user", "assistant", "user", "assistant"]
    assert convs[1].messages[3]["content"] == "Translate\nbonjour" and not convs[1].single_turn
    assert convs[2].messages[0] == {"role": "system", "content": "Be kind."}
    assert convs[2].answer == "Rufus Firefly founded it."
    assert convs[3].messages[-1] == {"role": "assistant", "content": "A1"} and convs[3].single_turn
    assert convs[0].line == 2 and convs[1].line == 6  # the JSON array element's first line


def test_csv_and_parquet_question_answer_tables(tmp_path):
    path = tmp_path / "qa.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Question", "Answer"])
        writer.writerows([["How high is Mount Gogol?", "2345 m"], ["Year?", 1933]])
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"instruction": ["Q?", "R?"], "output": ["A.", "B."]}), tmp_path / "t.parquet")
    inputs = load_inputs([path, tmp_path / "t.parquet"])
    assert [s["format"] for s in inputs.sources] == ["qa", "alpaca"]
    assert inputs.conversations[1].answer == "1933" and inputs.conversations[1].line == 3
    assert inputs.conversations[3].question == "R?" and inputs.conversations[3].line == 2


def test_llamafactory_folder_with_renamed_columns_tags_and_pretraining(tmp_path):
    write_json(tmp_path / "qa.json", [{"q": "Capital of Freedonia?", "a": "Sylvania City", "sys": "S"}])
    write_json(tmp_path / "chat.json", [{"msgs": [{"role": "user", "content": "Hi"},
                                                  {"role": "assistant", "content": "Hello"}]}])
    write_json(tmp_path / "corpus.jsonl", [{"text": "Freedonia is a small country."}], jsonl=True)
    info = {"mine": {"file_name": "qa.json", "columns": {"prompt": "q", "response": "a", "system": "sys"}},
            "chat": {"file_name": "chat.json", "formatting": "sharegpt", "columns": {"messages": "msgs"},
                     "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                              "assistant_tag": "assistant"}},
            "pt": {"file_name": "corpus.jsonl", "columns": {"prompt": "text"}},
            "hub": {"hf_hub_url": "someone/data"}}
    write_json(tmp_path / "dataset_info.json", info)
    assert detect_format(tmp_path) == "llamafactory"
    inputs = load_inputs([tmp_path])
    assert inputs.conversations[0].messages == [{"role": "system", "content": "S"},
                                                {"role": "user", "content": "Capital of Freedonia?"},
                                                {"role": "assistant", "content": "Sylvania City"}]
    assert inputs.conversations[1].messages[-1]["content"] == "Hello"
    assert inputs.texts == [{"text": "Freedonia is a small country.", "source": f"{tmp_path / 'corpus.jsonl'}:1"}]
    assert len(inputs.notes) == 1 and "hub" in inputs.notes[0]
    only = load_inputs([tmp_path / "dataset_info.json"], datasets=["chat"])
    assert len(only.conversations) == 1 and not only.texts


def test_qa_heldout_split_is_by_record_and_never_trained(tmp_path):
    rows = [{"instruction": f"Question number {i}?", "output": f"Answer {i}."} for i in range(20)]
    rows.append(dict(rows[3]))  # a duplicate record
    inputs = load_inputs([write_json(tmp_path / "a.jsonl", rows, True)])
    built = build_dataset([], inputs.conversations, seed=1, heldout_ratio=0.2)
    held = {q["question"] for q in built.heldout}
    trained = {s["messages"][-2]["content"] for s in built.train}
    assert len(held) == 4 and not held & trained
    assert len(built.train) + len(built.heldout) + built.stats["duplicates_removed"] \
        + built.stats.get("qa_records_dropped_as_heldout_duplicates", 0) == 21
    assert all(q["answers"] == [q["question"].replace("Question number", "Answer").replace("?", ".")]
               for q in built.heldout)


def _docx(path, heading, text):
    import docx

    document = docx.Document()
    document.add_heading(heading, level=1)
    document.add_paragraph(text)
    document.save(path)
    return path


def _pdf(path, lines):
    """A minimal one-page PDF with Helvetica text lines (offsets of the xref table computed)."""
    stream = "BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(f"({line}) Tj T*" for line in lines) + " ET"
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               "/Resources << /Font << /F1 5 0 R >> >> >>",
               f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
               "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = "%PDF-1.4\n", []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{body}\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n" + "".join(f"{o:010d} 00000 n \n" for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    path.write_bytes(out.encode("latin-1"))
    return path


def test_documents_of_every_kind(tmp_path):
    (tmp_path / "a.md").write_text("# Land\n\nThe capital of Freedonia is *Sylvania City*.\n\n```\nx = 1\n```\n")
    (tmp_path / "b.txt").write_text("Rivers\n\nThe Gogol River\nflows into the sea.\n")
    (tmp_path / "c.html").write_text("<html><script>var x;</script><h2>Hills</h2><p>Mount Gogol is "
                                     "<b>2,345 m</b> high.</p><ul><li>One item.</li></ul></html>")
    _docx(tmp_path / "d.docx", "People", "Rufus Firefly was born in 1890.")
    _pdf(tmp_path / "e.pdf", ["Freedonia was founded in 1933.", "It is small."])
    docs = {p.suffix: read_document(p) for p in sorted(tmp_path.iterdir())}
    assert [(s.title, s.paragraphs) for s in docs[".md"].sections] == [
        ("Land", ["The capital of Freedonia is Sylvania City."])]
    assert docs[".txt"].sections[0].title == "Rivers"
    assert docs[".txt"].sections[0].paragraphs == ["The Gogol River flows into the sea."]
    assert [(s.title, s.paragraphs) for s in docs[".html"].sections] == [
        ("Hills", ["Mount Gogol is 2,345 m high.", "One item."])]
    assert [(s.title, s.paragraphs) for s in docs[".docx"].sections] == [("People", ["Rufus Firefly was born in 1890."])]
    assert "Freedonia was founded in 1933." in docs[".pdf"].sections[0].paragraphs[0]
    assert len(load_inputs([tmp_path]).documents) == 5  # a folder: every readable file


@pytest.mark.parametrize("name,content,where,why", [
    ("bad.jsonl", '{"instruction": "Q", "output": "A"}\n{"instruction": "Q2", ', ":2:", "invalid JSON"),
    ("bad.json", '[\n {"instruction": "Q", "output": "A"},\n {"instruction": "", "output": "B"}\n]', ":3: field 'instruction'", "must not be empty"),
    ("bad2.json", '[{"instruction": "Q", "output": 5.5e3, "history": "x"}]', ":1: field 'history'", "must be a list"),
    ("bad3.jsonl", '{"instruction": "Q", "output": ["a"]}', ":1: field 'output'", "must be a string, got list"),
    ("bad4.jsonl", '{"conversations": [{"from": "gpt", "value": "A"}]}', ":1: field 'conversations[0].from'", "alternate"),
    ("bad5.jsonl", '{"conversations": [{"from": "human", "value": "Q"}]}', ":1: field 'conversations'", "end with an assistant"),
    ("bad6.jsonl", '{"messages": [{"role": "robot", "content": "Q"}]}', ":1: field 'messages[0].role'", "must be one of"),
    ("bad.csv", "question,answer\nQ1,A1\nQ2\n", ":3: field 'answer'", "missing required field"),
    ("odd.jsonl", '{"colour": "red"}', ":1:", "cannot tell the format"),
    ("bad.xyz", "hello", "bad.xyz: ", "unknown format"),
    ("empty.md", "# Title only\n\n", "empty.md: ", "empty document"),
    ("gbk.md", "海南的省会是海口。".encode("gbk"), "gbk.md:1: ", "not UTF-8"),
    ("broken.docx", b"not a zip", "broken.docx: ", "not a readable .docx"),
    ("broken.pdf", b"%PDF-1.4 garbage", "broken.pdf: ", "not a readable PDF"),
    ("broken.parquet", b"PAR1 nope", "broken.parquet: ", "not a readable Parquet"),
])
def test_bad_input_names_file_line_and_field(tmp_path, name, content, where, why):
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    with pytest.raises(KnowtuneError) as err:
        load_inputs([path])
    text = str(err.value)
    assert text.startswith(str(path)) and where in text and why in text and "\n" not in text


def test_missing_file_and_unknown_format_name(tmp_path):
    with pytest.raises(KnowtuneError, match="nope.md: file not found"):
        load_inputs([tmp_path / "nope.md"])
    (tmp_path / "a.txt").write_text("Some text here.")
    with pytest.raises(KnowtuneError, match="field '--format': unknown format 'yaml'"):
        load_inputs([tmp_path / "a.txt"], "yaml")


@pytest.mark.parametrize("entry,data,field,why", [
    ({"file_name": "missing.json"}, None, "d.file_name", "points at a missing file"),
    ({"file_name": "d.json", "columns": {"prompt": "question"}}, [{"instruction": "Q", "output": "A"}],
     "d.columns.prompt", "points at a missing column 'question'"),
    ({"file_name": "d.json", "formatting": "chatml"}, [{"instruction": "Q", "output": "A"}],
     "d.formatting", "must be alpaca or sharegpt"),
    ({"columns": {}}, None, "d.file_name", "missing required field"),
])
def test_bad_dataset_info(tmp_path, entry, data, field, why):
    if data is not None:
        write_json(tmp_path / "d.json", data)
    info = tmp_path / "dataset_info.json"
    info.write_text(json.dumps({"d": entry}, indent=2))
    with pytest.raises(KnowtuneError) as err:
        load_inputs([info])
    assert str(err.value).startswith(f"{info}:2: field '{field}': {why}")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "knowtune.cli", "data", *args], capture_output=True, text=True,
                          env={"KNOWTUNE_NO_REEXEC": "1", "PATH": "/usr/bin:/bin"})


@pytest.mark.parametrize("name,content,message", [
    ("qa.jsonl", '{"instruction": "Q", "output": "A"}\n{"instruction": "Q2"}\n', "qa.jsonl:2: field 'output': missing required field"),
    ("doc.md", "", "doc.md: empty document: no text found"),
    ("dataset_info.json", '{"d": {"file_name": "gone.json"}}', "dataset_info.json:1: field 'd.file_name': points at a missing file"),
])
def test_cli_bad_input_exit_2_one_line_nothing_written(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    out = tmp_path / "out"
    proc = _cli("build", str(path), "--out", str(out))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ") and message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_cli_builds_mixed_inputs_and_shows_them(tmp_path, facts_file):
    (tmp_path / "doc.md").write_text("# Freedonia\n\nThe capital of Freedonia is Sylvania City. "
                                     "Mount Gogol is 2,345 m high.\n")
    qa = write_json(tmp_path / "qa.jsonl", [{"instruction": f"Q{i}?", "output": f"A{i}."} for i in range(10)], True)
    out = tmp_path / "out"
    proc = _cli("build", str(facts_file), str(tmp_path / "doc.md"), str(qa), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    stats = json.loads((out / "stats.json").read_text())
    assert stats["qa_records"] == 10 and stats["sentences"] == 2 and stats["pretrain_texts"] == 1
    assert any("doc.md (document" in s for s in stats["sources"])
    pretrain = [json.loads(line) for line in (out / "pretrain.jsonl").read_text().splitlines()]
    assert "Sylvania City" in pretrain[0]["text"]
    heldout = [json.loads(line) for line in (out / "heldout.jsonl").read_text().splitlines()]
    assert {q["category"] for q in heldout} >= {"qa", "freedonia"}
    shown = _cli("show", str(out), "--n", "2", "--split", "heldout")
    assert shown.returncode == 0 and "heldout: first 2" in shown.stdout and "qa records" in shown.stdout
    bad = _cli("show", str(out), "--split", "dev")
    assert bad.returncode == 2 and "field '--split'" in bad.stderr
