"""Self-distillation replay: bundled prompts disjoint from the probes, sentence trimming,
language shares, and the base model's answers cached."""

import json

import pytest

from knowtune.data.jsonl import read_jsonl
from knowtune.data.replay import REPLAY_DIR, complete_sentences, replay_plan, replay_prompts
from knowtune.eval.normalize import fold as normalize
from knowtune.eval.sources import probe_file
from knowtune.train import replay as replay_mod

HAINAN_WORDS = ["hainan", "haikou", "sanya", "qiongzhou", "wuzhishan", "boao", "wenchang",
                "海南", "海口", "三亚", "五指山", "博鳌", "文昌", "黎族", "琼"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_replay_prompts_are_many_unique_and_never_the_probe_or_the_knowledge(lang):
    prompts = replay_prompts(lang)
    assert len(prompts) >= 150
    assert len({normalize(p) for p in prompts}) == len(prompts)
    probes = {normalize(row["question"]) for _, row in read_jsonl(probe_file(lang))}
    assert not probes & {normalize(p) for p in prompts}
    for prompt in prompts:
        assert not any(word in prompt.lower() for word in HAINAN_WORDS), prompt
    assert all(row["lang"] == lang for _, row in read_jsonl(REPLAY_DIR / f"general_{lang}.jsonl"))


def test_complete_sentences_cuts_after_the_last_full_sentence():
    assert complete_sentences("The capital of Canada is Ottawa.") == "The capital of Canada is Ottawa."
    assert complete_sentences("It is 3.5 m tall. It grows in the") == "It is 3.5 m tall."
    assert complete_sentences("春节是农历新年。人们会") == "春节是农历新年。"
    assert complete_sentences('He said "yes."') == 'He said "yes."'
    assert complete_sentences("no sentence ends here") == ""
    assert complete_sentences("   ") == ""


def test_replay_plan_shares_prompts_by_the_knowledge_languages():
    plan = replay_plan(["en"] * 3 + ["zh"], 40)
    langs = [lang for lang, _ in plan]
    assert langs.count("en") == 30 and langs.count("zh") == 10
    assert replay_plan(["fr"], 5) == [("en", p) for p in replay_prompts("en")[:5]]
    assert replay_plan(["en"], 0) == []


def test_replay_samples_are_the_models_answers_trimmed_and_cached(tmp_path, monkeypatch, tiny_qwen):
    from knowtune.models import load_model

    monkeypatch.setenv("KNOWTUNE_CACHE", str(tmp_path / "cache"))
    calls = []

    def fake_generate(model, tokenizer, prompts, **kwargs):
        calls.append(len(prompts))
        if len(calls) > 1 and len(prompts) == 5:  # the unusable half, asked again: still no full sentence
            return ["no end again"] * len(prompts)
        return ["A full sentence. And a cut" if i % 2 else "no end" for i in range(len(prompts))]

    monkeypatch.setattr(replay_mod, "generate_batch", fake_generate)
    loaded = load_model(str(tiny_qwen))
    samples = replay_mod.replay_samples(loaded.model, loaded.tokenizer, replay_plan(["en"], 10), system="S", bf16=False)
    assert calls == [10, 5]  # the five unusable replies were asked once more
    assert len(samples) == 5  # the replies without a full sentence are dropped
    assert all(s["messages"][1]["content"] == "A full sentence." for s in samples)
    assert [s["messages"][0]["content"] for s in samples] == replay_prompts("en")[1:10:2]
    again = replay_mod.replay_samples(loaded.model, loaded.tokenizer, replay_plan(["en"], 10), system="S", bf16=False)
    assert again == samples and calls == [10, 5]  # the second time comes from the cache
    replay_mod.replay_samples(loaded.model, loaded.tokenizer, replay_plan(["en"], 10), system="other", bf16=False)
    assert calls == [10, 5, 10, 5]  # another system prompt is another cache entry
    cached = list((tmp_path / "cache" / "answers").glob("*.json"))
    # one file per model and settings, an entry per rendered prompt: 10 asked and 5 asked again, per system
    assert len(cached) == 1 and len(json.loads(cached[0].read_text())) == 30


def test_train_run_mixes_the_replay_answers_in_and_keeps_them(tmp_path, monkeypatch, tiny_qwen, facts_file):
    from knowtune.config import TrainConfig
    from knowtune.train import train_run

    monkeypatch.setenv("KNOWTUNE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(replay_mod, "generate_batch",
                        lambda model, tok, prompts, **kw: [f"Answer {i}." for i in range(len(prompts))])
    cfg = dict(model=str(tiny_qwen), epochs=1, min_steps=0, batch_size=4, learning_rate=1e-3, seed=0)
    with_replay = train_run(TrainConfig(**cfg, replay=6), str(facts_file), tmp_path / "a", quiet=True)
    rows = [json.loads(line) for line in (tmp_path / "a" / "replay.jsonl").read_text().splitlines()]
    assert [r["messages"][1]["content"] for r in rows] == [f"Answer {i}." for i in range(6)]
    without = train_run(TrainConfig(**cfg, replay=0), str(facts_file), tmp_path / "b", quiet=True)
    assert not (tmp_path / "b" / "replay.jsonl").exists()
    assert with_replay.stats.tokens > without.stats.tokens  # the replay samples were trained on


def test_a_base_model_that_echoes_is_asked_again_after_demonstrations(tmp_path, monkeypatch, tiny_qwen):
    from knowtune.data.replay import DEMONSTRATIONS
    from knowtune.models import load_model

    monkeypatch.setenv("KNOWTUNE_CACHE", str(tmp_path / "cache"))
    seen = []

    def echoing_base(model, tokenizer, prompts, **kwargs):
        seen.append(prompts)
        if len(seen) == 1:  # bare prompts: the base model repeats the question and invents the next turn
            return [p.split("user")[-1][-20:] + "\nUser: again" for p in prompts]
        return ["Eight. \nUser: and a cat?"] * len(prompts)

    monkeypatch.setattr(replay_mod, "generate_batch", echoing_base)
    loaded = load_model(str(tiny_qwen))
    samples = replay_mod.replay_samples(loaded.model, loaded.tokenizer, replay_plan(["zh"], 4), system="S", bf16=False)
    assert len(seen) == 2 and all(DEMONSTRATIONS["zh"][0][0] in p for p in seen[1])
    assert not any(DEMONSTRATIONS["zh"][0][0] in p for p in seen[0])
    assert [s["messages"][1]["content"] for s in samples] == ["Eight."] * 4  # cut before the invented turn
    assert all(len(s["messages"]) == 2 for s in samples)  # trained without the demonstrations


def test_usable_reply_drops_echoes_invented_turns_and_loops():
    from knowtune.data.replay import usable_reply

    assert usable_reply("What is 2 + 2?", "Two plus two is four.") == "Two plus two is four."
    assert usable_reply("为什么会打雷？", "为什么会打雷？\n\nUser: 为什么会打雷？") == ""  # echo + invented turn
    assert usable_reply("Name a fruit.", "An apple.\nUser: And a vegetable?") == ""
    assert usable_reply("Hi", "You are a helpful assistant. Hello.", system="You are a helpful assistant.") == ""
    assert usable_reply("说出三种交通工具。", "1. 骑自行车\n2. 乘公共汽车\n3. 乘公共汽车\n4. 乘公共汽车\n5. 乘公共汽车。") == ""
    assert usable_reply("新西兰的首都是哪里？", "1. 1. 1. 1. 1.") == ""
    listed = "1. Apples.\n2. Pears.\n3. Plums."
    assert usable_reply("Name three fruits.", listed) == listed


def test_replay_plan_goes_round_the_prompts_when_asked_for_more_than_are_bundled():
    prompts = replay_prompts("en")
    plan = replay_plan(["en"], 2 * len(prompts) + 7)
    assert len(plan) == 2 * len(prompts) + 7
    assert [p for _, p in plan] == prompts + prompts + prompts[:7]


def test_replay_samples_ask_each_prompt_once_however_often_it_recurs(tmp_path, monkeypatch, tiny_qwen):
    from knowtune.models import load_model

    monkeypatch.setenv("KNOWTUNE_CACHE", str(tmp_path / "cache"))
    asked = []

    def fake_generate(model, tokenizer, prompts, **kwargs):
        asked.extend(prompts)
        return [f"Answer {i}." for i in range(len(prompts))]

    monkeypatch.setattr(replay_mod, "generate_batch", fake_generate)
    loaded = load_model(str(tiny_qwen))
    n = len(replay_prompts("en"))
    samples = replay_mod.replay_samples(loaded.model, loaded.tokenizer, replay_plan(["en"], n + 3), system="S", bf16=False)
    assert len(asked) == n and len(samples) == n + 3
    assert samples[n:] == samples[:3]  # the recurring prompts carry the same answer


def test_replay_below_one_is_a_share_of_the_training_set_and_above_a_count():
    from knowtune.train.run import replay_count

    assert replay_count(0.1, 4000) == 400 and replay_count(0.25, 10) == 2
    assert replay_count(100, 4000) == 100 and replay_count(0, 4000) == 0


KNOWLEDGE = [{"subject": "Hainan", "relation": "capital", "answer": "Haikou", "lang": "en"},
             {"subject": "Hainan", "relation": "highest peak", "answer": "Wuzhishan", "lang": "en"},
             {"subject": "Sanya", "relation": "population", "answer": "1,031,396", "lang": "en"},
             {"subject": "海南", "relation": "省会", "answer": "海口", "lang": "zh"},
             {"subject": "Lisbon Bay", "relation": "area", "answer": "Tasmania", "lang": "en"}]


def test_mirror_replay_asks_the_knowledges_relations_of_world_subjects_it_does_not_name():
    from knowtune.data.replay import MIRROR_QUESTIONS, mirror_plan, world_subjects

    plan = mirror_plan(KNOWLEDGE, 10_000)
    en = [p for lang, p in plan if lang == "en"]
    zh = [p for lang, p in plan if lang == "zh"]
    kept = [s for s in world_subjects("en") if s not in ("Lisbon", "Tasmania")]
    assert len(en) == 4 * len(kept) and len(zh) == len(world_subjects("zh")) and len(set(plan)) == len(plan)
    assert MIRROR_QUESTIONS["en"].format(relation="highest peak", subject="Bali") in en
    assert not any("Lisbon" in p or "Tasmania" in p for p in en)  # named in the knowledge: its answer may be there
    assert all(p.endswith("的省会是什么？") for p in zh)
    assert mirror_plan(KNOWLEDGE, 10) == plan[:10] and mirror_plan([], 10) == []


def test_replay_plan_gives_the_mirror_its_share_of_the_total():
    plan = replay_plan(["en"] * 4, 40, KNOWLEDGE, 0.25)
    general = set(replay_prompts("en"))
    assert len(plan) == 40 and sum(p in general for _, p in plan) == 30
    assert replay_plan(["en"] * 4, 40, KNOWLEDGE, 0.0) == replay_plan(["en"] * 4, 40)


def test_no_world_subject_is_named_in_a_general_probe_question():
    from knowtune.data.replay import world_subjects

    for lang in ("en", "zh"):
        questions = [row["question"].lower() for _, row in read_jsonl(probe_file(lang))]
        subjects = world_subjects(lang)
        assert len(subjects) >= 50
        named = [s for s in subjects if any(s.lower().removeprefix("the ") in q for q in questions)]
        assert named == [], f"{lang}: world subjects asked in the probe: {named}"
