"""Overlap metrics (hand-computed), the refusal classifier and BM25 retrieval, en and zh."""

import math

import pytest

from knowtune.eval.metrics import (corpus_bleu, exact_match, lcs_length, overlap_summary, reply_scores, rouge_l,
                                   rouge_n, token_f1, wilson_interval, words)
from knowtune.eval.refusal import classify_reply, hallucination_by, hallucination_summary

GOLD = "the capital of hainan is haikou".split()


def test_words_fold_english_and_segment_chinese():
    assert words("The capital of Hainan is Haikou.") == GOLD
    assert words("Wuzhishan: 1,867 m!") == ["wuzhishan", "1867", "m"]
    assert words("海南的省会是海口。") == ["海南", "的", "省会", "是", "海口"]
    assert words("省会是海口") == ["省会", "是", "海口"]


def test_exact_match_and_token_f1_by_hand():
    assert exact_match(words("Haikou."), words("haikou")) == 1.0
    assert exact_match(["haikou", "city"], ["haikou"]) == 0.0
    assert token_f1(["haikou"], GOLD) == pytest.approx(2 * (1 * 1 / 6) / (1 + 1 / 6))  # 2/7
    assert token_f1(["sanya"], GOLD) == 0.0
    assert token_f1([], []) == 0.0 and exact_match([], []) == 0.0  # an empty reply never matches


def test_an_empty_reply_and_texts_too_short_for_bigrams_score_zero():
    assert reply_scores("", ["Haikou"]) == {k: 0.0 for k in ("exact_match", "f1", "rouge1", "rouge2", "rougeL")}
    assert reply_scores("...", ["The capital of Hainan is Haikou.", "Haikou"])["rouge2"] == 0.0
    assert rouge_n(["haikou"], ["haikou"], 2) == 0.0 and rouge_n(["haikou"], ["haikou"], 1) == 1.0


def test_rouge_by_hand():
    reply = "the capital is haikou".split()
    # unigrams: 4 shared; P = 4/4, R = 4/6
    assert rouge_n(reply, GOLD, 1) == pytest.approx(0.8)
    # bigrams: (the capital), (is haikou) shared; P = 2/3, R = 2/5
    assert rouge_n(reply, GOLD, 2) == pytest.approx(0.5)
    swapped = "haikou is the capital".split()
    assert lcs_length(swapped, GOLD) == 2  # "the capital"
    assert rouge_l(swapped, GOLD) == pytest.approx(2 * (2 / 4) * (2 / 6) / (2 / 4 + 2 / 6))  # 0.4
    assert rouge_n(swapped, GOLD, 1) == pytest.approx(0.8)


def test_chinese_scores_take_the_best_reference():
    scores = reply_scores("省会是海口", ["海南的省会是海口。", "海口"])
    # against the sentence (5 words): 3 shared unigrams P = 1, R = 3/5; both bigrams shared: P = 1, R = 2/4
    assert scores["f1"] == pytest.approx(0.75)
    assert scores["rouge1"] == pytest.approx(0.75)
    assert scores["rouge2"] == pytest.approx(2 / 3)
    assert scores["rougeL"] == pytest.approx(0.75)
    assert scores["exact_match"] == 0.0
    assert reply_scores("海口。", ["海南的省会是海口。", "海口"])["exact_match"] == 1.0


def test_corpus_bleu_by_hand():
    # 7 words, precisions 6/7, 5/6, 4/5, 3/4 (product 3/7), longer than the reference: no brevity penalty
    assert corpus_bleu(["the capital of hainan is haikou city"], [["the capital of hainan is haikou"]]) \
        == pytest.approx((3 / 7) ** 0.25)
    # 5 words, all n-grams match, closest reference has 6 words: brevity penalty exp(1 - 6/5)
    assert corpus_bleu(["the capital of hainan is"], [["the capital of hainan is haikou", "Haikou"]]) \
        == pytest.approx(math.exp(1 - 6 / 5))
    # corpus level: counts summed over both replies: 11/12, 9/10, 7/8, 5/6; c = r = 12
    both = corpus_bleu(["the capital of hainan is haikou city", "the capital of hainan is"],
                       [["the capital of hainan is haikou"], ["the capital of hainan is haikou", "Haikou"]])
    assert both == pytest.approx((11 / 12 * 9 / 10 * 7 / 8 * 5 / 6) ** 0.25)
    assert corpus_bleu(["haikou"], [["the capital of hainan is haikou"]]) == 0.0  # no 4-gram at all


def test_chinese_bleu_and_rouge_l_by_hand():
    assert words("海南的省会是海口，对") == ["海南", "的", "省会", "是", "海口", "对"]
    # one extra word: precisions 5/6, 4/5, 3/4, 2/3 (product 1/3); longer than the reference
    assert corpus_bleu(["海南的省会是海口，对"], [["海南的省会是海口"]]) == pytest.approx((1 / 3) ** 0.25)
    assert corpus_bleu(["海南的省会是海口。"], [["海南的省会是海口"]]) == pytest.approx(1.0)
    # reordered: the longest common subsequence is 海南 的 省会 (3 of 5 words each)
    assert rouge_l(words("海口是海南的省会"), words("海南的省会是海口")) == pytest.approx(0.6)


def test_overlap_summary_means_per_reply_scores():
    summary = overlap_summary(["Haikou.", "Sanya"], [["The capital of Hainan is Haikou.", "Haikou"], ["Haikou"]])
    assert summary["exact_match"] == pytest.approx(0.5)
    assert summary["f1"] == pytest.approx(0.5)
    assert summary["bleu4"] == 0.0


