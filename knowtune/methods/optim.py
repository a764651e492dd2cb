"""The AdamW every method's trainable weights use unless the method brings its own optimizer."""

from __future__ import annotations

import os


def adamw(params, *, lr: float, weight_decay: float):
    """torch's AdamW, fused into one kernel per step where it can be.

    The default (foreach) update loops over the tensors: with LoRA's hundreds of small
    matrices it was a seventh of a SmolLM2 step on a CPU; fused, that share all but goes.
    Under FSDP the weights become sharded tensors the fused kernel does not take.
    """
    import torch

    sharded = os.environ.get("ACCELERATE_USE_FSDP", "false").lower() in ("1", "true")
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=not sharded)
