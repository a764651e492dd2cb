"""Retrieval (data.retrieval) and retrieval-aware training samples (data/augment/retrieval.py):
the same ranking as evaluation always had, the same prompt and passages as evaluation's RAG pass,
the share and the gold rate as asked, nothing else changed."""

import dataclasses
import inspect
import json
import re

import pytest
from tiny import knowtune, write_facts

from knowtune.config import KnowtuneError
from knowtune.data import build_samples, load_facts, write_dataset
from knowtune.data.augment.retrieval import DEFAULT_SHARE, FIELD, GOLD_SHARE, check_share
from knowtune.data.retrieval import TOP_K, build_index, dataset_passages, rag_prompt, retrieve, search_words
from knowtune.eval.sources import HAINAN_DIR, knowledge_of_dataset

PASSAGES = [
    "The capital of Hainan is Haikou.",
    "The highest peak of Hainan Island is Wuzhishan.",
    "The height of Wuzhishan is 1,867 m.",
    "The year of establishment of Sansha is 2012.",
    "Sanya is a coastal city in the south of Hainan.",
    "海南省的省会是海口。",
    "海南岛的最高峰是五指山。",
    "三沙市的设立年份是2012年。",
    "五指山的海拔是1867米。",
]


@pytest.mark.parametrize("question,ranked", [
    # what eval/rag.py ranked before retrieval moved to the data layer (passages scoring above 0)
    ("Which city is the capital of Hainan?", [0, 4, 1]),
    ("How tall is Wuzhishan?", [2, 1]),
    ("When was Sansha set up?", [3]),
    ("Tell me about the south coast.", [4]),
    ("海南的省会是哪里？", [5, 6, 8]),
    ("五指山有多高？", [8, 6]),
    ("三沙哪年设立的？", [7, 8, 5]),
    ("海南最高的山", [6, 5, 8]),
])
def test_retrieval_ranks_as_before(question, ranked):
    found = retrieve(build_index(PASSAGES), question, 3)
    assert [PASSAGES.index(p) for p in found][:len(ranked)] == ranked


def test_search_words_and_one_definition_for_eval():
    from knowtune import cli
    from knowtune.commands.evaluate import EvalOptions
    from knowtune.data import text
    from knowtune.eval import normalize, suite

    assert search_words("Which city is the capital of Hainan?") == ["which", "city", "capital", "hainan"]
    assert suite.rag_prompt is rag_prompt and suite.retrieve is retrieve and normalize.fold is text.fold
    top_k = inspect.signature(cli.eval_).parameters["top_k"].default.default
    assert suite.EvalPlan([], []).top_k == EvalOptions().top_k == top_k == TOP_K
    assert f"(default {DEFAULT_SHARE:g})" in cli.RETRIEVAL_HELP


@pytest.fixture(scope="module", params=["en", "zh"])
def hainan(request):
    facts = load_facts([HAINAN_DIR / f"facts_{request.param}.jsonl"])
    bare, raft = build_samples(facts), build_samples(facts, retrieval=0.3)
    twins = [s for s in raft.train if s["form"] == "retrieval"]
    return facts, bare, raft, twins


def _question(prompt: str) -> str:
    return re.split(r"\nQuestion: |\n问题：", prompt)[-1]


def _passages(prompt: str) -> list[str]:
    return re.findall(r"^\[\d+\] (.*)$", prompt, re.M)


def test_share_zero_changes_nothing_and_twins_leave_the_rest_in_order(hainan):
    facts, bare, raft, twins = hainan
    assert build_samples(facts, retrieval=0).train == bare.train
    assert [s for s in raft.train if s["form"] != "retrieval"] == bare.train
    assert raft.heldout == bare.heldout
    assert raft.stats["train_forms"]["retrieval"] == len(twins) and "retrieval" not in bare.stats["train_forms"]


