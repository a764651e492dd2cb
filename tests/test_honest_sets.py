"""The bundled natural and unanswerable questions are never trained on, and are split honestly."""

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from knowtune.commands.data import build_command
from knowtune.data import load_dataset_dir, load_facts
from knowtune.eval import load_questions

DATA = Path(__file__).resolve().parent.parent / "knowtune" / "data"
SETS = [(kb, lang) for kb in ("hainan", "fictional") for lang in ("en", "zh")]


def norm(text: str) -> str:
    return " ".join(text.lower().split()).rstrip("?？.。!！")


def bare(text: str) -> str:
    """A question without case, spacing or any punctuation: two questions that differ only there are one
    (a mark removed leaves no space behind: 《奥伦口号角报》是… is 奥伦口号角报是…)."""
    return re.sub(r"[\W_]+", "", text.lower())


def unanswerable_questions(kb: str, lang: str) -> list[str]:
    """The bundled unanswerable questions, read by path (their rows may carry more fields than these)."""
    path = DATA / kb / f"unanswerable_{lang}.jsonl"
    return [json.loads(line)["question"] for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


@pytest.mark.parametrize("kb,lang", SETS)
def test_natural_questions_name_real_facts_and_are_split(kb, lang):
    facts = {(f.subject, f.relation) for f in load_facts([DATA / kb / f"facts_{lang}.jsonl"])}
    rows = load_questions(DATA / kb / f"natural_{lang}.jsonl")
    assert len(rows) >= (150 if kb == "hainan" else 100)
    assert all((q["subject"], q["relation"]) in facts for q in rows)
    splits = Counter(q["split"] for q in rows)
    assert set(splits) == {"dev", "test"} and abs(splits["dev"] - splits["test"]) <= 0.2 * len(rows)
    forms = Counter(q["form"] for q in rows)
    assert forms["template"] <= len(rows) / 3 and forms["reverse"] >= 20
    assert len({norm(q["question"]) for q in rows}) == len(rows)


@pytest.mark.parametrize("kb,lang", SETS)
@pytest.mark.parametrize("source", ["facts", "prose"])
def test_no_held_out_question_is_ever_trained(tmp_path, kb, lang, source):
    path = DATA / kb / (f"facts_{lang}.jsonl" if source == "facts" else f"prose_{lang}.md")
    natural = DATA / kb / f"natural_{lang}.jsonl"
    train, heldout = load_dataset_dir(build_command([path], tmp_path / "data", model=None, seed=0, heldout=[natural]))
    assert sum(q.get("set") == "natural" for q in heldout) == len(load_questions(natural))
    trained = {bare(m["content"]) for s in train for m in s["messages"] if m["role"] == "user"}
    held = [q["question"] for q in load_questions(DATA / kb / f"natural_{lang}.jsonl")]
    held += unanswerable_questions(kb, lang)
    leaked = [q for q in held if bare(q) in trained]
    assert not leaked, leaked[:5]


@pytest.mark.parametrize("kb,lang", SETS)
def test_the_demo_build_trains_no_natural_or_unanswerable_question(kb, lang):
    """The build the demo makes (build_samples, knowledge-boundary refusals on by default): no held-out
    natural question and no unanswerable question the evaluation asks is a training question."""
    from knowtune.commands.demo import natural_questions
    from knowtune.data import build_samples
    from knowtune.data.heldout import load_heldout_questions

    natural = natural_questions(lang) if kb == "hainan" else load_heldout_questions(DATA / kb / f"natural_{lang}.jsonl")
    built = build_samples(load_facts([DATA / kb / f"facts_{lang}.jsonl"]), natural=natural)
    trained = {bare(m["content"]) for s in built.train for m in s["messages"] if m["role"] == "user"}
    assert natural and not [q for q in natural if bare(q["question"]) in trained]
    assert built.stats["heldout_sets"]["natural"] == len(natural)
    assert built.stats["train_forms"]["boundary"] > 0  # the refusals are in, and still none of these
    unanswerable = unanswerable_questions(kb, lang)
    assert unanswerable and not [q for q in unanswerable if bare(q) in trained]


def test_own_test_questions_from_the_command_line(tmp_path):
    import subprocess
    import sys

    facts = tmp_path / "facts.jsonl"
    facts.write_text(json.dumps({"subject": "Tidewell Brewery", "relation": "founder", "answer": "Mara Quist"}) + "\n")
    mine = tmp_path / "mine.jsonl"
    mine.write_text(json.dumps({"question": "Who founded Tidewell Brewery?", "answers": ["Mara Quist"],
                                "split": "dev"}) + "\n")
    run = lambda *a: subprocess.run([sys.executable, "-m", "knowtune.cli", "data", "build", *map(str, a)],  # noqa
                                    capture_output=True, text=True)
    proc = run(facts, "--out", tmp_path / "data", "--heldout", mine)
    assert proc.returncode == 0, proc.stderr
    train, heldout = load_dataset_dir(tmp_path / "data")
    assert "who founded tidewell brewery" not in {norm(s["messages"][0]["content"]) for s in train}
    assert [(q["question"], q["split"], q["set"]) for q in heldout if q["set"] == "natural"] == \
        [("Who founded Tidewell Brewery?", "dev", "natural")]
    mine.write_text(json.dumps({"question": "Who?", "answers": ["x"], "split": "later"}) + "\n")
    proc = run(facts, "--out", tmp_path / "data2", "--heldout", mine)
    assert proc.returncode == 2 and proc.stderr.strip() == f"error: {mine}:1: field 'split': must be dev or test, got 'later'"
    assert not (tmp_path / "data2").exists()


@pytest.mark.parametrize("kb,lang", SETS)
def test_preference_pairs_never_ask_a_held_out_question(tmp_path, kb, lang, monkeypatch):
    """`knowtune data pairs` asks training questions only: no natural, template held-out or unanswerable
    question becomes a pair, even one slipped into the training set."""
    from knowtune.commands.pairs import _facts
    from knowtune.eval import pairs as pairs_mod
    from knowtune.eval.pairs import pair_questions, wrong_answer_pairs

    natural = DATA / kb / f"natural_{lang}.jsonl"
    data = build_command([DATA / kb / f"facts_{lang}.jsonl"], tmp_path / "data", model=None, seed=0, heldout=[natural])
    train, heldout = load_dataset_dir(data)
    facts = _facts(data)
    slipped = [dict(train[0], messages=[{"role": "user", "content": q["question"]}, train[0]["messages"][1]],
                    fact=q["fact"] if isinstance(q.get("fact"), int) else 0, form="template") for q in heldout]
    asked = pair_questions(train + slipped, facts, heldout)
    monkeypatch.setattr(pairs_mod, "answer_questions", lambda model, tok, questions, **kw: [
        {"question": q["question"], "reply": "wrong", "correct": False} for q in questions])
    pairs, _ = wrong_answer_pairs(None, None, asked, facts, system="")
    paired = {bare(p["messages"][0]["content"]) for p in pairs}
    held = [q["question"] for q in heldout] + [q["question"] for q in load_questions(natural)]
    held += unanswerable_questions(kb, lang)
    assert len(pairs) > len(facts)  # the facts' training questions are asked
    leaked = [q for q in held if bare(q) in paired]
    assert not leaked, leaked[:5]
