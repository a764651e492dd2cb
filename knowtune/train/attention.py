"""Attention for training short batches on a CPU: plain matmuls, scores and softmax in float32.

torch's CPU flash-attention kernel is slow to differentiate at the lengths a knowledge base's
QA pairs have: its backward at 8 x 56 tokens costs about 3x the plain matmul-softmax-matmul.
transformers' own "eager" attention is as fast but, under bf16 autocast, rounds the scores
to bf16 before the softmax (a score of 30 moves by up to 0.0625, a probability by 6 %), where
the flash kernel keeps them in float32.

`fp32_score_attention` is the plain path without that rounding: q, k, v in float32 (the
matrices are small at these lengths), grouped-query heads handled by reshaping the queries
instead of copying keys and values per head. At 56 tokens it is about as fast as "eager" and
about 3x faster than sdpa (forward + backward), and its gradients are closer to a float64
reference than either (bench/RESULTS.md, "Measurements behind design choices"). From about
200 tokens the flash kernel is as fast and never stores the [L x L] scores.
The arithmetic is one torch op with its own backward (attention_op.py), so that a compiled
decoder layer holds no autocast switch and torch.compile can cache it.

Packed rows (data.pack_batch: the samples of a batch end to end, no padding in the linear
layers) arrive with flash-attention's varlen arguments; the samples are gathered into a
padded batch for the attention alone.

The demo's accuracy is the same within seed-to-seed spread with this attention or the flash
kernel, and its wall time lower (bench/RESULTS.md).
"""

from __future__ import annotations

import contextlib

import torch

from ..methods.layers import base_model
from .attention_op import grouped_attention

NAME = "knowtune_fp32_scores"
MAX_WIDTH = 192  # the typical sample length (tokens) up to which plain attention beats the CPU flash kernel


def fp32_score_attention(module, query, key, value, attention_mask, dropout: float = 0.0,
                         scaling: float | None = None, softcap: float | None = None, *,
                         cu_seq_lens_q: torch.Tensor | None = None, max_length_q: int | None = None,
                         sliding_window: int | None = None, shared_prefix: int = 0,
                         packing: dict | None = None, **_):
    """transformers' attention-function signature: q [b, h, t, d], k/v [b, kv, s, d] -> ([b, t, h, d], None).

    With `cu_seq_lens_q` (a packed row, data.pack_batch) each sample attends only to itself,
    and, with `shared_prefix`, to the prefix its samples share (the row's first segment).
    `packing`: the row's packing_plan, made once for all layers (loss.py passes it).
    """
    if cu_seq_lens_q is not None and query.shape[0] == 1:
        plan = packing if packing is not None else packing_plan(cu_seq_lens_q, max_length_q, int(shared_prefix))
        return _packed(module, query, key, value, plan, sliding_window,
                       dropout=dropout, scaling=scaling, softcap=softcap)
    return _dense(module, query, key, value, attention_mask, dropout, scaling, softcap)


def packing_plan(bounds: torch.Tensor, longest: int | None, prefix: int = 0) -> dict[str, torch.Tensor]:
    """Where a packed row's tokens go in the padded batch [segments, longest] attention runs on.

    The row's matmuls elsewhere run on real tokens only; for attention the segments are padded
    to the longest, which costs little at these lengths. A segment's keys are the shared
    prefix's `prefix` tokens, then its own; a segment after the first sees the whole prefix
    (its positions continue the prefix's). The prefix segment's own key columns repeat its
    prefix columns: every key it sees, it sees twice, which leaves the softmax's weights per
    key, and the output, as they were. Padded slots read a clamped position and are masked or
    never read, so their gradients are zero and the gathers' backward (index_add, which also
    sums the prefix's gradients over the segments) is exact.
    """
    starts, lengths = bounds[:-1].long(), (bounds[1:] - bounds[:-1]).long()
    longest = int(longest) if longest is not None else int(lengths.max())
    total, device = int(bounds[-1]), bounds.device
    offsets = torch.arange(longest, device=device)
    positions = torch.arange(total, device=device)
    segment = torch.searchsorted(bounds[1:].long(), positions, right=True)
    columns = torch.arange(prefix + longest, device=device)
    in_prefix = columns < prefix
    shift = ((torch.arange(len(starts), device=device) > 0).long() * prefix)[:, None]  # positions continue
    query_positions = shift + offsets
    key_positions = torch.where(in_prefix, columns, shift + columns - prefix)
    return {"queries": (starts[:, None] + offsets).clamp(max=total - 1),  # padded query slot -> packed row
            "keys": torch.where(in_prefix, columns, starts[:, None] + columns - prefix).clamp(max=total - 1),
            "home": segment * longest + positions - starts[segment],  # packed row -> its padded query slot
            "distance": query_positions[:, :, None] - key_positions[:, None, :]}  # [segments, query, key]


