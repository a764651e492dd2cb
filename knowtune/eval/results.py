"""Passes of the base and fine-tuned models -> one results dict, and the files of an eval directory.

Systems: base, base_rag, model (the evaluated model: fine-tuned for a run), model_rag.
metrics.json keeps the earlier top-level "base" and "model" held-out summaries.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..data.jsonl import write_jsonl
from .document import Doc
from .evaluate import write_results
from .suite import Pass

RUN_LABELS = {"base": "base", "base_rag": "base + RAG", "model": "fine-tuned", "model_rag": "fine-tuned + RAG",
              "model_alone": "fine-tuned, adapter on for every question"}
MODEL_LABELS = {"model": "model", "model_rag": "model + RAG"}


def combine(passes: dict[str, dict[str, Pass]], info: dict, *, tuned: bool = True) -> dict:
    """passes: {"base": {...}, "model": {...}} (base may be absent), each from suite.evaluate_model."""
    knowledge, hallucination, forgetting, natural, choice = {}, {}, {}, {}, {}
    for who in ("base", "model"):
        if who not in passes:
            continue
        mine = passes[who]
        knowledge[who] = mine["heldout"].summary
        if "rag" in mine:
            knowledge[f"{who}_rag"] = mine["rag"].summary
        for name, key in (("natural", who), ("natural_rag", f"{who}_rag")):
            if name in mine:
                natural[key] = mine[name].summary
        if "probe" in mine:
            forgetting[who] = mine["probe"].summary
        if "probe_alone" in mine:  # what the weights forgot, where the probe's answers were routed
            forgetting[f"{who}_alone"] = mine["probe_alone"].summary
        if "unanswerable" in mine:
            hallucination[who] = mine["unanswerable"].summary
        if "probe_choice" in mine:  # the probe as a choice by likelihood (eval.choice), routed as the probe
            choice[who] = mine["probe_choice"].summary
        if "probe_choice_alone" in mine:
            choice[f"{who}_alone"] = mine["probe_choice_alone"].summary
    for mine in forgetting, choice:  # the served model's drop, and the weights' own where routed
        for who, drop in (("model", "drop_points"), ("model_alone", "alone_drop_points")):
            if "base" in mine and who in mine:
                mine[drop] = round(100 * (mine["base"]["accuracy"] - mine[who]["accuracy"]), 1)
    order = ["base", "base_rag", "model", "model_rag"]
    knowledge = {k: knowledge[k] for k in order if k in knowledge}
    labels = {k: (RUN_LABELS if tuned else MODEL_LABELS).get(k, k) for k in [*knowledge, *forgetting, *choice]
              if not k.endswith("drop_points")}
    answered = sum(p.summary.get("total", 0) for mine in passes.values() for p in mine.values())
    seconds = sum(p.summary.get("seconds", 0.0) for mine in passes.values() for p in mine.values())
    info = {**info, "answers generated": answered, "answering seconds": round(seconds, 1)}
    results = {"info": info, "labels": labels, "knowledge": knowledge, "hallucination": hallucination,
               "forgetting": forgetting}
    if choice:
        results["forgetting_choice"] = choice
    if natural:
        results["natural"] = {k: natural[k] for k in order if k in natural}
        results["labels"].update({k: (RUN_LABELS if tuned else MODEL_LABELS).get(k, k) for k in natural})
    results.update({k: knowledge[k] for k in ("base", "model") if k in knowledge})
    return results


def write_answers(out: Path, passes: dict[str, dict[str, Pass]]) -> None:
    """WHO_answers.jsonl + WHO_metrics.json (held-out), WHO_{rag,probe,unanswerable}_answers.jsonl."""
    for who, mine in passes.items():
        write_results(out, who, mine["heldout"].rows, mine["heldout"].summary)
        for name, result in mine.items():
            if name != "heldout":
                write_jsonl(out / f"{who}_{name}_answers.jsonl", result.rows)


def write_reports(out: Path, results: dict, doc: Doc) -> None:
    """metrics.json, report.md (+ its PNGs) and the self-contained report.html."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for image in doc.images():
        (out / image.name).write_bytes(image.png)
    (out / "report.md").write_text(doc.markdown(), encoding="utf-8")
    (out / "report.html").write_text(doc.html(), encoding="utf-8")
