"""End to end with the real embedded SmolLM2-135M on a handful of Hainan facts (slow)."""

import pytest

from knowtune.data import build_samples
from knowtune.eval import answer_questions, summarise

pytestmark = pytest.mark.slow


def test_after_score_rises_above_before(smollm2_run, hainan_facts_en):
    heldout = build_samples(hainan_facts_en).heldout
    model, system = smollm2_run.loaded.model, smollm2_run.config.system_prompt
    with model.disable_adapter():
        before = summarise(answer_questions(model, smollm2_run.loaded.tokenizer, heldout, system=system))
    after = summarise(answer_questions(model, smollm2_run.loaded.tokenizer, heldout, system=system))
    assert after["correct"] > before["correct"]
    assert after["accuracy"] >= 0.5
