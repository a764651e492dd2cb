"""Retrieval-aware fine-tuning (RAFT, Zhang et al. 2024): some fact questions are also trained
with retrieved passages in the prompt, so that the fine-tuned model uses retrieval instead of
being thrown by it.

A model fine-tuned on bare questions meets a new kind of prompt under RAG (passages, then the
question) and may answer worse with it than without. A retrieval twin is that prompt, exactly as
evaluation sends it (data.retrieval.rag_prompt over the same passages, the same top k), with
the sample's own reply:
- mostly (GOLD_SHARE) the fact's own passage is among them: the model learns to read it out of
  the distractors;
- otherwise only distractors: the model learns to answer from what it knows when retrieval
  misses, rather than copy a wrong passage.
Held-out questions are never trained, so they never get a twin.
"""

from __future__ import annotations

import random

from ...config.coerce import share_in_range
from ..facts import Fact
from ..retrieval import TOP_K, PassageIndex, build_index, dataset_passages, rag_prompt, retrieve

DEFAULT_SHARE = 0.0
"""Share of fact questions given a retrieval twin by default: off until measured."""
GOLD_SHARE = 0.8
"""Share of twins whose passages hold the fact's own passage (RAFT's P)."""
FORM = "retrieval"
FIELD = "--retrieval"


def check_share(value: object) -> float:
    """A share from 0 to 1, given as a number or as its text (the command line); else the one-line error."""
    return share_in_range(value, most=1, field=FIELD)


def with_retrieval(train: list[dict], facts: list[Fact], *, share: float, seed: int = 0,
                   k: int = TOP_K) -> list[dict]:
    """The training samples with retrieval twins of `share` of the fact questions mixed in.

    The passages are those evaluation retrieves from for this data set (`dataset_passages` of
    these very samples and facts). The other samples keep their order, so the data set written
    yields the same passages, in the same order, with twins as without.
    """
    share = check_share(share)
    candidates = [s for s in train if isinstance(s.get("fact"), int) and len(s["messages"]) >= 2]
    count = round(share * len(candidates))
    if not count:
        return train
    rng = random.Random(f"retrieval:{seed}")  # its own stream: the rest of the build is unchanged
    taught, passages = dataset_passages(train, facts)
    index = build_index(passages)
    twins = [_twin(sample, index, taught[sample["fact"]], k, rng) for sample in rng.sample(candidates, count)]
    return _mix(train, twins, rng)


def _twin(sample: dict, index: PassageIndex, gold: str, k: int, rng: random.Random) -> dict:
    question, reply = sample["messages"][-2]["content"], sample["messages"][-1]["content"]
    if rng.random() < GOLD_SHARE:
        passages = retrieve(index, question, k)  # what evaluation retrieves, to the same k
        if gold not in passages:
            passages = passages[:k - 1] + [gold]  # in place of the weakest
    else:
        passages = [p for p in retrieve(index, question, k + 1) if p != gold][:k]
    rng.shuffle(passages)  # the right passage is not always first, as retrieval does not always rank it so
    return {**sample, "messages": [{"role": "user", "content": rag_prompt(question, passages)},
                                   {"role": "assistant", "content": reply}], "form": FORM}


def _mix(train: list[dict], twins: list[dict], rng: random.Random) -> list[dict]:
    """Twins at random places among the samples, whose order is kept."""
    total = len(train) + len(twins)
    slots = set(rng.sample(range(total), len(twins)))
    rest, extra = iter(train), iter(twins)
    return [next(extra) if i in slots else next(rest) for i in range(total)]
