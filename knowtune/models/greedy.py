"""Greedy decoding of a batch in which finished rows leave.

transformers' generate keeps a finished row in the batch, fed pad tokens, until the batch's
longest reply ends: a batch of short answers with one long one pays the long one's steps for
every row. Here a row that reaches a stop token leaves the batch and the KV cache
(`Cache.batch_select_indices`), so each step computes only the rows still answering. The
arithmetic per row is generate's own (the same positions from the left-padded mask, the same
cache), so the replies are generate's greedy replies; tests/test_greedy.py holds them equal.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass


@dataclass
class Decoded:
    """One row's generated token ids (its stop token included when it stopped) and the mean
    log-probability of those tokens as chosen."""

    tokens: list[int]
    mean_logprob: float


def _positions(mask):
    """generate's position ids for a left-padded batch: counted over real tokens, 1 on pads."""
    return (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 1)


def shared_prefix(input_ids, attention_mask) -> int:
    """How many first tokens every row's prompt shares (the chat template's start and the system
    prompt), leaving each row at least one token of its own."""
    lengths = attention_mask.sum(-1)
    first = input_ids[0, -int(lengths[0]):]
    shortest = int(lengths.min())
    same = None
    for row, length in zip(input_ids, lengths.tolist()):
        agree = (row[-length:][:shortest - 1] == first[:shortest - 1]).long()
        same = agree if same is None else same & agree
    return int(same.cumprod(0).sum()) if same is not None and same.numel() else 0


def _prefill(model, input_ids, attention_mask):
    """The prompts' forward pass (cache filled, last position's logits) and the attention mask that goes
    on. The prefix all rows share is computed once, for one row, and its cache repeated for the batch:
    with a short question after the template and system prompt, that is about half of every prompt.
    The rows' own tokens follow it, left-padded: [shared | pads | own], positions counted over real
    tokens as before, so each row computes what it computed alone."""
    import torch

    rows = input_ids.shape[0]
    common = shared_prefix(input_ids, attention_mask) if rows > 1 else 0
    if common < 2:
        return model(input_ids=input_ids, attention_mask=attention_mask, position_ids=_positions(attention_mask),
                     use_cache=True, logits_to_keep=1), attention_mask
    lengths = attention_mask.sum(-1)
    prefix = input_ids[0, -int(lengths[0]):][:common]
    shared = model(input_ids=prefix[None], attention_mask=torch.ones_like(prefix)[None], use_cache=True,
                   logits_to_keep=1).past_key_values
    shared.batch_repeat_interleave(rows)
    own = input_ids.shape[1] - common - int((attention_mask.shape[1] - lengths).min())
    own_ids = input_ids[:, -own:]
    own_mask = (torch.arange(own, device=input_ids.device)[None] >= (own - (lengths - common))[:, None]).long()
    mask = torch.cat([attention_mask.new_ones(rows, common), own_mask.to(attention_mask.dtype)], dim=1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*past_key_values.*", category=FutureWarning)
        out = model(input_ids=own_ids, attention_mask=mask, position_ids=_positions(mask)[:, common:],
                    past_key_values=shared, use_cache=True, logits_to_keep=1)
    return out, mask


def greedy_decode(model, input_ids, attention_mask, *, max_new_tokens: int, stops: list[int]) -> list[Decoded]:
    """The greedy continuation of each (left-padded) row, run inside the caller's no-grad context."""
    import torch

    stop_ids = torch.tensor(stops, device=input_ids.device)
    out, mask = _prefill(model, input_ids, attention_mask)
    cache = out.past_key_values
    rows = torch.arange(input_ids.shape[0], device=input_ids.device)
    tokens: list[list[int]] = [[] for _ in range(input_ids.shape[0])]
    logprob_sums = [0.0] * input_ids.shape[0]
    logits = out.logits[:, -1].float()
    for step in range(max_new_tokens):
        chosen = logits.argmax(-1)
        logprobs = (logits.max(-1).values - torch.logsumexp(logits, dim=-1)).tolist()
        for row, token, logprob in zip(rows.tolist(), chosen.tolist(), logprobs):
            tokens[row].append(token)
            logprob_sums[row] += logprob
        if step == max_new_tokens - 1:
            break
        going = ~torch.isin(chosen, stop_ids)
        if not going.all():
            if not going.any():
                break
            keep = going.nonzero().squeeze(1)
            cache.batch_select_indices(keep)
            rows, chosen, mask = rows[keep], chosen[keep], mask[keep]
        mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)
        with warnings.catch_warnings():  # `past_key_values` works on every transformers the project allows;
            warnings.filterwarnings("ignore", message=".*past_key_values.*", category=FutureWarning)  # `cache` not yet
            out = model(input_ids=chosen[:, None], attention_mask=mask, position_ids=_positions(mask)[:, -1:],
                        past_key_values=cache, use_cache=True)
        logits = out.logits[:, -1].float()
    return [Decoded(t, s / max(len(t), 1)) for t, s in zip(tokens, logprob_sums)]