def test_share_is_respected_and_deterministic(hainan):
    facts, bare, raft, twins = hainan
    fact_samples = sum(isinstance(s["fact"], int) for s in bare.train)
    assert len(twins) == round(0.3 * fact_samples)
    assert build_samples(facts, retrieval=0.3).train == raft.train
    assert build_samples(facts, retrieval=0.3, seed=1).train != raft.train
    few = build_samples(facts, retrieval=0.05).train
    assert sum(s["form"] == "retrieval" for s in few) == round(0.05 * fact_samples)


def test_twins_are_trained_questions_never_heldout_ones(hainan):
    _, bare, _, twins = hainan
    trained = {(s["messages"][0]["content"], s["messages"][1]["content"], s["fact"]) for s in bare.train}
    heldout = {q["question"] for q in bare.heldout}
    for twin in twins:
        question = _question(twin["messages"][0]["content"])
        assert (question, twin["messages"][1]["content"], twin["fact"]) in trained
        assert question not in heldout


def test_twin_prompt_is_what_the_eval_rag_pass_sends(hainan, monkeypatch):
    import knowtune.eval.suite as suite

    facts, bare, _, twins = hainan
    taught, passages = dataset_passages(bare.train, facts)
    index = build_index(passages)
    shown = {_question(t["messages"][0]["content"]): _passages(t["messages"][0]["content"]) for t in twins}
    sent = []

    class Sent(Exception):
        pass

    def answer_questions(model, tokenizer, questions, user_texts=None, **_):
        sent.extend(user_texts)
        raise Sent

    # the eval's own pass, handed the twin's passages as retrieval: its user messages must be the twins'
    monkeypatch.setattr(suite, "retrieve", lambda _index, question, k: shown[question])
    monkeypatch.setattr(suite, "answer_questions", answer_questions)
    plan = suite.EvalPlan(heldout=[{"question": q, "answers": ["x"]} for q in shown], gold=["x"] * len(shown),
                          index=index)
    with pytest.raises(Sent):
        suite.rag_pass(None, None, plan, "parity")
    assert sent == [t["messages"][0]["content"] for t in twins]
    for twin in twins:
        prompt = twin["messages"][0]["content"]
        question, found = _question(prompt), _passages(prompt)
        assert len(found) == TOP_K and set(found) <= set(index.passages)
        assert question in prompt and all(f"] {p}\n" in prompt for p in found)


def test_gold_passage_in_about_eighty_percent_shuffled(hainan):
    facts, bare, _, twins = hainan
    taught, passages = dataset_passages(bare.train, facts)
    index = build_index(passages)
    assert len(twins) > 300
    positions, ranked = [], 0
    for twin in twins:
        prompt = twin["messages"][0]["content"]
        question, found, gold = _question(prompt), _passages(prompt), taught[twin["fact"]]
        if gold in found:
            positions.append(found.index(gold))
            top = retrieve(index, question, TOP_K)
            assert set(found) - {gold} <= set(top)
            ranked += found == top
        else:
            assert set(found) <= set(retrieve(index, question, TOP_K + 1))
    assert abs(len(positions) / len(twins) - GOLD_SHARE) < 0.05
    # shuffled: the right passage is not always where retrieval ranks it (1 in 6 keep their order by chance)
    assert set(positions) == {0, 1, 2} and ranked < 0.3 * len(positions)


def test_written_set_gives_eval_the_passages_the_build_used(tmp_path, hainan):
    facts, bare, raft, _ = hainan
    with_twins = knowledge_of_dataset(write_dataset(raft, tmp_path / "raft", sources=[]))
    assert with_twins.passages == dataset_passages(bare.train, facts)[1]
    assert with_twins.passages == knowledge_of_dataset(write_dataset(bare, tmp_path / "bare", sources=[])).passages


@pytest.mark.parametrize("value", ["-0.1", "1.5", "abc", "nan", -1, True, None])
def test_bad_shares_are_refused_naming_the_field(value):
    with pytest.raises(KnowtuneError, match=f"field '{FIELD}': must be a number from 0 to 1"):
        check_share(value)
    assert check_share("0.25") == 0.25 and check_share(1) == 1.0 and check_share(0) == 0.0


