"""Replay answers taught as the base model's distribution, not only its greedy tokens.

Replay (data/replay.py) trains on the base model's own greedy answers to general prompts, so
fine-tuning on facts keeps its old behaviour on them. A greedy token is one bit of what the base
model knew at that position: which other tokens it held likely, and how sure it was, is lost,
and the facts' training is free to move them (after the Hainan demo, "A week is approximately 29
days" where the base model said 7). Here each replay answer token's target is the base model's
top-k next-token probabilities (renormalised over the k), and the loss is the cross-entropy to
that distribution: self-distillation of the start model on the replay prompts (knowledge
distillation, Hinton et al. 2015; the top-k cut keeps the targets small and, as the full
distribution's tail is mostly noise, loses little). k = 1 is the greedy token itself.

Why by hand: TRL's GKD / distillation trainers run the teacher beside the student at every step
(twice the forward cost on a CPU) and do not fit knowtune's packed, chunked loss; the targets of
a fixed teacher on fixed replay answers are computed once, before training.
"""

from __future__ import annotations

import contextlib

import torch

from ..data import pad_batch
from ..data.collate import answer_positions
from ..methods.layers import base_model
from .linear_ce import capped


@torch.no_grad()
def add_soft_targets(model, features: list[dict], indices: list[int], k: int, pad_id: int, *,
                     autocast=contextlib.nullcontext, batch_size: int = 16) -> None:
    """Give features[i] (i in indices) `soft_ids` / `soft_weights`: at each answer token, the top-k
    next tokens of `model` with adapters off (the base model: call it before training, as the
    start of every method is the base) and their probabilities renormalised over the k."""
    if k < 2 or not indices:
        return
    was_training = model.training
    model.eval()
    off = model.disable_adapter() if hasattr(model, "disable_adapter") else contextlib.nullcontext()
    base = base_model(model)
    head = base.get_output_embeddings()
    softcap = getattr(base.config, "final_logit_softcapping", None)
    device = next(model.parameters()).device
    try:
        with off, autocast():
            for start in range(0, len(indices), batch_size):
                chunk = [features[i] for i in indices[start:start + batch_size]]
                batch = pad_batch(chunk, pad_id)
                hidden = base.get_decoder()(input_ids=batch["input_ids"].to(device),
                                            attention_mask=batch["attention_mask"].to(device),
                                            use_cache=False).last_hidden_state
                for row, feature in enumerate(chunk):
                    before = [i - 1 for i in answer_positions(feature["labels"])]  # the state that predicts i
                    logits = capped(head(hidden[row, before]).float(), softcap)
                    probs, ids = torch.softmax(logits, dim=-1).topk(k, dim=-1)
                    feature["soft_ids"] = ids.tolist()
                    feature["soft_weights"] = (probs / probs.sum(dim=-1, keepdim=True)).tolist()
    finally:
        model.train(was_training)


def replay_indices(samples: list[dict]) -> list[int]:
    """The replay samples (data.replay.replay_sample) among a run's training samples."""
    return [i for i, s in enumerate(samples) if s.get("source") == "replay"]

