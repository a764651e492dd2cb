"""Several runs side by side (`knowtune eval --runs a,b`): which method taught best, at what cost."""

from __future__ import annotations

from .document import Doc
from .full_report import acc, pct
from .plots import grouped_png


def _get(results: dict, *keys):
    for key in keys:
        if not isinstance(results, dict) or key not in results:
            return None
        results = results[key]
    return results


def build_comparison(title: str, runs: dict[str, dict], train_info: dict[str, dict]) -> Doc:
    """runs: run name -> its results (results.combine); train_info: run name -> its run.json."""
    doc = Doc(title)
    doc.para("Every run answered the same kinds of questions with its own held-out set; "
             "each run's own report has the details.")
    rows = []
    for name, results in runs.items():
        k, info = results["knowledge"], train_info.get(name, {})
        train = info.get("train", {})
        drop = _get(results, "forgetting", "drop_points")
        rate = _get(results, "hallucination", "model", "hallucination_rate")
        ppl = _get(k, "model", "perplexity")
        rows.append([name, info.get("method", "?"), info.get("model", "?"),
                     f"{train.get('seconds', 0):.0f} s" if train else "—",
                     acc(k["base"]) if "base" in k else "—", acc(k["base_rag"]) if "base_rag" in k else "—",
                     acc(k["model"]), acc(k["model_rag"]) if "model_rag" in k else "—",
                     "—" if ppl is None else f"{ppl:.2f}",
                     "—" if drop is None else f"{drop:+.1f}", pct(rate)])
    doc.table(["run", "method", "model", "training", "base", "base + RAG", "fine-tuned", "fine-tuned + RAG",
               "perplexity", "probe drop (points)", "hallucination rate"], rows)
    groups = {name: {results["labels"][s]: 100 * v["accuracy"] for s, v in results["knowledge"].items()}
              for name, results in runs.items()}
    doc.image("comparison.png", grouped_png(groups, "Held-out accuracy by run", "held-out accuracy (%)"),
              "held-out accuracy by run")
    doc.bullets([f"{name}: {info.get('trainable', '')}".strip() for name, info in train_info.items()])
    return doc