def test_demo_refuses_a_bad_share_before_anything(monkeypatch, tmp_path):
    import knowtune.commands.demo as demo

    def reached(*_, **__):
        raise AssertionError("the demo went past a bad --retrieval")

    monkeypatch.setattr(demo, "check_output", reached)
    with pytest.raises(KnowtuneError, match="field '--retrieval'"):
        demo.demo_command("en", None, "lora", tmp_path / "run", {}, retrieval="2")


def test_data_build_cli_option(tmp_path):
    facts = write_facts(tmp_path / "facts.jsonl")
    proc = knowtune("data", "build", facts, "--out", tmp_path / "bad", "--retrieval", "abc")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "field '--retrieval': must be a number from 0 to 1, got 'abc'" in proc.stderr
    assert not (tmp_path / "bad").exists()
    proc = knowtune("data", "build", facts, "--out", tmp_path / "ok", "--retrieval", "1")
    assert proc.returncode == 0, proc.stderr
    train = [json.loads(line) for line in (tmp_path / "ok" / "train.jsonl").read_text().splitlines()]
    forms = json.loads((tmp_path / "ok" / "stats.json").read_text())["train_forms"]
    assert forms["retrieval"] == sum(isinstance(s["fact"], int) and s["form"] != "retrieval" for s in train)


def test_passages_only_where_the_closed_book_reply_is_unsure(monkeypatch):
    """The + RAG pass keeps a sure closed-book reply, takes the reply with passages for an unsure one
    (or one without a confidence), and reports what retrieving for every question would have scored."""
    from knowtune.eval import suite

    questions = [{"question": f"q{i}", "answers": ["right"], "split": "dev"} for i in range(4)]
    row = {"answers": ["right"], "category": "c", "seconds": 0.1, "split": "dev", "form": ""}  # as the passes give them
    closed = [{**row, "question": f"q{i}", "reply": r, "correct": r == "right", "confidence": c}
              for i, (r, c) in enumerate([("right", 0.97), ("wrong", 0.5), ("wrong", None), ("right", 0.95)])]

    def answer_questions(model, tokenizer, questions, user_texts=None, **_):
        assert all("q" in text for text in user_texts)  # asked with passages
        return [{**row, "question": q["question"], "reply": r, "correct": r == "right", "confidence": 0.99}
                for q, r in zip(questions, ["wrong", "right", "right", "wrong"])]

    monkeypatch.setattr(suite, "answer_questions", answer_questions)
    plan = suite.EvalPlan(heldout=[], gold=[], natural=questions, index=build_index(["q0 passage", "q1 passage"]),
                          retrieve_below=0.9)
    adaptive = suite.natural_pass(None, None, plan, "x", rag=True, closed=closed)
    assert [r["retrieved"] for r in adaptive.rows] == [False, True, True, False]
    assert [r["correct"] for r in adaptive.rows] == [True] * 4
    assert adaptive.summary["accuracy"] == 1.0 and adaptive.summary["always_retrieved_accuracy"] == 0.5
    assert adaptive.summary["retrieved_share"] == 0.5
    always = suite.natural_pass(None, None, dataclasses.replace(plan, retrieve_below=1.0), "x", rag=True,
                                closed=closed)
    assert all(r["retrieved"] for r in always.rows) and always.summary["accuracy"] == 0.5


def test_a_sure_reply_that_no_fact_grounds_is_asked_again_with_passages():
    from knowtune.eval.suite import retrieve_when_unsure

    closed = [{"question": "q0", "reply": "a", "confidence": 0.99, "ungrounded": True},
              {"question": "q1", "reply": "b", "confidence": 0.99, "ungrounded": False},
              {"question": "q2", "reply": "c", "confidence": 0.99}]  # no fact check: the confidence decides
    passages = [{**row, "reply": row["reply"] + "+"} for row in closed]
    rows = retrieve_when_unsure(closed, passages, 0.9)
    assert [r["retrieved"] for r in rows] == [True, False, False]
    assert [r["reply"] for r in rows] == ["a+", "b", "c"]
