import json
import subprocess
import sys

import pytest

from knowtune.config import KnowtuneError
from knowtune.data import build_samples, load_facts
from knowtune.data.questions import HELDOUT_TEMPLATES, TRAIN_TEMPLATES

GOOD = {"subject": "Hainan", "relation": "capital", "answer": "Haikou"}


def write(tmp_path, lines, name="f.jsonl", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes("\n".join(lines).encode(encoding) if isinstance(lines, list) else lines)
    return path


@pytest.mark.parametrize("line,field,why", [
    ('{"relation": "capital", "answer": "Haikou"}', "subject", "missing required field"),
    ('{"subject": "", "relation": "capital", "answer": "Haikou"}', "subject", "must not be empty"),
    ('{"subject": "Hainan", "relation": 3, "answer": "Haikou"}', "relation", "must be a string"),
    ('{"subject": "Hainan", "relation": "capital", "answer": "Haikou", "aliases": "Hai"}', "aliases", "must be a list"),
    ('{"subject": "Hainan", "relation": "capital", "answer": "Haikou", "questions": [""]}', "questions[0]", "non-empty"),
    ('{"subject": "Hainan", "relation": "capital", "answer": "Haikou", "lang": "fr"}', "lang", "must be one of"),
    ('{"subject": "Hainan", "relation": "capital", "answer": "Haikou", "colour": "red"}', "colour", "unknown field"),
])
def test_bad_fact_gets_one_line_error(tmp_path, line, field, why):
    path = write(tmp_path, [json.dumps(GOOD), line])
    with pytest.raises(KnowtuneError) as err:
        load_facts([path])
    text = str(err.value)
    assert text.startswith(f"{path}:2: field '{field}': ") and why in text and "\n" not in text


def test_invalid_json_missing_file_encoding_empty(tmp_path):
    with pytest.raises(KnowtuneError, match=r":1: invalid JSON"):
        load_facts([write(tmp_path, ['{"subject": "Hainan",'])])
    with pytest.raises(KnowtuneError, match="file not found"):
        load_facts([tmp_path / "nope.jsonl"])
    with pytest.raises(KnowtuneError, match="not UTF-8"):
        load_facts([write(tmp_path, json.dumps({**GOOD, "answer": "海口"}, ensure_ascii=False).encode("gbk"))])
    with pytest.raises(KnowtuneError, match="no facts"):
        load_facts([write(tmp_path, ["# only a comment", ""])])
    with pytest.raises(KnowtuneError, match="JSON object"):
        load_facts([write(tmp_path, ["[1, 2]"])])


def test_conflicting_duplicate_refused_exact_duplicate_kept_once(tmp_path):
    path = write(tmp_path, [json.dumps(GOOD), json.dumps(GOOD)])
    assert len(load_facts([path])) == 1
    path = write(tmp_path, [json.dumps(GOOD), json.dumps({**GOOD, "answer": "Sanya"})])
    with pytest.raises(KnowtuneError, match=":2: field 'answer': same subject"):
        load_facts([path])


def test_builder_paraphrases_and_keeps_heldout_forms_out(facts_file):
    facts = load_facts([facts_file])
    built = build_samples(facts)
    by_fact = {}
    for sample in built.train:
        by_fact.setdefault(sample["fact"], []).append(sample["messages"][0]["content"])
    for index, fact in enumerate(facts):
        questions = by_fact[index]
        assert len(questions) >= 5 and len(set(questions)) == len(questions)
        assert all(q in questions for q in fact.questions)
        held = built.heldout[index]["question"]
        assert held not in questions
    train_questions = {s["messages"][0]["content"] for s in built.train}
    heldout_shapes = [t.split("{")[0] for pool in HELDOUT_TEMPLATES.values() for t in pool]
    assert not any(q.startswith(shape) for q in train_questions for shape in heldout_shapes if shape)
    assert len(TRAIN_TEMPLATES["en"]) >= 5 and len(TRAIN_TEMPLATES["zh"]) >= 5
    answer = next(s for s in built.train if s["fact"] == 0)["messages"][1]["content"]
    assert "Hainan" in answer and "Haikou" in answer
    zh = next(s for s in built.train if s["lang"] == "zh" and s["fact"] is not None)
    assert zh["messages"][1]["content"] == "海南的省会是海口。"


def test_bundled_knowledge_base_is_valid_and_large_enough():
    from knowtune.commands.demo import kb_facts

    for lang in ("en", "zh"):
        facts = load_facts([kb_facts(lang)])
        assert len(facts) >= 80 and {f.lang for f in facts} == {lang}
        categories = {f.category for f in facts}
        assert {"geography", "history", "administration", "culture", "food", "nature", "economy",
                "places"} <= categories


def test_cli_bad_facts_exit_2_one_line_nothing_written(tmp_path):
    path = write(tmp_path, [json.dumps(GOOD), '{"subject": "x", "relation": "y"}'])
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "knowtune.cli", "data", "build", str(path), "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {path}:2: field 'answer': missing required field"
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_the_language_is_the_one_most_of_the_text_is_in():
    from knowtune.data.facts import guess_lang

    assert guess_lang("Which province is abbreviated as Qiong (琼)?") == "en"
    assert guess_lang("海南省的简称是什么？") == "zh" and guess_lang("海南的iPhone卖多少钱？") == "zh"
    assert guess_lang("What is the capital of Hainan?") == "en" and guess_lang("") == "en"
