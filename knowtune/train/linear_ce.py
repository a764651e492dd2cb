"""Cross-entropy through the output head, computed vocabulary chunk by vocabulary chunk.

With Gemma-3's 262k vocabulary the [tokens x vocab] logits are the largest arrays of a
step: 128 answer tokens make 134 MB in float32, and cross_entropy walks such arrays six
times (cast, log-softmax, its backward, a zero-filled gradient, the cast back). On a CPU
those passes are bound by memory bandwidth: they took two thirds of the head's time.

Here each chunk of a few thousand vocabulary columns is multiplied, reduced into a running
log-sum-exp and dropped while it is still in cache; the backward forms softmax - one-hot
chunk by chunk the same way and multiplies it straight into the hidden states' gradient.
The logits are kept for the backward in the compute dtype (bf16: half of float32) when
they are small enough, else recomputed, so memory stays bounded for any number of tokens.
(Sized for a CPU; on a GPU these chunks are small and the kernels many, but the head at
answer positions is a small part of a step there.)
GPU kernels that fuse the same idea (Liger, Cut Cross-Entropy) are Triton-only.
"""

from __future__ import annotations

import torch

KEEP_ELEMENTS = 64 * 1024 * 1024  # logits kept between forward and backward, at most (128 MB in bf16)
# tokens x vocabulary columns per chunk: 2 MB in float32, within a core's L2 cache. Measured on
# Gemma-3's head (bf16 autocast, fwd+bwd, 2 threads), 128 / 256 answer tokens: 8 MB chunks
# 265 / 561 ms, 2 MB 199 / 376 ms, 1 MB 258 / 432 ms (smaller chunks pay per-chunk overhead).
CHUNK_ELEMENTS = 512 * 1024


def compute_dtype(tensor: torch.Tensor) -> torch.dtype:
    device = tensor.device.type
    return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else tensor.dtype


