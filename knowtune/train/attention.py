"""Attention for training short batches on a CPU: plain matmuls, scores and softmax in float32.

torch's CPU flash-attention kernel is slow to differentiate at the lengths a knowledge base's
QA pairs have: its backward at 8 x 56 tokens costs about 3x the plain matmul-softmax-matmul.
transformers' own "eager" attention is as fast but, under bf16 autocast, rounds the scores
to bf16 before the softmax (a score of 30 moves by up to 0.0625, a probability by 6 %), where
the flash kernel keeps them in float32.

`fp32_score_attention` is the plain path without that rounding: q, k, v in float32 (the
matrices are small at these lengths), grouped-query heads handled by reshaping the queries
instead of copying keys and values per head. Measured on this VM (forward + backward, one
layer): 8 x 9 heads x 56 x 64, sdpa 9.7 ms, eager 2.8 ms, this 2.9 ms; its gradients are closer
to a float64 reference than either (relative error 3.7e-3 vs 6.8e-3 sdpa, 5.3e-3 eager).
From about 200 tokens the flash kernel is as fast and never stores the [L x L] scores.

The English demo, three seeds each (held-out accuracy / general-knowledge probe / wall):
flash kernel 92.7 / 54.8 / 399 s (an earlier, slower hour), 88.7 / 57.1 / 345 s, 95.4 / 54.8 / 381 s; this attention
90.7 / 45.2 / 285 s, 92.1 / 54.8 / 285 s, 92.1 / 57.1 / 316 s. A single run of transformers'
bf16-score "eager" gave 90.7 / 40.5: seed-to-seed spread is as large as that gap.
"""

from __future__ import annotations

import contextlib

import torch

from ..methods.layers import base_model

NAME = "knowtune_fp32_scores"
MAX_WIDTH = 192  # the batch width (tokens) up to which plain attention beats the CPU flash kernel


def fp32_score_attention(module, query, key, value, attention_mask, dropout: float = 0.0,
                         scaling: float | None = None, softcap: float | None = None, **_):
    """transformers' attention-function signature: q [b, h, t, d], k/v [b, kv, s, d] -> ([b, t, h, d], None)."""
    batch, heads, length, dim = query.shape
    groups = heads // key.shape[1]
    scaling = dim ** -0.5 if scaling is None else scaling
    wide = torch.promote_types(query.dtype, torch.float32)  # float64 stays float64
    with torch.autocast(query.device.type, enabled=False):
        # queries of the heads sharing one key/value head become one longer query block
        q = query.to(wide).reshape(batch, key.shape[1], groups * length, dim)
        scores = torch.matmul(q, key.to(wide).transpose(2, 3)) * scaling
        scores = scores.view(batch, key.shape[1], groups, length, -1)
        if softcap is not None:
            scores = torch.tanh(scores / softcap) * softcap
        if attention_mask is not None:
            scores = scores + attention_mask[:, :, None, :, : scores.shape[-1]].to(wide)
        probs = torch.softmax(scores, dim=-1)
        probs = torch.nn.functional.dropout(probs, p=dropout, training=module.training)
        out = torch.matmul(probs.view(batch, key.shape[1], groups * length, -1), value.to(wide))
    out = out.view(batch, heads, length, dim).to(value.dtype)
    return out.transpose(1, 2).contiguous(), None


def register() -> str:
    """Make NAME a valid `attn_implementation` (with the additive float mask eager uses)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, eager_mask

    AttentionInterface.register(NAME, fp32_score_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, eager_mask)
    return NAME


def attention_for(widths: list[int], device: torch.device) -> str | None:
    """The attention implementation to train with, or None to keep the model's own."""
    if device.type != "cpu" or not widths:
        return None
    typical = sorted(widths)[len(widths) // 2]
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
