"""Grouped-query attention with float32 scores as one opaque torch op, with its own backward.

Why an op rather than plain torch code: under bf16 autocast the scores must be computed
with autocast switched off, and a `torch.autocast(enabled=False)` block inside a compiled
decoder layer makes torch.compile bypass its AOTAutograd cache (it cannot cache graphs
that enter autocast), so every new process re-traced the forward and backward graphs of a
layer. As an op registered for autocast with float32 inputs, the graph only calls it.

Shapes: queries [b, kv, g, L, d] (the g query heads that share a key/value head side by side),
keys and values [b, kv, S, d], an additive mask broadcastable to [b, 1, 1, L, S], an optional
dropout multiplier of the probabilities' shape. Returns [b, kv, g, L, d].
"""

from __future__ import annotations

import torch


def _scores(q, k, scaling: float, softcap: float):
    b, kv, g, length, d = q.shape
    raw = torch.matmul(q.reshape(b, kv, g * length, d), k.transpose(-1, -2)) * scaling
    raw = raw.view(b, kv, g, length, -1)
    return torch.tanh(raw / softcap) * softcap if softcap else raw


def _forward(q, k, v, mask, keep, scaling, softcap):
    b, kv, g, length, d = q.shape
    scores = _scores(q, k, scaling, softcap)
    probs = torch.softmax(scores + mask if mask is not None else scores, dim=-1)
    used = probs * keep if keep is not None else probs
    out = torch.matmul(used.view(b, kv, g * length, -1), v).view(b, kv, g, length, d)
    return out, probs, (scores if softcap else scores.new_empty(0))


@torch.library.custom_op("knowtune::grouped_attention", mutates_args=())
def grouped_attention_op(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None,
                         keep: torch.Tensor | None, scaling: float,
                         softcap: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    out, probs, capped = _forward(q, k, v, mask, keep, scaling, softcap)
    return out, probs, capped


@grouped_attention_op.register_fake
def _(q, k, v, mask, keep, scaling, softcap):
    b, kv, g, length, _ = q.shape
    probs = q.new_empty(b, kv, g, length, k.shape[2])
    return q.new_empty(q.shape), probs, (q.new_empty(probs.shape) if softcap else q.new_empty(0))


def _setup(ctx, inputs, output):
    q, k, v, _, keep, scaling, softcap = inputs
    _, probs, capped = output
    ctx.save_for_backward(q, k, v, keep, probs, capped)
    ctx.scaling, ctx.softcap = scaling, softcap


def _backward(ctx, grad_out, _grad_probs, _grad_capped):
    q, k, v, keep, probs, capped = ctx.saved_tensors
    b, kv, g, length, d = q.shape
    flat = (b, kv, g * length, -1)
    used = probs * keep if keep is not None else probs
    grad_out = grad_out.reshape(flat)
    grad_v = torch.matmul(used.reshape(flat).transpose(-1, -2), grad_out)
    grad_probs = torch.matmul(grad_out, v.transpose(-1, -2)).view(probs.shape)
    if keep is not None:
        grad_probs = grad_probs * keep
    grad_scores = torch._softmax_backward_data(grad_probs, probs, -1, probs.dtype)  # one fused pass
    if ctx.softcap:
        grad_scores = grad_scores * (1 - (capped / ctx.softcap) ** 2)  # tanh's derivative
    grad_scores = (grad_scores * ctx.scaling).reshape(flat)
    grad_q = torch.matmul(grad_scores, k).view(q.shape)
    grad_k = torch.matmul(grad_scores.transpose(-1, -2), q.reshape(flat))
    return grad_q, grad_k, grad_v, None, None, None, None


grouped_attention_op.register_autograd(_backward, setup_context=_setup)
# under autocast the op gets float32 inputs and runs with autocast off: scores never round to bf16
torch.library.register_autocast(grouped_attention_op, "cpu", torch.float32)
torch.library.register_autocast(grouped_attention_op, "cuda", torch.float32)


def grouped_attention(q, k, v, mask=None, *, scaling: float, softcap: float | None = None,
                      dropout: float = 0.0, training: bool = False) -> torch.Tensor:
    """softmax(softcap(q kᵀ · scaling) + mask) v per key/value group, dropout on the probabilities."""
    keep = None
    if dropout and training:
        b, kv, g, length, _ = q.shape
        keep = torch.nn.functional.dropout(q.new_ones(b, kv, g, length, k.shape[2]), p=dropout)
    return grouped_attention_op(q, k, v, mask, keep, float(scaling), float(softcap or 0.0))[0]
