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
from typing import Callable


@dataclass
class Decoded:
    """One row's generated token ids (its stop token included when it stopped) and the mean
    log-probability of those tokens as chosen."""

    tokens: list[int]
    mean_logprob: float


def _positions(mask):
    """generate's position ids for a left-padded batch: counted over real tokens, 1 on pads."""
    return (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 1)


def chosen_logprobs(logits):
    """Each row's log-probability of the token greedy decoding takes (its largest logit), in float32."""
    import torch

    logits = logits.float()
    return logits.max(-1).values - torch.logsumexp(logits, dim=-1)


def greedy_decode(model, input_ids, attention_mask, *, max_new_tokens: int, stops: list[int],
                  ended: Callable[[int, list[int]], bool] | None = None) -> list[Decoded]:
    """The greedy continuation of each (left-padded) row, run inside the caller's no-grad context.

    ended(row, tokens): whether a row's reply so far has reached a stop the tokens cannot show alone
    (stop text, models.turn_stops); such a row leaves as one that chose a stop token does."""
    import torch

    stop_ids = torch.tensor(stops, device=input_ids.device)
    out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=_positions(attention_mask),
                use_cache=True, logits_to_keep=1)
    cache, mask = out.past_key_values, attention_mask
    rows = torch.arange(input_ids.shape[0], device=input_ids.device)
    tokens: list[list[int]] = [[] for _ in range(input_ids.shape[0])]
    logprob_sums = [0.0] * input_ids.shape[0]
    logits = out.logits[:, -1].float()
    for step in range(max_new_tokens):
        chosen = logits.argmax(-1)
        logprobs = chosen_logprobs(logits).tolist()
        for row, token, logprob in zip(rows.tolist(), chosen.tolist(), logprobs):
            tokens[row].append(token)
            logprob_sums[row] += logprob
        if step == max_new_tokens - 1:
            break
        going = ~torch.isin(chosen, stop_ids)
        if ended is not None:
            going &= torch.tensor([not ended(row, tokens[row]) for row in rows.tolist()], device=going.device)
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
