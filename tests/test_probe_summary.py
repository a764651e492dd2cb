"""The probe's and the unanswerable questions' summaries, by half and with the probe's 95 %
interval, through to the report, on scripted replies (no model)."""

import pytest

from knowtune.eval import suite
from knowtune.eval.evaluate import summarise
from knowtune.eval.full_report import acc_interval, build_report, pct_interval
from knowtune.eval.metrics import overlap_summary
from knowtune.eval.results import combine
from knowtune.eval.suite import EvalPlan, Pass

PROBES = [{"question": f"q{i}?", "answers": ["yes"], "split": "dev" if i % 2 == 0 else "test"} for i in range(20)]
UNANSWERABLE = [{"question": f"u{i}?", "split": "dev" if i % 2 == 0 else "test",
                 "kind": "made_up_subject" if i < 2 else "missing_relation"} for i in range(4)]


def scripted(replies):
    """suite._ask answering each question with the next scripted reply."""
    def ask(model, tokenizer, plan, questions, label, progress, user_texts=None):
        rows = [{"question": q["question"], "reply": reply, "correct": "yes" in reply, "answers": q["answers"],
                 "category": "general", "seconds": 0.01, "confidence": 0.6} for q, reply in zip(questions, replies)]
        return rows, 0.2
    return ask


def passes_for(monkeypatch, probe_right: int, unanswerable_replies: list[str]) -> dict[str, Pass]:
    plan = EvalPlan(heldout=[], gold=[], probes=PROBES, unanswerable=UNANSWERABLE)
    monkeypatch.setattr(suite, "_ask", scripted(["yes"] * probe_right + ["no"] * (len(PROBES) - probe_right)))
    probe = suite.probe_pass(None, None, plan, "probe")
    monkeypatch.setattr(suite, "_ask", scripted(unanswerable_replies))
    unanswerable = suite.unanswerable_pass(None, None, plan, "unanswerable")
    rows = [{"question": "h?", "reply": "yes", "correct": True, "answers": ["yes"], "category": "general",
             "seconds": 0.01}]
    heldout = Pass(rows, {**summarise(rows), **overlap_summary(["yes"], [["yes"]]), "seconds": 0.01})
    return {"heldout": heldout, "probe": probe, "unanswerable": unanswerable}


def test_probe_summary_has_the_interval_and_each_half(monkeypatch):
    summary = passes_for(monkeypatch, 10, ["I don't know."] * 4)["probe"].summary
    assert (summary["correct"], summary["total"], summary["accuracy"]) == (10, 20, 0.5)
    assert (summary["ci95_low"], summary["ci95_high"]) == pytest.approx((0.2993, 0.7007), abs=1e-4)
    dev, test = summary["by_split"]["dev"], summary["by_split"]["test"]
    # the first ten questions were answered right: five of each half
    assert (dev["correct"], dev["total"], test["correct"], test["total"]) == (5, 10, 5, 10)
    assert dev["ci95_low"] < 0.5 < dev["ci95_high"]
    assert pct_interval(summary) == "50.0% [29.9–70.1]"
    assert acc_interval(summary) == "50.0% (10/20) [29.9–70.1]"


def test_unanswerable_summary_by_half_and_by_kind_of_question(monkeypatch):
    replies = ["It is 42.", "I don't know.", "It opened in 1999.", "Sorry, I have no information."]
    result = passes_for(monkeypatch, 10, replies)["unanswerable"]
    summary = result.summary
    assert (summary["asserts"], summary["total"]) == (2, 4)  # the old keys stay
    assert summary["by_split"]["dev"]["asserts"] == 2 and summary["by_split"]["test"]["asserts"] == 0
    kinds = summary["by_question_kind"]
    assert (kinds["made_up_subject"]["asserts"], kinds["missing_relation"]["asserts"]) == (1, 1)
    # the reply's kind and the question's kind are two fields
    assert [(r["kind"], r["question_kind"]) for r in result.rows][:2] == [("asserts", "made_up_subject"),
                                                                           ("declines", "made_up_subject")]


def test_report_shows_the_interval_and_the_halves(monkeypatch):
    passes = {"base": passes_for(monkeypatch, 14, ["It is 42.", "It is 7.", "I don't know.", "It is 3."]),
              "model": passes_for(monkeypatch, 10, ["I don't know."] * 4)}
    results = combine(passes, {"model": "tiny"})
    assert results["forgetting"]["drop_points"] == pytest.approx(20.0)
    assert results["forgetting"]["model"]["accuracy"] == 0.5  # the keys other code reads stay
    markdown = build_report("t", results, passes).markdown()
    assert "General-knowledge probe: 70.0% [48.1–85.5] before, 50.0% [29.9–70.1] after (20.0 points lost)." \
        in markdown
    assert "| fine-tuned | 50.0% (10/20) | [29.9–70.1] | 50.0% (5/10) [23.7–76.3] |" in markdown
    assert "| confident answers | dev half | test half | real subject, missing fact | made-up subject |" in markdown
    assert "| base | 1/2 (50.0%) | 2/2 (100.0%) | 1/2 (50.0%) | 2/2 (100.0%) |" in markdown
