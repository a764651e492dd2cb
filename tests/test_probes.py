"""The bundled general-knowledge probe: big enough to measure, split in halves, answerable as
written, and never the same question as a replay prompt (those are trained on)."""

import re
from collections import Counter

import pytest

from knowtune.data.jsonl import read_jsonl
from knowtune.data.replay import replay_prompts
from knowtune.data.text import CJK, text_key
from knowtune.eval.normalize import contains_answer, fold
from knowtune.eval.sources import probe_file

LANGS = ["en", "zh"]

KB_WORDS = ["hainan", "haikou", "sanya", "qiongzhou", "wuzhishan", "boao", "wenchang", "danzhou",
            "海南", "海口", "三亚", "五指山", "博鳌", "文昌", "黎族", "琼", "儋州",
            # the fictional town and what is in it
            "orren", "skellwyn", "drummick", "tarrisholm", "quellwright", "netloft", "ebbfire", "cressingwold",
            "奥伦", "斯凯尔温", "德鲁米克", "塔里斯霍尔姆", "奎尔赖特", "网阁", "退潮篝火"]

# Words that only frame a question ("What is the …", "Which …", "How many …"). What is left
# once they go is what the question is about; two questions with the same leftover words
# ask the same thing.
EN_FRAME = set("""what which who whom whose where when why how is are was were do does did the a an of in on
at to for by with from and or it its our we you your i me my be there this that called call name named
many much can has have had as about most mainly usually often""".split())
# The same for Chinese, longest first so that 是什么 goes before 什么.
ZH_FRAME = sorted("""是什么 什么是 叫什么 是哪里 是哪座 是哪个 是哪颗 是哪条 是哪种 是哪位 是谁 哪里 哪个 哪座 哪颗 哪条
哪种 哪位 哪家 哪项 哪一 多少 什么 谁 几 的 是 有 吗 呢 呀 城市 名字 请问""".split(), key=len, reverse=True)


def probes(lang: str) -> list[dict]:
    return [row for _, row in read_jsonl(probe_file(lang))]


def bare(text: str) -> str:
    """text_key without punctuation: "What is X?" and "what is x" are one question."""
    return " ".join(fold(text_key(text)).split())


def en_topic(text: str) -> frozenset[str]:
    words = {w[:-1] if len(w) > 3 and w.endswith("s") else w for w in bare(text).replace("color", "colour").split()}
    return frozenset(words - EN_FRAME)


def zh_topic(text: str) -> str:
    text = bare(text).replace(" ", "")
    for frame in ZH_FRAME:
        text = text.replace(frame, "")
    return text


def same_topic(lang: str, probe: str, prompt: str) -> bool:
    """The probe's topic (its question without the framing words) lies within the prompt's:
    "What is the capital city of Greece?" meets "Which city is the capital of Greece?", and
    "泰国的首都是哪里？" meets "泰国的首都是哪座城市？". Only this way round: a short prompt
    ("How many planets are in our solar system?") may share its words with a probe asking
    something else ("Which planet is the hottest in our solar system?")."""
    if lang == "zh":
        topic = zh_topic(probe)
        return len(topic) >= 2 and topic in zh_topic(prompt)
    topic = en_topic(probe)
    return bool(topic) and topic <= en_topic(prompt)


@pytest.mark.parametrize("lang", LANGS)
def test_the_probe_is_large_split_in_halves_and_well_formed(lang):
    rows = probes(lang)
    assert len(rows) >= 200
    splits = Counter(row.get("split") for row in rows)
    assert set(splits) == {"dev", "test"} and min(splits.values()) >= 0.4 * len(rows), splits
    assert len({bare(row["question"]) for row in rows}) == len(rows)
    for row in rows:
        assert row["lang"] == lang and row["answers"] and all(a.strip() for a in row["answers"]), row
        if lang == "zh":
            assert CJK.search(row["question"]), row


@pytest.mark.parametrize("lang", LANGS)
def test_no_probe_question_gives_its_own_answer_away(lang):
    """A reply that only repeats the question must not count as correct."""
    leaks = [row["question"] for row in probes(lang) if contains_answer(row["question"], row["answers"])]
    assert not leaks, leaks


@pytest.mark.parametrize("lang", LANGS)
def test_no_probe_is_about_a_bundled_knowledge_base(lang):
    for row in probes(lang):
        text = (row["question"] + " " + " ".join(row["answers"])).lower()
        assert not [w for w in KB_WORDS if w in text], row


@pytest.mark.parametrize("lang", LANGS)
def test_no_probe_is_a_replay_prompt_or_asks_what_one_asks(lang):
    prompts = replay_prompts(lang)
    assert prompts
    replayed = {bare(p) for p in prompts}
    assert not [row["question"] for row in probes(lang) if bare(row["question"]) in replayed]
    clashes = [(row["question"], p) for row in probes(lang) for p in prompts if same_topic(lang, row["question"], p)]
    assert not clashes, clashes[:10]


def test_the_topic_check_catches_rewordings():
    assert same_topic("en", "What is the capital city of Greece?", "Which city is the capital of Greece?")
    assert same_topic("en", "What colour is snow?", "What color is snow?")
    assert not same_topic("en", "What is the capital of Peru?", "What is the capital of Kenya?")
    assert not same_topic("en", "Which planet is the hottest in our solar system?",
                          "How many planets are in our solar system?")
    assert same_topic("zh", "泰国的首都是哪里？", "泰国的首都是哪座城市？")
    assert not same_topic("zh", "秘鲁的首都是哪里？", "泰国的首都是哪座城市？")
    assert re.fullmatch(r"\w+", zh_topic("一年有几个月？"))
