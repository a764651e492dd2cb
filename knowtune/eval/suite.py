"""Every pass of one model over an evaluation plan.

- heldout: the held-out questions, bare: accuracy, overlap metrics, perplexity of the gold;
- natural: questions asked the way people ask them (other words, other names, backwards), bare
  and with retrieval, scored by dev and test half;
- rag: the same questions with the top-k retrieved passages in the prompt where the model's
  closed-book reply was unsure (confidence below `retrieve_below`; see retrieve_when_unsure);
- probe: the general-knowledge probe (what fine-tuning may have made it forget), with a 95 %
  Wilson interval (a few hundred questions move by several points by chance) and by dev/test half;
  where questions are routed (data.scope), also `probe_alone`: every probe question asked with the
  adapter on, what the weights themselves forgot (a merged or exported model has no routing);
- probe_choice: the same probe scored as a choice among four answers by likelihood (eval.choice):
  forgetting measured where a base model's replies are at the floor; routed as the probe is, and
  where it is, also `probe_choice_alone`, the adapter on for every question;
- unanswerable: questions whose answers are not in the knowledge base (hallucinations), by
  half and by kind of question (a missing relation of a real subject, or a made-up subject).
Answers are generated in left-padded greedy batches; latencies are per answer, batched.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from dataclasses import dataclass, field
from typing import Callable, ContextManager

from ..config import ANSWER_BATCH, RETRIEVE_BELOW
from ..data.grounding import Grounding
from ..data.hedge import HEDGE_BELOW
from ..data.retrieval import TOP_K, PassageIndex, rag_prompt, retrieve, sure_without_passages
from ..data.scope import KnowledgeScope
from ..models.merged import adapter_off, adapter_on
from .evaluate import answer_questions, route_each, summarise
from .choice import score_choices, with_options
from .likelihood import answer_logprobs, perplexity
from .metrics import overlap_summary, reply_scores, wilson_interval
from .refusal import classify_reply, hallucination_by, hallucination_summary

Progress = Callable[[str, int], ContextManager[Callable[[int], None]]]
"""(label, total) -> a context giving a callback that advances by n answers."""


@dataclass
class EvalPlan:
    heldout: list[dict]
    gold: list[str]
    """The gold answer of each held-out question (sources.KnowledgeBase.gold)."""
    system: str = ""
    """The run's system prompt: every question to the run's model and to its base uses it."""
    index: PassageIndex | None = None
    top_k: int = TOP_K
    natural: list[dict] = field(default_factory=list)
    """Natural questions (other words, names and directions than training's), each with a "split": dev or test."""
    natural_rag: bool = True
    """Ask the natural questions with retrieval too (the demo leaves it to `knowtune eval` for time)."""
    probes: list[dict] = field(default_factory=list)
    unanswerable: list[dict] = field(default_factory=list)
    bf16: bool = False
    batch_size: int = ANSWER_BATCH
    max_new_tokens: int = 32
    perplexity: bool = True
    """Score the gold answers' perplexity (a forward pass per batch; the demo skips it for time)."""
    probe_choice: bool = True
    """Also score the probe as a choice among four answers by likelihood (eval.choice): what the weights
    forgot, readable where a base model answers almost none of the probe (the demo skips it for time)."""
    hedge_below: float = HEDGE_BELOW
    """Replies less sure than this carry a hedge note (data.hedge), as chat and the API give them."""
    grounding: Grounding | None = None
    """The knowledge base's facts: a reply about it that none of them grounds carries a note (data.grounding)."""
    scope: KnowledgeScope | None = None
    """A model with an adapter answers the questions outside the knowledge base with its adapter off
    (data.scope), as chat and the API do; None: the adapter answers everything."""
    retrieve_below: float = RETRIEVE_BELOW
    """The + RAG passes keep the closed-book reply where its confidence is at least this, and use
    the reply with passages elsewhere (1: passages for every question)."""
    cache_as: str | None = None
    """The identity (models.answer_cache.model_identity) of the unchanged base model this plan is
    asked of, whose answers are then cached; None for any other model (a fine-tuned one)."""
    base_cache_as: str | None = None
    """For a fine-tuned model whose questions are routed (`scope`): the identity of its base weights as
    the before pass asked them (its `cache_as`), so that the routed questions' answers come from the
    cache instead of being generated again."""


@dataclass
class Pass:
    rows: list[dict]
    summary: dict


def evaluate_model(model, tokenizer, plan: EvalPlan, label: str, progress: Progress | None = None) -> dict[str, Pass]:
    """The passes the plan asks for, keyed heldout, rag, probe, unanswerable."""
    passes = {"heldout": knowledge_pass(model, tokenizer, plan, label, progress)}
    if plan.index is not None:
        passes["rag"] = rag_pass(model, tokenizer, plan, f"{label} + RAG", progress, closed=passes["heldout"].rows)
    if plan.natural:
        passes["natural"] = natural_pass(model, tokenizer, plan, f"{label}: natural questions", progress)
        if plan.index is not None and plan.natural_rag:
            passes["natural_rag"] = natural_pass(model, tokenizer, plan, f"{label} + RAG: natural questions",
                                                 progress, rag=True, closed=passes["natural"].rows)
    if plan.probes:
        routes = plan.scope is not None and adapter_on(model)
        alone = dataclasses.replace(plan, scope=None)
        passes["probe"] = probe_pass(model, tokenizer, plan, f"{label}: general probe", progress)
        if routes:
            passes["probe_alone"] = probe_pass(model, tokenizer, alone, f"{label}: general probe, adapter on", progress)
        if plan.probe_choice:
            passes["probe_choice"] = choice_pass(model, tokenizer, plan, f"{label}: general probe as a choice", progress)
            if routes:
                passes["probe_choice_alone"] = choice_pass(model, tokenizer, alone,
                                                           f"{label}: general probe as a choice, adapter on", progress)
    if plan.unanswerable:
        passes["unanswerable"] = unanswerable_pass(model, tokenizer, plan, f"{label}: unanswerable", progress)
    return passes


def _ask(model, tokenizer, plan: EvalPlan, questions: list[dict], label: str, progress: Progress | None,
         user_texts: list[str] | None = None) -> tuple[list[dict], float]:
    context = progress(label, len(questions)) if progress else contextlib.nullcontext(None)
    start = time.perf_counter()
    with context as advance:
        rows = answer_questions(model, tokenizer, questions, bf16=plan.bf16, batch_size=plan.batch_size,
                                max_new_tokens=plan.max_new_tokens, progress=advance, system=plan.system,
                                user_texts=user_texts, identity=plan.cache_as, hedge_below=plan.hedge_below,
                                grounding=plan.grounding, scope=plan.scope, base_identity=plan.base_cache_as)
    return rows, time.perf_counter() - start


def _with_overlap(rows: list[dict], plan: EvalPlan, seconds: float) -> dict:
    references = [list(dict.fromkeys([gold, *row["answers"]])) for gold, row in zip(plan.gold, rows)]
    for row, gold, refs in zip(rows, plan.gold, references):
        row["gold"] = gold
        row.update({k: round(v, 4) for k, v in reply_scores(row["reply"], refs).items()})
    return {**summarise(rows), **overlap_summary([r["reply"] for r in rows], references),
            "seconds": round(seconds, 2)}


def knowledge_pass(model, tokenizer, plan: EvalPlan, label: str, progress: Progress | None = None) -> Pass:
    rows, seconds = _ask(model, tokenizer, plan, plan.heldout, label, progress)
    summary = _with_overlap(rows, plan, seconds)
    if plan.perplexity:
        chats = [(q["question"], g) for q, g in zip(plan.heldout, plan.gold)]
        summary["perplexity"] = perplexity(answer_logprobs(model, tokenizer, chats, system=plan.system))
    return Pass(rows, summary)


def retrieve_when_unsure(closed: list[dict], retrieved: list[dict], below: float) -> list[dict]:
    """Each question's closed-book row where the model was sure of its reply (confidence >= below)
    and no fact check found it ungrounded (data.grounding), else its row answered with retrieved
    passages; each marked `retrieved`. below >= 1: all with passages.

    Why: retrieval helps where the model does not know, and hurts where it does and the passages
    miss (BM25 finds the fact for four natural questions in five): a fine-tuned model answered
    the bundled sets' natural questions worse with passages for all than alone (config.RETRIEVE_BELOW).
    Retrieving when the model's own probabilities say it is unsure is adaptive retrieval, as in
    FLARE (Jiang et al. 2023), with the reply's geometric mean token probability as the signal;
    a reply no fact grounds is retrieved for however sure it is (on the bundled sets' dev halves,
    +0.9 to +3.5 points over the confidence alone).
    """
    rows = []
    for bare, with_passages in zip(closed, retrieved, strict=True):
        sure = sure_without_passages(bare.get("confidence"), bare.get("ungrounded", False), below)
        rows.append({**bare, "retrieved": False} if sure else {**with_passages, "retrieved": True})
    return rows


def _adaptive(rows: list[dict], closed: list[dict] | None, plan: EvalPlan) -> tuple[list[dict], dict]:
    """rows (answered with passages) as retrieve_when_unsure keeps them, and what that changed."""
    if closed is None:
        return rows, {}
    always = summarise(rows)["accuracy"]
    rows = retrieve_when_unsure(closed, rows, plan.retrieve_below)
    return rows, {"always_retrieved_accuracy": always, "retrieve_below": plan.retrieve_below,
                  "retrieved_share": sum(r["retrieved"] for r in rows) / max(len(rows), 1)}


def rag_pass(model, tokenizer, plan: EvalPlan, label: str, progress: Progress | None = None, *,
             closed: list[dict] | None = None) -> Pass:
    """The held-out questions with passages; with `closed` (the bare pass's rows), only where unsure."""
    start = time.perf_counter()
    found = [retrieve(plan.index, q["question"], plan.top_k) for q in plan.heldout]
    retrieval = time.perf_counter() - start
    texts = [rag_prompt(q["question"], passages) for q, passages in zip(plan.heldout, found)]
    rows, seconds = _ask(model, tokenizer, plan, plan.heldout, label, progress, user_texts=texts)
    per_answer = (seconds + retrieval) / max(len(rows), 1)
    indexed = set(plan.index.passages)
    for row, passages, gold in zip(rows, found, plan.gold):
        # None: the gold is no passage (a held-out QA record), so retrieval cannot find it
        row.update(passages=passages, gold_retrieved=gold in passages if gold in indexed else None,
                   seconds=round(per_answer, 4))
    findable = [r["gold_retrieved"] for r in rows if r["gold_retrieved"] is not None]
    recall = sum(findable) / len(findable) if findable else None
    rows, adaptive = _adaptive(rows, closed, plan)
    summary = _with_overlap(rows, plan, seconds + retrieval)
    summary.update(retrieval_recall=recall, top_k=plan.top_k, **adaptive)
    return Pass(rows, summary)


def natural_pass(model, tokenizer, plan: EvalPlan, label: str, progress: Progress | None = None,
                 *, rag: bool = False, closed: list[dict] | None = None) -> Pass:
    """The natural questions, bare or (rag) with passages; with `closed`, passages only where unsure."""
    texts = None
    if rag:
        texts = [rag_prompt(q["question"], retrieve(plan.index, q["question"], plan.top_k)) for q in plan.natural]
    rows, seconds = _ask(model, tokenizer, plan, plan.natural, label, progress, user_texts=texts)
    for row, question in zip(rows, plan.natural):
        row.update(split=question.get("split", "dev"), form=question.get("form", ""))
    always = {"always_retrieved_by_split": split_summary(rows)} if rag and closed is not None else {}
    rows, adaptive = _adaptive(rows, closed if rag else None, plan)
    return Pass(rows, {**summarise(rows), "by_split": split_summary(rows), "by_form": split_summary(rows, "form"),
                       "seconds": round(seconds, 2), **adaptive, **always})


def split_summary(rows: list[dict], key: str = "split") -> dict:
    """Accuracy of each half (dev: choose recipes on it; test: only reported), or of each `key`."""
    out = {}
    for split in sorted({r[key] for r in rows}):
        mine = [r for r in rows if r[key] == split]
        out[split] = {"accuracy": sum(r["correct"] for r in mine) / len(mine),
                      "correct": sum(r["correct"] for r in mine), "total": len(mine)}
    return out


def with_interval(summary: dict) -> dict:
    """The summary with the 95 % Wilson interval of its accuracy (ci95_low, ci95_high)."""
    low, high = wilson_interval(summary["correct"], summary["total"])
    return {**summary, "ci95_low": round(low, 4), "ci95_high": round(high, 4)}


def _keep_fields(rows: list[dict], questions: list[dict], fields: dict[str, str]) -> None:
    """Copy each question's field (when it has one) into its row, under the row's name for it."""
    for row, question in zip(rows, questions):
        row.update({mine: question[theirs] for theirs, mine in fields.items() if theirs in question})


def probe_pass(model, tokenizer, plan: EvalPlan, label: str, progress: Progress | None = None) -> Pass:
    rows, seconds = _ask(model, tokenizer, plan, plan.probes, label, progress)
    _keep_fields(rows, plan.probes, {"split": "split"})
    return Pass(rows, _with_halves({**summarise(rows), "seconds": round(seconds, 2)}, rows))


def _with_halves(summary: dict, rows: list[dict]) -> dict:
    """The summary with its accuracy's interval, and each half's (dev, test) where rows have one."""
    summary = with_interval(summary)
    halves = [r for r in rows if "split" in r]
    if halves:
        summary["by_split"] = {name: with_interval(s) for name, s in split_summary(halves).items()}
    return summary


def choice_pass(model, tokenizer, plan: EvalPlan, label: str, progress: Progress | None = None) -> Pass:
    """The probe as a choice among CHOICES answers (eval.choice), with its interval and halves; where
    the plan routes (scope) a model with its adapter on, the questions outside the knowledge base are
    scored with the adapter off, as the served model answers them (rows marked `answered_by`)."""
    items = with_options(plan.probes)
    routed = plan.scope is not None and adapter_on(model)
    to_base = [routed and not plan.scope.about(item["question"]) for item in items]
    context = progress(label, len(items)) if progress else contextlib.nullcontext(None)
    start = time.perf_counter()
    with context as advance:
        def scored(part: list[dict]) -> list[dict]:
            return score_choices(model, tokenizer, part, system=plan.system, advance=advance, bf16=plan.bf16)[0]

        def scored_by_base(part: list[dict]) -> list[dict]:
            with adapter_off(model):
                return scored(part)

        rows = route_each(scored, scored_by_base, items, to_base)
    seconds = time.perf_counter() - start
    if routed:
        for row, base in zip(rows, to_base):
            row["answered_by"] = "base" if base else "fine-tuned"
    correct = sum(r["correct"] for r in rows)
    summary = {"accuracy": correct / max(len(rows), 1), "correct": correct, "total": len(rows),
               "chance": 1 / len(items[0]["options"]) if items else None, "seconds": round(seconds, 2),
               **({"answered_by_base": sum(to_base)} if routed else {})}
    return Pass(rows, _with_halves(summary, rows))


def unanswerable_pass(model, tokenizer, plan: EvalPlan, label: str, progress: Progress | None = None) -> Pass:
    questions = [{**q, "answers": []} for q in plan.unanswerable]
    rows, seconds = _ask(model, tokenizer, plan, questions, label, progress)
    for row in rows:
        row.update(kind=classify_reply(row["reply"]), confidence=row["confidence"] if row["reply"].strip() else None)
        del row["correct"], row["answers"]
    # the row's "kind" is what the reply does (declines, hedges, asserts); the question's is what it asks
    _keep_fields(rows, plan.unanswerable, {"split": "split", "kind": "question_kind"})
    return Pass(rows, {**hallucination_summary(rows), "by_split": hallucination_by(rows, "split"),
                       "by_question_kind": hallucination_by(rows, "question_kind"), "seconds": round(seconds, 2)})
