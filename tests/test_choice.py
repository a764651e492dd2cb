"""The general probe as a choice (eval.choice): the options each question gets, and their scoring."""

import pytest

from knowtune.eval.choice import CHOICES, score_choices, with_options


def probe(question, *answers, lang="en", split="dev"):
    return {"question": question, "answers": list(answers), "lang": lang, "split": split}


EN = [probe("What is the capital of France?", "Paris"), probe("What is the capital of Japan?", "Tokyo"),
      probe("What is the capital of Italy?", "Rome"), probe("What is the capital of Spain?", "Madrid"),
      probe("What do hens lay?", "eggs"), probe("How many legs does a spider have?", "eight", "8"),
      probe("How many days are in a week?", "seven", "7"), probe("In which year did the First World War end?", "1918"),
      probe("In which year did the Second World War end?", "1945"), probe("In which year did the Berlin Wall fall?", "1989"),
      probe("How many legs does an insect have?", "six", "6"), probe("What is the capital of Portugal?", "Lisbon")]


def test_the_accepted_answer_comes_first_and_no_distractor_is_right():
    items = with_options(EN)
    assert len(items) == len(EN)
    for item in items:
        assert len(item["options"]) == CHOICES and item["options"][0] == item["answers"][0]
        assert len({o.lower() for o in item["options"]}) == CHOICES
        assert not set(item["answers"]) & set(item["options"][1:])


def test_distractors_come_from_the_most_alike_questions():
    items = {item["question"]: item["options"][1:] for item in with_options(EN)}
    # capitals for a capital, years for a year
    assert set(items["What is the capital of France?"]) <= {"Tokyo", "Rome", "Madrid", "Lisbon"}
    assert set(items["In which year did the Berlin Wall fall?"]) >= {"1918", "1945"}
    assert "eight" in items["How many legs does an insect have?"]


def test_a_distractor_that_is_also_right_is_skipped():
    twins = [probe("What is the capital of France?", "Paris"), probe("Which city is the French capital?", "Paris"),
             probe("What is the capital of Japan?", "Tokyo"), probe("What is the capital of Italy?", "Rome"),
             probe("What is the capital of Spain?", "Madrid")]
    options = with_options(twins)[0]["options"]
    assert options.count("Paris") == 1 and set(options[1:]) == {"Tokyo", "Rome", "Madrid"}


def test_chinese_questions_get_chinese_distractors_and_too_few_leave_a_question_out():
    zh = [probe("法国的首都是哪里？", "巴黎", lang="zh"), probe("日本的首都是哪里？", "东京", lang="zh"),
          probe("意大利的首都是哪里？", "罗马", lang="zh"), probe("西班牙的首都是哪里？", "马德里", lang="zh")]
    items = with_options(zh + EN[:3])
    chinese = [i for i in items if i["lang"] == "zh"]
    assert len(chinese) == 4
    assert set(chinese[0]["options"][1:]) == {"东京", "罗马", "马德里"}
    assert with_options(zh[:3]) == []  # two wrong answers are not three


def test_scores_are_each_options_mean_log_probability(tiny_qwen):
    from knowtune.eval.likelihood import answer_logprobs
    from knowtune.models import load_model

    loaded = load_model(str(tiny_qwen))
    items = with_options(EN)[:3]
    seen = []
    rows, seconds = score_choices(loaded.model, loaded.tokenizer, items, system="Be brief.", advance=seen.append,
                                  chunk=2)
    assert seen == [2, 1] and seconds >= 0
    for item, row in zip(items, rows):
        logprobs = answer_logprobs(loaded.model, loaded.tokenizer, [(item["question"], o) for o in item["options"]],
                                   system="Be brief.", batch_size=1)
        assert row["scores"] == pytest.approx([sum(lp) / len(lp) for lp in logprobs], abs=1e-5)
        assert row["correct"] == (row["scores"].index(max(row["scores"])) == 0)
        assert row["split"] == "dev" and row["options"] == item["options"]
