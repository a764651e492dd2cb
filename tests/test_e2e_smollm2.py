"""End to end with the real embedded SmolLM2-135M on a handful of Hainan facts (slow)."""

import json

import pytest

from knowtune.commands.demo import kb_facts
from knowtune.config import TrainConfig
from knowtune.data import build_samples, load_facts
from knowtune.eval import answer_questions, summarise
from knowtune.train import train_run

pytestmark = pytest.mark.slow


def test_after_score_rises_above_before(tmp_path):
    facts = load_facts([kb_facts("en")])[:12]
    facts_file = tmp_path / "facts.jsonl"
    facts_file.write_text("\n".join(json.dumps(f.to_dict(), ensure_ascii=False) for f in facts) + "\n")
    heldout = build_samples(facts).heldout
    cfg = TrainConfig(epochs=3, min_steps=0)  # 3 passes as asked: the default floor of 120 steps would double them
    run = train_run(cfg, str(facts_file), tmp_path / "run", quiet=True)
    model = run.loaded.model
    with model.disable_adapter():
        before = summarise(answer_questions(model, run.loaded.tokenizer, heldout, system=cfg.system_prompt))
    after = summarise(answer_questions(model, run.loaded.tokenizer, heldout, system=cfg.system_prompt))
    assert after["correct"] > before["correct"]
    assert after["accuracy"] >= 0.5
