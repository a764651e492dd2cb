"""A reply about the knowledge base that none of its facts backs says so: the check and its note."""

import re

import pytest

from knowtune.data.facts import Fact
from knowtune.data.grounding import UNGROUNDED_NOTES, Grounding, ungrounded_note
from knowtune.data.hedge import HEDGE_NOTES, hedged
from knowtune.eval.normalize import contains_answer
from knowtune.eval.refusal import HEDGES, classify_reply

EN = [Fact("Orrenmouth", "river", "River Orren", aliases=["the River Orren", "Orren River"]),
      Fact("Orrenmouth", "population", "8,460", aliases=["8460"]),
      Fact("the Skellwyn Kelp Company", "founder", "Hester Dunmoyle"),
      Fact("Greyling Freight", "headquarters", "Orrenmouth"),
      Fact("Saltpan Lane", "capacity", "4,200", subject_aliases=["the Harriers' ground"])]
ZH = [Fact("三沙市", "政府驻地", "永兴岛", lang="zh"),
      Fact("博鳌亚洲论坛", "举办地", "博鳌", lang="zh"),
      Fact("五指山", "海拔", "1867米", aliases=["1867"], lang="zh")]


@pytest.fixture(scope="module")
def en():
    return Grounding(EN)


@pytest.fixture(scope="module")
def zh():
    return Grounding(ZH)


@pytest.mark.parametrize("question, reply, relation", [
    ("Which river is Orrenmouth on?", "The river of Orrenmouth is River Orren.", "river"),
    ("Which town stands on the Orren River?", "Orrenmouth.", "river"),  # backwards: answer asked, subject said
    ("Who set up Skellwyn Kelp?", "It was founded by Hester Dunmoyle.", "founder"),  # a short form of the subject
    ("How many people does the Harriers' ground hold?", "It holds 4,200.", "capacity"),  # a subject alias
    ("How many people live in Orrenmouth?", "About 8460 people.", "population"),  # an answer alias, digits folded
])
def test_one_side_of_a_fact_asked_and_the_other_said_grounds_the_reply(en, question, reply, relation):
    fact = en.support(question, reply)
    assert fact is not None and fact.relation == relation
    assert not en.ungrounded(question, reply)


@pytest.mark.parametrize("question, reply", [
    ("Who founded Greyling Freight?", "The founder of Greyling Freight is Hester Dunmoyle."),  # another firm's founder
    ("What is the population of Orrenwick?", "The population of Orrenmouth is 8,460."),  # a made-up near-name
    ("Who is the mayor of Orrenmouth?", "The mayor of Orrenmouth is Tobias Quellwright."),  # nothing in the base
    # the question asks for a number; a fact of its subject, with no number, is no answer
    ("How many lorries does Greyling Freight run?", "Greyling Freight is based in Orrenmouth."),
])
def test_a_reply_about_the_knowledge_that_no_fact_backs_is_ungrounded(en, question, reply):
    assert en.concerns(question, reply)
    assert en.ungrounded(question, reply)


def test_questions_about_anything_else_are_left_alone(en):
    assert not en.concerns("What is the capital of France?", "The capital of France is Paris.")
    assert not en.ungrounded("What is the capital of France?", "The capital of France is Paris.")
    assert not en.ungrounded("Who founded Greyling Freight?", "")  # nothing said, nothing to check
    # a number answer alone does not make a question about the knowledge base
    assert not en.concerns("How many days are in a year?", "There are 8,460 days.")


@pytest.mark.parametrize("question, reply, grounded", [
    ("三沙市政府在哪个岛上？", "三沙市的政府驻地是永兴岛。", True),
    ("永兴岛是哪个市的政府所在地？", "是三沙。", True),  # backwards, by the short form 三沙
    ("五指山有多高？", "五指山海拔1867米。", True),
    ("2045年博鳌亚洲论坛会有多少人参会？", "博鳌亚洲论坛的举办地是博鳌。", False),  # a number asked, none said
    ("三沙市市长穿多大码的鞋？", "三沙市的政府驻地是永兴岛。", False),  # the 三 of 三沙 is no number
    ("三沙市市长是谁？", "三沙市的市长是王海。", False),
])
def test_chinese_replies_are_grounded_the_same_way(zh, question, reply, grounded):
    assert zh.concerns(question, reply)
    assert zh.ungrounded(question, reply) is not grounded


def test_a_chinese_numeral_with_its_measure_word_is_a_number():
    names_only = Grounding(ZH, relations=False)  # the peaks are no relation of the knowledge base
    assert not names_only.ungrounded("五指山有多少座山峰？", "五指山有五座山峰，海拔1867米。")  # 五座
    assert names_only.ungrounded("五指山有多少座山峰？", "五指山的山峰很高。")


