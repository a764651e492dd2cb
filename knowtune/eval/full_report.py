"""The report of one evaluation: did it learn, did it forget, does it make things up, would RAG do better."""

from __future__ import annotations

from .document import Doc
from .evaluate import accuracy_line
from .plots import bars_png, grouped_png, loss_png
from .suite import Pass

METRIC_NOTE = (
    "accuracy: the reply contains the answer or an alias (normalised). Exact match, token F1, ROUGE-1/2/L "
    "(F-measures) and corpus BLEU-4 compare the reply's words (jieba-segmented for Chinese) with the gold "
    "answer sentence the model was taught and with each accepted answer, keeping the best. Perplexity: "
    "of the gold sentence, teacher-forced under the chat template (answer tokens only; lower is better). "
    "Latency: seconds per answer, answered in batches.")


def pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def acc(summary: dict) -> str:
    return f"{pct(summary['accuracy'])} ({summary['correct']}/{summary['total']})"


def interval(summary: dict) -> str:
    """The 95 % interval of an accuracy, "[55.0–67.4]"; empty for a summary without one."""
    if summary.get("ci95_low") is None:
        return ""
    return f"[{100 * summary['ci95_low']:.1f}–{100 * summary['ci95_high']:.1f}]"


def pct_interval(summary: dict) -> str:
    """Accuracy and 95 % interval: "61.4% [55.0–67.4]"."""
    return f"{pct(summary['accuracy'])} {interval(summary)}".rstrip()


def acc_interval(summary: dict) -> str:
    """Accuracy, counts and 95 % interval: "61.4% (135/220) [55.0–67.4]"."""
    return f"{acc(summary)} {interval(summary)}".rstrip()


def build_report(title: str, results: dict, passes: dict[str, dict[str, Pass]],
                 losses: list | None = None) -> Doc:
    doc = Doc(title)
    doc.bullets([f"{k}: {v}" for k, v in results["info"].items()])
    doc.para(headline(results))
    _scorecard(doc, results)
    _knowledge(doc, results)
    _natural(doc, results)
    _categories(doc, results)
    _hallucination(doc, results, passes)
    _forgetting(doc, results)
    if losses is not None:
        doc.heading("Training loss")
        doc.image("loss.png", loss_png(losses, f"{results['info'].get('method', '')} training loss"),
                  "training loss curve")
    _examples(doc, results, passes)
    lines = [f"{results['labels'][k]}: {accuracy_line(results['knowledge'][k])}" for k in results["knowledge"]]
    doc.para("  \n".join(lines))
    return doc


def headline(results: dict) -> str:
    """The answer to the project's question, in one paragraph."""
    k, labels = results["knowledge"], results["labels"]
    parts = [f"{labels[name]} {pct(s['accuracy'])}" for name, s in k.items()]
    text = "Held-out accuracy: " + ", ".join(parts) + "."
    if results.get("natural"):
        text += " Natural questions: " + ", ".join(
            f"{labels[name]} {pct(s['accuracy'])}" for name, s in results["natural"].items()) + "."
    forgetting = results["forgetting"]
    if "drop_points" in forgetting:
        drop = forgetting["drop_points"]
        change = f"{drop:.1f} points lost" if drop > 0 else f"{-drop:.1f} points gained" if drop < 0 else "unchanged"
        text += (f" General-knowledge probe: {pct_interval(forgetting['base'])} before, "
                 f"{pct_interval(forgetting['model'])} after ({change})")
        if "model_alone" in forgetting:
            text += (f"; questions outside the knowledge base went to the base model, the adapter on for "
                     f"every question scores {pct_interval(forgetting['model_alone'])}")
        text += "."
    hallucination = results["hallucination"]
    if hallucination:
        text += " Confident answers to unanswerable questions: " + ", ".join(
            f"{labels.get(who, who)} {h['asserts']}/{h['total']}" for who, h in hallucination.items()) + "."
    return text


def _scorecard(doc: Doc, results: dict) -> None:
    """Learned, forgot, made up: base and fine-tuned side by side in one chart."""
    k, labels = results["knowledge"], results["labels"]
    if "base" not in k:
        return
    pair = lambda base, model: {labels["base"]: 100 * base, labels["model"]: 100 * model}  # noqa: E731
    groups = {"held-out accuracy": pair(k["base"]["accuracy"], k["model"]["accuracy"])}
    forgetting, hallucination = results["forgetting"], results["hallucination"]
    if "drop_points" in forgetting:
        groups["general probe"] = pair(forgetting["base"]["accuracy"], forgetting["model"]["accuracy"])
    if {"base", "model"} <= set(hallucination):
        groups["confident answers to\nunanswerable questions"] = pair(
            hallucination["base"]["hallucination_rate"], hallucination["model"]["hallucination_rate"])
    doc.image("scorecard.png", grouped_png(groups, "Before and after fine-tuning", "%"),
              "before and after fine-tuning")