def _packed(module, query, key, value, plan, sliding_window, **options):
    """A packed row's segments, gathered into a padded batch (packing_plan) and back."""
    total, segments = query.shape[2], plan["queries"].shape[0]

    def gathered(x, rows):  # [1, h, t, d] -> [segments, h, width, d]
        flat = x[0].transpose(0, 1).reshape(total, -1)
        return flat.index_select(0, rows.flatten()).view(segments, -1, x.shape[1], x.shape[3]).transpose(1, 2)

    distance = plan["distance"]
    allowed = distance >= 0  # causal
    if sliding_window:
        allowed &= distance < sliding_window
    mask = torch.zeros(allowed.shape, dtype=torch.float32, device=query.device).masked_fill_(~allowed, float("-inf"))
    out, _ = _dense(module, gathered(query, plan["queries"]), gathered(key, plan["keys"]),
                    gathered(value, plan["keys"]), mask[:, None], **options)
    out = out.reshape(-1, out.shape[2] * out.shape[3]).index_select(0, plan["home"])
    return out.view(1, total, query.shape[1], -1), None


def _dense(module, query, key, value, attention_mask, dropout: float = 0.0, scaling: float | None = None,
           softcap: float | None = None):
    """q [b, h, L, d], k/v [b, kv, S, d], an additive mask [b, 1, L, S] -> ([b, L, h, d], None)."""
    batch, heads, length, dim = query.shape
    kv = key.shape[1]
    wide = torch.promote_types(query.dtype, torch.float32)  # float64 stays float64
    # queries of the heads sharing one key/value head side by side: no per-head copies of k and v
    q = query.to(wide).reshape(batch, kv, heads // kv, length, dim)
    mask = attention_mask[:, :, None, :, : key.shape[2]].to(wide) if attention_mask is not None else None
    out = grouped_attention(q, key.to(wide), value.to(wide), mask, scaling=dim ** -0.5 if scaling is None else scaling,
                            softcap=softcap, dropout=dropout, training=module.training)
    out = out.view(batch, heads, length, dim).to(value.dtype)
    return out.transpose(1, 2).contiguous(), None


def register() -> str:
    """Make NAME a valid `attn_implementation` (with the additive float mask eager uses)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, eager_mask

    AttentionInterface.register(NAME, fp32_score_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, eager_mask)
    return NAME


def attention_for(lengths: list[int], device: torch.device) -> str | None:
    """The attention implementation to train with, or None to keep the model's own."""
    if device.type != "cpu" or not lengths:
        return None
    typical = sorted(lengths)[len(lengths) // 2]
    return register() if typical <= MAX_WIDTH else None


@contextlib.contextmanager
def training_attention(model, implementation: str | None):
    """Train with `implementation`, then hand the model back with the attention it came with."""
    base = base_model(model)
    before = getattr(base.config, "_attn_implementation", None)
    if implementation is None or before == implementation or not hasattr(base, "set_attn_implementation"):
        yield
        return
    base.set_attn_implementation(implementation)
    try:
        yield
    finally:
        base.set_attn_implementation(before)