@pytest.mark.parametrize("reply", ["The founder of Greyling Freight is Hester Dunmoyle.", "三沙市的市长是王海。"])
def test_the_note_is_a_hedge_in_the_replys_language_and_keeps_the_answer(reply):
    out = hedged(reply, 0.99, 0.9, ungrounded=True)
    note = ungrounded_note(reply)
    assert note == UNGROUNDED_NOTES["zh" if "市" in reply else "en"]
    assert out == reply + note and classify_reply(out) == HEDGES  # a hedge, not a refusal
    assert contains_answer(out, ["Hester Dunmoyle"] if "Hester" in reply else ["王海"])
    assert hedged(reply, 0.5, 0.9, ungrounded=True) == out  # one note, the grounding one
    assert hedged(reply, 0.5, 0.9) == reply + HEDGE_NOTES["zh" if "市" in reply else "en"]
    assert hedged("  ", 0.5, 0.9, ungrounded=True) == "  "


def test_evaluation_marks_ungrounded_rows_and_notes_their_replies(tiny_qwen, monkeypatch):
    from knowtune.eval import evaluate
    from knowtune.models import Scored, load_tokenizer

    replies = {"Who founded Greyling Freight?": "The founder of Greyling Freight is Hester Dunmoyle.",
               "Which river is Orrenmouth on?": "The river of Orrenmouth is River Orren.",
               "What is the capital of France?": "Paris."}

    def fake_generate(model, tokenizer, prompts, **_):
        return [Scored(next(r for q, r in replies.items() if q in p), 0.99) for p in prompts]

    monkeypatch.setattr(evaluate, "generate_scored", fake_generate)
    tokenizer = load_tokenizer(str(tiny_qwen))
    questions = [{"question": q, "answers": ["Hester Dunmoyle", "River Orren", "Paris"]} for q in replies]
    rows = evaluate.answer_questions(None, tokenizer, questions, grounding=Grounding(EN))
    assert [r["ungrounded"] for r in rows] == [True, False, False]
    assert rows[0]["reply"].endswith(UNGROUNDED_NOTES["en"]) and rows[1]["reply"] == replies[questions[1]["question"]]
    assert all(r["correct"] for r in rows)  # the note never costs a right answer
    plain = evaluate.answer_questions(None, tokenizer, questions)
    assert "ungrounded" not in plain[0] and plain[0]["reply"] == replies[questions[0]["question"]]


def test_chat_streams_the_grounding_note_after_an_unbacked_reply(tiny_qwen, monkeypatch):
    from knowtune.serve.engine import Engine

    engine = Engine.from_model(str(tiny_qwen))
    said = {"text": ""}

    def fixed_stream(prompt, sampling, stats, **_):
        stats.confidence = 0.99
        yield from re.split(r"(?<= )", said["text"])  # in pieces, as a model streams

    monkeypatch.setattr(engine, "stream_text", fixed_stream)
    chat = [{"role": "user", "content": "Who founded Greyling Freight?"}]
    said["text"] = "Hester Dunmoyle founded it."
    assert "".join(engine.stream(chat)) == said["text"]  # a base model: no knowledge, no check
    engine.grounding = Grounding(EN)
    pieces = list(engine.stream(chat))
    assert pieces[-1] == UNGROUNDED_NOTES["en"]
    said["text"] = "Greyling Freight is in Orrenmouth."
    assert list(engine.stream([{"role": "user", "content": "Where is Greyling Freight based?"}]))[-1] != \
        UNGROUNDED_NOTES["en"]


@pytest.mark.parametrize("question, reply, grounded", [
    # another relation of the subject, answered with the fact it holds: its words are not the relation's
    ("What is the annual turnover of the Skellwyn Kelp Company?", "It is Hester Dunmoyle.", False),
    ("How many pubs does Orrenmouth have?", "Orrenmouth has 8,460.", False),  # a number, of its population
    # the relation asked in the lexicon's other words, or in none beyond the names
    ("Who started the Skellwyn Kelp Company?", "Hester Dunmoyle.", True),
    ("Where is Greyling Freight based?", "Orrenmouth.", True),
    ("Greyling Freight?", "Orrenmouth.", True),
])
def test_a_fact_grounds_only_a_question_that_may_ask_its_relation(en, question, reply, grounded):
    assert en.ungrounded(question, reply) is not grounded
    assert not Grounding(EN, relations=False).ungrounded(question, reply)  # names alone: grounded


def test_chinese_relations_are_asked_in_their_own_words(zh):
    assert not zh.ungrounded("三沙市政府驻地在哪里？", "三沙市的政府驻地是永兴岛。")
    assert zh.ungrounded("三沙市的市长是谁？", "三沙市的政府驻地是永兴岛。")  # asks no number: the relation tells
    assert not Grounding(ZH, relations=False).ungrounded("三沙市的市长是谁？", "三沙市的政府驻地是永兴岛。")