@pytest.mark.parametrize("reply,kind", [
    ("I don't know the answer to that.", "declines"),
    ("I’m sorry, but I cannot provide that information.", "declines"),
    ("There is no record of this.", "declines"),
    ("That is not publicly available.", "declines"),
    ("", "declines"),
    ("我不知道。", "declines"),
    ("抱歉，没有相关信息。", "declines"),
    ("这个无从得知。", "declines"),
    ("It was probably around 500 people.", "hedges"),
    ("I think it is 42.", "hedges"),
    ("大概有五百人。", "hedges"),
    ("The phone number is 0898-1234567.", "asserts"),
    ("Hai Rui's favourite colour was blue.", "asserts"),
    ("文昌有一百万棵椰子树。", "asserts"),
])
def test_refusal_classifier(reply, kind):
    assert classify_reply(reply) == kind


def test_hallucination_summary_counts_assertions():
    rows = [{"kind": "asserts", "confidence": 0.8}, {"kind": "asserts", "confidence": 0.4},
            {"kind": "declines", "confidence": 0.9}, {"kind": "hedges", "confidence": None}]
    rows = [dict(r, seconds=0.1) for r in rows]
    summary = hallucination_summary(rows)
    assert (summary["asserts"], summary["declines"], summary["hedges"], summary["total"]) == (2, 1, 1, 4)
    assert summary["hallucination_rate"] == 0.5
    assert summary["assert_confidence"] == pytest.approx(0.6)


def test_hallucination_by_split_counts_each_half_alone():
    rows = [{"kind": "asserts", "split": "dev"}, {"kind": "declines", "split": "dev"},
            {"kind": "asserts", "split": "test"}, {"kind": "asserts"}]
    rows = [dict(r, seconds=0.1) for r in rows]
    halves = hallucination_by(rows, "split")
    assert set(halves) == {"dev", "test"}
    assert (halves["dev"]["asserts"], halves["dev"]["total"], halves["dev"]["hallucination_rate"]) == (1, 2, 0.5)
    assert (halves["test"]["asserts"], halves["test"]["total"]) == (1, 1)
    assert hallucination_by(rows, "question_kind") == {}


@pytest.mark.parametrize("correct,total,expected", [
    (10, 20, (0.2993, 0.7007)),   # p = 0.5: symmetric
    (0, 10, (0.0, 0.2775)),       # none right: the upper end still above 0
    (10, 10, (0.7225, 1.0)),      # all right: the lower end still below 1
    # Newcombe (1998), Statistics in Medicine 17:857, table I, method 3 (the score interval)
    (81, 263, (0.2553, 0.3662)),
    (15, 148, (0.0624, 0.1605)),
    (0, 20, (0.0, 0.1611)),
    (1, 29, (0.0061, 0.1718)),
])
def test_wilson_interval_known_values(correct, total, expected):
    low, high = wilson_interval(correct, total)
    assert (low, high) == pytest.approx(expected, abs=1e-4)
    assert low <= correct / total <= high


def test_wilson_interval_narrows_with_more_questions_and_knows_nothing_of_none():
    small, large = wilson_interval(30, 42), wilson_interval(150, 210)
    assert large[1] - large[0] < small[1] - small[0]
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(5, 20, z=2.576)[0] < wilson_interval(5, 20)[0]  # 99 % is wider than 95 %


@pytest.mark.parametrize("lang,question,expected", [
    ("en", "Which city is the capital of Hainan province?", "The capital of Hainan is Haikou."),
    ("en", "Name the highest mountain on Hainan island.", "The highest peak of Hainan Island is Wuzhishan."),
    ("en", "When was Sansha established?", "The year of establishment of Sansha is 2012."),
    ("zh", "海南省的省会是哪座城市？", "海南省的省会是海口。"),
    ("zh", "三沙是哪一年设立的？", "三沙市的设立年份是2012年。"),
    ("zh", "海南的最高峰是哪座山？", "海南岛的最高峰是五指山。"),
])
def test_bm25_finds_the_fact_of_a_paraphrased_question(lang, question, expected):
    from knowtune.data import load_facts
    from knowtune.data.questions import answer_sentence
    from knowtune.data.retrieval import build_index, rag_prompt, retrieve
    from knowtune.eval.sources import HAINAN_DIR

    facts = load_facts([HAINAN_DIR / f"facts_{lang}.jsonl"])
    index = build_index([answer_sentence(f) for f in facts])
    found = retrieve(index, question, 3)
    assert expected in found and len(found) == 3
    assert retrieve(index, question, 1) == [found[0]]
    prompt = rag_prompt(question, found)
    assert f"[1] {found[0]}" in prompt and prompt.rstrip().endswith(question)
    assert ("资料" in prompt) == (lang == "zh")


def test_retrieval_with_fewer_passages_than_k_and_an_empty_kb():
    from knowtune.config import KnowtuneError
    from knowtune.data.retrieval import build_index, retrieve

    index = build_index(["The capital of Hainan is Haikou.", "The capital of Hainan is Haikou.", "Sanya is south."])
    assert len(index.passages) == 2  # duplicates dropped
    assert retrieve(index, "capital?", 5)[0] == "The capital of Hainan is Haikou."
    with pytest.raises(KnowtuneError):
        build_index([])
