"""The preference stages (dpo, orpo, kto) inside the one training loop: pairs, reference, loss.

A pair is a training sample with a `rejected` reply beside its own (chosen) answer. Each
micro-batch holds whole pairs: its rows are the chosen replies, then the rejected ones (then, for
kto, each prompt with another pair's chosen reply: the mismatched rows KTO's reference point is
estimated on), so the loss of a pair sees both its sides. The reference log-probabilities are
computed once, before the first step, by the model training starts from (for adapter methods the
model with its adapters off), and carried with each pair: no second copy of the model is held.
"""

from __future__ import annotations

import contextlib
from functools import partial

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from ..config import KnowtuneError
from ..data import IGNORE, ChatPrompt, pad_batch
from ..methods.layers import base_model
from .linear_ce import capped
from .loss import CHUNK_ELEMENTS
from .preference_loss import dpo_loss, kto_loss, orpo_loss

PREFERENCE_STAGES = ("dpo", "orpo", "kto")
REFERENCE_STAGES = ("dpo", "kto")  # orpo needs no reference model


def is_preference(stage: str) -> bool:
    return stage in PREFERENCE_STAGES


def pair_samples(samples: list[dict], stage: str, *, file: str | None = None) -> list[dict]:
    """The samples that are pairs (a `rejected` reply); a stage without any is refused."""
    pairs = [s for s in samples if isinstance(s.get("rejected"), str) and s["rejected"].strip()]
    if not pairs:
        raise KnowtuneError(f"the {stage} stage trains on preference pairs and the data has none (rows with a "
                            "'rejected' reply): make them with `knowtune data pairs` or read a LLaMA-Factory "
                            "ranking set with `knowtune data build`", file=file, field="stage")
    return pairs


def encode_pairs(tokenizer, samples: list[dict], max_len: int, system_prompt: str, stage: str) -> list[dict]:
    """Each pair's token ids and labels: {"rows": [chosen, rejected(, mismatched)]}, as training renders them."""
    prompt = ChatPrompt(tokenizer, system_prompt)
    out = []
    for i, s in enumerate(samples):
        asked = s["messages"][:-1]
        rows = [prompt.encode(s["messages"], max_len),
                prompt.encode(asked + [{"role": "assistant", "content": s["rejected"]}], max_len)]
        if stage == "kto":  # the next pair's answer to this prompt: a reply that does not belong to it
            other = samples[(i + 1) % len(samples)]["messages"][-1]
            rows.append(prompt.encode(asked + [other], max_len))
        out.append({"rows": rows, "input_ids": [t for r in rows for t in r["input_ids"]]})
    return out


def collate_pairs(features: list[dict], pad_id: int, *, multiple: int = 1) -> dict:
    """Rows [all chosen, all rejected(, all mismatched)], padded; each pair's reference log-probs beside."""
    kinds = len(features[0]["rows"])
    batch = pad_batch([f["rows"][k] for k in range(kinds) for f in features], pad_id, multiple=multiple)
    batch["ref_logps"] = torch.tensor([f.get("ref", [0.0] * kinds) for f in features], dtype=torch.float32)
    return batch


def sequence_logps(model, input_ids, attention_mask, labels, *, fast: bool = True):
    """(summed log-prob of each row's labelled tokens, labelled tokens per row).

    The fast path runs the output head only at labelled positions, chunk by chunk under
    checkpointing, so [tokens x vocab] float32 logits exist for one chunk at a time.
    """
    targets = labels[:, 1:]
    mask = targets != IGNORE
    if fast:
        base = base_model(model)
        hidden = base.get_decoder()(input_ids=input_ids, attention_mask=attention_mask,
                                    use_cache=False).last_hidden_state[:, :-1][mask]
        token_logps = _head_logps(base, hidden, targets[mask])
    else:  # virtual tokens (prefix/prompt tuning) come from the wrapper's own forward
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
        logits = logits[:, -targets.shape[1] - 1:-1][mask].float()
        token_logps = logits.log_softmax(-1).gather(-1, targets[mask].unsqueeze(-1)).squeeze(-1)
    rows = mask.nonzero()[:, 0]
    sums = token_logps.new_zeros(input_ids.shape[0]).index_add(0, rows, token_logps)
    return sums, mask.sum(dim=1)


def _chunk_logps(head, hidden, targets, softcap):
    return -F.cross_entropy(capped(head(hidden).float(), softcap), targets, reduction="none")


def _head_logps(base, hidden, targets):
    head = base.get_output_embeddings()
    softcap = getattr(base.config, "final_logit_softcapping", None)
    rows = max(1, CHUNK_ELEMENTS // head.weight.shape[0])
    parts = [checkpoint(_chunk_logps, head, hidden[i:i + rows], targets[i:i + rows], softcap, use_reentrant=False)
             for i in range(0, hidden.shape[0], rows)]
    return torch.cat(parts) if parts else hidden.new_zeros(0, dtype=torch.float32)


def pair_losses(stage: str, logps, counts, ref_logps, beta: float):
    """One loss per pair from the rows' log-probs (layout of collate_pairs)."""
    n = ref_logps.shape[0]
    chosen, rejected = logps[:n], logps[n:2 * n]
    if stage == "dpo":
        return dpo_loss(chosen, rejected, ref_logps[:, 0], ref_logps[:, 1], beta)
    if stage == "orpo":
        per_token = logps[:2 * n] / counts[:2 * n].clamp(min=1)
        return orpo_loss(per_token[:n], per_token[n:], beta)
    if stage == "kto":
        kl = (logps[2 * n:] - ref_logps[:, 2]).mean()
        return kto_loss(chosen, rejected, ref_logps[:, 0], ref_logps[:, 1], kl, beta)
    raise ValueError(f"not a preference stage: {stage!r}")


class PreferenceLoss(torch.nn.Module):
    """Wraps the model so data-parallel engines see one forward that returns (loss sum, pairs)."""

    def __init__(self, model, stage: str, beta: float, *, fast: bool = True):
        super().__init__()
        self.model, self.stage, self.beta, self.fast = model, stage, beta, fast

    def forward(self, input_ids, attention_mask, labels, ref_logps):
        logps, counts = sequence_logps(self.model, input_ids, attention_mask, labels, fast=self.fast)
        if ref_logps.shape[0] == 0:  # a process's empty slice of a short last batch (train.loop)
            return logps.sum() * 0, 0
        return pair_losses(self.stage, logps, counts, ref_logps, self.beta).sum(), ref_logps.shape[0]


@torch.no_grad()
def add_reference(model, features: list[dict], pad_id: int, *, fast: bool, autocast, batch_size: int = 16) -> None:
    """Each pair's `ref`: its rows' log-probs under `model` as it is now, adapters off, dropout off."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    off = model.disable_adapter() if hasattr(model, "disable_adapter") else contextlib.nullcontext()
    collate = partial(collate_pairs, multiple=8)
    try:
        with off:
            for start in range(0, len(features), batch_size):
                chunk = features[start:start + batch_size]
                batch = {k: v.to(device) for k, v in collate(chunk, pad_id).items() if k != "ref_logps"}
                with autocast():
                    logps, _ = sequence_logps(model, **batch, fast=fast)
                per_pair = logps.float().view(len(chunk[0]["rows"]), len(chunk)).T
                for feature, values in zip(chunk, per_pair.tolist()):
                    feature["ref"] = values
    finally:
        model.train(was_training)
