"""The demo asks what the run's report shows: held-out and natural questions, the probe, and the
unanswerable questions (what the model makes up), in the demo's language."""

from __future__ import annotations

import pytest

from knowtune.commands.demo import kb_facts, natural_questions
from knowtune.commands.evaluate import demo_plan
from knowtune.data import build_samples, load_dataset_dir, load_facts, write_dataset


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_demo_plan_asks_the_probe_and_the_unanswerable_questions(tmp_path, lang):
    built = build_samples(load_facts([kb_facts(lang)]), natural=natural_questions(lang))
    data_dir = write_dataset(built, tmp_path / "data", sources=["hainan"])
    _train, heldout = load_dataset_dir(data_dir)
    plan = demo_plan(heldout, data_dir, "You are a helpful assistant.")
    assert len(plan.probes) >= 200 and {q["lang"] for q in plan.probes} == {lang}
    assert len(plan.unanswerable) >= 60 and {q["lang"] for q in plan.unanswerable} == {lang}
    assert plan.natural and plan.index is not None and not plan.perplexity