def _knowledge(doc: Doc, results: dict) -> None:
    doc.heading("Knowledge: held-out questions")
    doc.para(METRIC_NOTE)
    rows = []
    for name, s in results["knowledge"].items():
        ppl = s.get("perplexity")
        rows.append([results["labels"][name], acc(s), pct(s["exact_match"]), pct(s["f1"]), pct(s["rouge1"]),
                     pct(s["rouge2"]), pct(s["rougeL"]), f"{100 * s['bleu4']:.1f}",
                     "—" if ppl is None else f"{ppl:.2f}", f"{s['seconds_per_answer']:.3f}"])
    doc.table(["system", "accuracy", "exact match", "token F1", "ROUGE-1", "ROUGE-2", "ROUGE-L", "BLEU-4",
               "perplexity", "s/answer"], rows)
    rag = [s for name, s in results["knowledge"].items() if name.endswith("_rag")]
    if rag and rag[0].get("retrieval_recall") is not None:
        doc.para(f"Retrieval: BM25 over the knowledge base, top {rag[0]['top_k']} passages; the gold passage "
                 f"was among them for {pct(rag[0]['retrieval_recall'])} of the questions.")
    for name, s in results["knowledge"].items():
        if name.endswith("_rag") and "retrieve_below" in s:
            doc.para(f"{results['labels'][name]}: passages given only where the reply without them was less sure "
                     f"than {s['retrieve_below']:g} or no fact backed it ({pct(s['retrieved_share'])} of the questions; "
                     f"{pct(s['always_retrieved_accuracy'])} with passages for every question).")
    values = {results["labels"][n]: 100 * s["accuracy"] for n, s in results["knowledge"].items()}
    doc.image("systems.png", bars_png(values, "Held-out accuracy by system"), "accuracy by system")


def _natural(doc: Doc, results: dict) -> None:
    """Template held-out beside natural held-out: the same facts, asked as training never asked them."""
    natural = results.get("natural")
    if not natural:
        return
    doc.heading("Knowledge: natural questions")
    doc.para("Hand-written questions asked the way people ask: other words for the relation, other names of "
             "the subject, answer-to-subject, through a related entity. Never trained on; the dev half is "
             "for choosing recipes, the test half is only reported.")
    rows = []
    for name, s in natural.items():
        template = results["knowledge"].get(name)
        halves = s.get("by_split", {})
        rows.append([results["labels"][name], acc(template) if template else "—", acc(s),
                     *(acc(halves[h]) if h in halves else "—" for h in ("dev", "test"))])
    doc.table(["system", "template held-out", "natural (all)", "natural dev", "natural test"], rows)
    for name, s in natural.items():
        always = s.get("always_retrieved_by_split", {})
        if always:
            doc.para(f"{results['labels'][name]}: passages only where the reply without them was less sure than "
                     f"{s['retrieve_below']:g} or no fact backed it ({pct(s['retrieved_share'])} of the questions); "
                     f"with passages for "
                     f"every question: " + ", ".join(f"{h} {acc(always[h])}" for h in ("dev", "test") if h in always)
                     + f" (`--retrieve-below 1`).")


def _categories(doc: Doc, results: dict) -> None:
    knowledge = results["knowledge"]
    categories = list(dict.fromkeys(c for s in knowledge.values() for c in s["by_category"]))
    if len(categories) < 2:
        return
    doc.heading("Held-out accuracy by category")
    rows, groups = [], {}
    for cat in categories:
        cells = {n: s["by_category"].get(cat) for n, s in knowledge.items()}
        rows.append([cat] + [acc(c) if c else "—" for c in cells.values()])
        groups[cat] = {results["labels"][n]: 100 * c["accuracy"] for n, c in cells.items() if c}
    doc.table(["category"] + [results["labels"][n] for n in knowledge], rows)
    doc.image("categories.png", grouped_png(groups, "Held-out accuracy by category"), "accuracy by category")


def _hallucination(doc: Doc, results: dict, passes: dict) -> None:
    hallucination = results["hallucination"]
    if not hallucination:
        return
    doc.heading("Hallucination: questions the knowledge base cannot answer")
    doc.para("Questions about the same subjects whose answers are not in the knowledge base. A reply "
             "declines (says it does not know), hedges (maybe, probably...) or asserts; every assertion is "
             "a confident wrong answer. Confidence: mean token probability of the asserting replies. "
             "Hedges include the notes knowtune adds: to an unsure reply, and to a reply that no fact of the "
             "knowledge base backs (the fact check's, counted apart).")
    rows = [[results["labels"].get(who, who), h["declines"], h["hedges"],
             "—" if h.get("ungrounded") is None else h["ungrounded"], f"{h['asserts']}/{h['total']}",
             pct(h["hallucination_rate"]), pct(h["assert_confidence"])] for who, h in hallucination.items()]
    doc.table(["model", "declines", "hedges", "of them: no fact backs it", "confident answers", "hallucination rate",
               "confidence"], rows)
    _hallucination_parts(doc, results)
    who = list(hallucination)
    sample = list(zip(*(passes[w]["unanswerable"].rows for w in who)))[:5]
    doc.table(["question"] + [results["labels"].get(w, w) for w in who],
              [[group[0]["question"]] + [f"[{r['kind']}] {r['reply']}" for r in group] for group in sample],
              [False] * (len(who) + 1))


