"""Retrieval on the real SmolLM2-135M (slow): the passages in the prompt are used."""

import pytest

from knowtune.config import TrainConfig
from knowtune.data import build_samples, load_facts
from knowtune.data.questions import answer_sentence
from knowtune.data.retrieval import build_index
from knowtune.eval.sources import HAINAN_DIR
from knowtune.eval.suite import EvalPlan, evaluate_model

pytestmark = pytest.mark.slow


def test_base_model_answers_better_with_retrieved_passages():
    from knowtune.models import load_model

    facts = load_facts([HAINAN_DIR / "facts_en.jsonl"])
    heldout = build_samples(facts).heldout[:12]
    plan = EvalPlan(heldout=heldout, gold=[answer_sentence(facts[q["fact"]]) for q in heldout],
                    system=TrainConfig().system_prompt, index=build_index([answer_sentence(f) for f in facts]),
                    top_k=3)
    loaded = load_model("smollm2-135m")
    passes = evaluate_model(loaded.model, loaded.tokenizer, plan, "base")
    bare, rag = passes["heldout"].summary, passes["rag"].summary
    assert rag["retrieval_recall"] == 1.0
    assert rag["correct"] >= bare["correct"] + 4
    assert rag["f1"] > bare["f1"]
    assert all(len(r["passages"]) == 3 for r in passes["rag"].rows)
