"""The answer cache: an unchanged model's greedy answers read back, anything else asked afresh."""

import json

import pytest

from knowtune.eval.evaluate import answer_questions
from knowtune.models.answer_cache import cached_answers, model_identity

QUESTIONS = [{"question": f"Question {i}?", "answers": [f"A{i}"]} for i in range(5)]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KNOWTUNE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "answers"


def counting(asked: list):
    def generate(prompts):
        asked.extend(prompts)
        return [f"reply to {p}" for p in prompts]
    return generate


def test_each_prompt_is_generated_once_and_read_back(cache):
    asked = []
    first, seconds = cached_answers(["a", "b", "a"], "model-1", {"bf16": False}, counting(asked))
    assert first == ["reply to a", "reply to b", "reply to a"] and asked == ["a", "b"]
    again, _ = cached_answers(["b", "c"], "model-1", {"bf16": False}, counting(asked))
    assert again == ["reply to b", "reply to c"] and asked == ["a", "b", "c"]  # only the new prompt asked
    assert len(seconds) == 3 and all(s >= 0 for s in seconds)
    cached_answers(["a"], "model-2", {"bf16": False}, counting(asked))  # another model
    cached_answers(["a"], "model-1", {"bf16": True}, counting(asked))  # other settings
    assert asked == ["a", "b", "c", "a", "a"]
    assert sorted(len(json.loads(p.read_text())) for p in cache.glob("*.json")) == [1, 1, 3]


def test_an_unreadable_cache_file_is_asked_again_and_rewritten(cache):
    asked = []
    cached_answers(["a"], "m", {}, counting(asked))
    [path] = cache.glob("*.json")
    path.write_text("{half a fi")
    assert cached_answers(["a"], "m", {}, counting(asked))[0] == ["reply to a"] and asked == ["a", "a"]
    assert json.loads(path.read_text())["a"][0] == "reply to a"


def test_the_identity_tells_a_trained_model_from_its_base(tiny_qwen):
    import torch
    from knowtune.models import load_model

    base = load_model(str(tiny_qwen)).model
    same = load_model(str(tiny_qwen)).model
    assert model_identity(base) == model_identity(same)
    params = list(same.parameters())
    with torch.no_grad():  # a change in a middle layer only (a merged adapter changes those)
        params[len(params) // 2].flatten()[0] += 0.5
    assert model_identity(base) != model_identity(same)


def test_answer_questions_caches_only_with_an_identity(cache, monkeypatch, tiny_qwen):
    from knowtune.eval import evaluate as evaluate_mod
    from knowtune.models import Scored, load_model

    loaded = load_model(str(tiny_qwen))
    calls = []

    def fake(model, tokenizer, prompts, **kwargs):
        calls.append(len(prompts))
        return [Scored("A1 it is", 0.99)] * len(prompts)

    monkeypatch.setattr(evaluate_mod, "generate_scored", fake)
    for _ in range(2):
        rows = answer_questions(loaded.model, loaded.tokenizer, QUESTIONS, identity="base")
        answer_questions(loaded.model, loaded.tokenizer, QUESTIONS)  # a fine-tuned model: always asked
    assert calls == [5, 5, 5]
    assert [r["correct"] for r in rows] == [False, True, False, False, False]
    assert [r["confidence"] for r in rows] == [0.99] * 5  # read back from the cache with the reply