HALLUCINATION_PARTS = [("by_split", "dev", "dev half"), ("by_split", "test", "test half"),
                       ("by_question_kind", "missing_relation", "real subject, missing fact"),
                       ("by_question_kind", "made_up_subject", "made-up subject")]


def _hallucination_parts(doc: Doc, results: dict) -> None:
    """Confident answers by half (dev: for choosing settings; test: reported) and by kind of question."""
    hallucination = results["hallucination"]
    parts = [(group, key, label) for group, key, label in HALLUCINATION_PARTS
             if any(key in h.get(group, {}) for h in hallucination.values())]
    if not parts:
        return
    rows = []
    for who, h in hallucination.items():
        cells = [h.get(group, {}).get(key) for group, key, _ in parts]
        rows.append([results["labels"].get(who, who)]
                    + [f"{c['asserts']}/{c['total']} ({pct(c['hallucination_rate'])})" if c else "—" for c in cells])
    doc.table(["confident answers"] + [label for _, _, label in parts], rows)


def _forgetting(doc: Doc, results: dict) -> None:
    forgetting = results["forgetting"]
    if not forgetting:
        return
    doc.heading("Forgetting: general-knowledge probe")
    doc.para("Very easy world-knowledge questions that have nothing to do with the knowledge base: "
             "what fine-tuning cost. The interval is the 95 % Wilson interval of the accuracy: a change "
             "within it may be chance. Dev half: for choosing settings; test half: only reported.")
    if "model_alone" in forgetting:
        doc.para("Questions outside the knowledge base are answered with the adapter switched off, by the "
                 "base model (routing, as chat and the API do; `--no-route` turns it off): the fine-tuned "
                 "row is what a user of knowtune's chat or server gets. The row with the adapter on for "
                 "every question is what the weights themselves forgot: what a merged or exported model answers.")
    doc.table(["model", "probe accuracy", "95 % interval", "dev", "test"], _probe_rows(forgetting, results["labels"]))
    _forgetting_choice(doc, results)


def _probe_rows(scores: dict, labels: dict) -> list[list[str]]:
    """A row per model (accuracy, interval, halves), then the drops: the served model's and the weights'."""
    rows = []
    for who, s in scores.items():
        if not who.endswith("drop_points"):
            halves = s.get("by_split", {})
            rows.append([labels.get(who, who), acc(s), interval(s) or "—",
                         *(acc_interval(halves[h]) if h in halves else "—" for h in ("dev", "test"))])
    if "drop_points" in scores:
        rows.append(["drop (points)", f"{scores['drop_points']:.1f}", "", "", ""])
    if "alone_drop_points" in scores:
        rows.append(["drop, adapter on for every question (points)", f"{scores['alone_drop_points']:.1f}",
                     "", "", ""])
    return rows


def _forgetting_choice(doc: Doc, results: dict) -> None:
    choice = results.get("forgetting_choice")
    if not choice:
        return
    chance = next((s["chance"] for s in choice.values() if isinstance(s, dict) and s.get("chance")), 0.25)
    doc.para(f"The same probe as a choice: each question's accepted answer and {round(1 / chance) - 1} wrong "
             "answers (those of the probe's most similar questions) scored as the reply by their likelihood; "
             f"right when the accepted answer is the likeliest (chance {pct(chance)}). It reads what a model "
             "knows where it answers few questions in words (a base model); routed as the probe above.")
    doc.table(["model", "choice accuracy", "95 % interval", "dev", "test"], _probe_rows(choice, results["labels"]))


def _examples(doc: Doc, results: dict, passes: dict, n: int = 8) -> None:
    columns = [(who, name) for who in passes for name in ("heldout", "rag") if name in passes[who]]
    if not columns:
        return
    doc.heading("Example answers")
    table = list(zip(*(passes[who][name].rows for who, name in columns)))
    last = len(columns) - 1
    # questions where the systems disagree first: they show what each approach changes
    table.sort(key=lambda group: (len({r["correct"] for r in group}) == 1, not group[last]["correct"]))
    labels = [results["labels"][who if name == "heldout" else f"{who}_rag"] for who, name in columns]
    rows = [[group[0]["question"], group[0].get("gold", "")]
            + [("✓ " if r["correct"] else "✗ ") + r["reply"] for r in group] for group in table[:n]]
    doc.table(["question", "gold"] + labels, rows, [False] * (len(labels) + 2))