class _ChunkedLinearCrossEntropy(torch.autograd.Function):
    """Each pass over a chunk costs memory bandwidth, so the casts ride along with arithmetic.

    The kept logits are the matmul outputs themselves (one tensor per chunk, no copy); the
    float32 upcast happens inside the subtraction (type promotion), the downcast of the
    gradient inside its scaling (`out=` a tensor of the compute dtype).
    """

    @staticmethod
    def forward(ctx, hidden, weight, targets, ignore_index, softcap, weights=None):
        dtype = compute_dtype(hidden)
        acc = torch.promote_types(dtype, torch.float32)  # softmax sums in float32 at least
        n, vocab = hidden.shape[0], weight.shape[0]
        width = max(1, min(vocab, CHUNK_ELEMENTS // max(n, 1)))
        keep = [] if n * vocab <= KEEP_ELEMENTS else None
        targets, weights = _as_weighted(targets, weights)
        valid = targets[:, 0] != ignore_index
        safe = torch.where(valid[:, None], targets, 0)
        h = hidden.to(dtype)
        running_max = hidden.new_full((n,), float("-inf"), dtype=acc)
        running_sum = hidden.new_zeros((n,), dtype=acc)
        picked = hidden.new_zeros((n,), dtype=acc)
        for start in range(0, vocab, width):
            raw = h @ weight[start:start + width].to(dtype).t()
            if keep is not None:
                keep.append(raw)
            logits = capped(raw.to(acc), softcap) if softcap else raw
            picked += _at_targets(logits, safe, weights, start).to(acc)
            new_max = torch.maximum(running_max, logits.amax(dim=1).to(acc))
            running_sum = running_sum * torch.exp(running_max - new_max) + \
                torch.sub(logits, new_max[:, None]).exp_().sum(dim=1)
            running_max = new_max
        lse = running_max + torch.log(running_sum)
        ctx.save_for_backward(hidden, weight, lse, safe, weights, valid, *(keep or []))
        ctx.dtype, ctx.acc, ctx.width, ctx.softcap = dtype, acc, width, softcap
        return ((lse - picked) * valid).sum()

    @staticmethod
    def backward(ctx, grad_out):
        hidden, weight, lse, safe, weights, valid, *kept = ctx.saved_tensors
        dtype, acc, width, softcap = ctx.dtype, ctx.acc, ctx.width, ctx.softcap
        h = hidden.to(dtype)
        scale = (valid * grad_out).to(acc)[:, None]
        grad_hidden = torch.zeros(hidden.shape, dtype=acc, device=hidden.device)
        grad_weight = torch.zeros_like(weight) if ctx.needs_input_grad[1] else None
        for index, start in enumerate(range(0, weight.shape[0], width)):
            w = weight[start:start + width].to(dtype)
            raw = kept[index] if kept else h @ w.t()
            tanh = torch.tanh(raw.to(acc) / softcap) if softcap else None
            logits = tanh * softcap if softcap else raw
            grad = torch.sub(logits, lse[:, None]).exp_()  # softmax in float32 (promoted), in place
            grad.scatter_add_(1, *_one_hot_at(safe, weights, start, grad))  # minus the target distribution
            if softcap:
                grad.mul_(1 - tanh * tanh)
            grad = torch.mul(grad, scale, out=torch.empty(grad.shape, dtype=dtype, device=grad.device))
            grad_hidden += grad @ w
            if grad_weight is not None:
                grad_weight[start:start + width] = (grad.t() @ h).to(weight.dtype)
        return grad_hidden.to(hidden.dtype), grad_weight, None, None, None, None


def capped(logits: torch.Tensor, softcap: float | None) -> torch.Tensor:
    """Logits through a model's final soft cap (Gemma: softcap * tanh(logits / softcap)); as they are without one."""
    return torch.tanh(logits / softcap) * softcap if softcap else logits


def _as_weighted(targets: torch.Tensor, weights: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets as [rows, k] token ids with [rows, k] weights: a hard target is one id of weight 1."""
    if targets.dim() == 1:
        return targets[:, None], torch.ones(targets.shape[0], 1, dtype=torch.float32, device=targets.device)
    return targets, weights.to(torch.promote_types(weights.dtype, torch.float32))


def _in_chunk(safe: torch.Tensor, start: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(whether each row's targets fall in this chunk, their columns there, clamped into range)."""
    inside = (safe >= start) & (safe < start + width)
    return inside, (safe - start).clamp(0, width - 1)


def _one_hot_at(safe: torch.Tensor, weights: torch.Tensor, start: int,
                grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(columns, values) for scatter_add_: minus each target's weight where it falls in this chunk.

    A scatter rather than indexing with a mask: the mask's nonzero() would make a GPU wait
    for the host once per chunk.
    """
    inside, column = _in_chunk(safe, start, grad.shape[1])
    return column, -(inside * weights).to(grad.dtype)


def _at_targets(logits: torch.Tensor, safe: torch.Tensor, weights: torch.Tensor, start: int) -> torch.Tensor:
    """Each row's weighted sum of its targets' logits that fall in this chunk (0 where none does)."""
    inside, column = _in_chunk(safe, start, logits.shape[1])
    return (torch.where(inside, logits.gather(1, column), 0.0) * weights).sum(dim=1)


def linear_cross_entropy_sum(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, *,
                             ignore_index: int = -100, softcap: float | None = None,
                             weights: torch.Tensor | None = None) -> torch.Tensor:
    """sum over rows of cross_entropy(softcap(hidden @ weight.T), targets), rows with ignore_index left out.

    `targets` [rows] are hard labels; [rows, k] with `weights` [rows, k] (each valid row summing
    to 1) a distribution over k tokens per row (the loss is then cross-entropy to it: log-sum-exp
    minus the weighted target logits; its gradient softmax minus the weights). A row whose first
    target is ignore_index is left out.
    """
    return _ChunkedLinearCrossEntropy.apply(hidden, weight, targets, ignore_index, softcap, weights)
