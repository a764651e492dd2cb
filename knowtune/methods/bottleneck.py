"""The bottleneck adapter module of the `adapter` method (kept apart so listing methods needs no torch)."""

from __future__ import annotations

import torch
from torch import nn


class BottleneckAdapter(nn.Module):
    def __init__(self, hidden: int, bottleneck: int, activation: str, dropout: float, device):
        from transformers.activations import ACT2FN

        super().__init__()
        # fp32 whatever the base dtype: these are the weights the optimizer updates
        self.down = nn.Linear(hidden, bottleneck, device=device, dtype=torch.float32)
        self.act = ACT2FN[activation]
        self.drop = nn.Dropout(dropout)
        self.up = nn.Linear(bottleneck, hidden, device=device, dtype=torch.float32)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        delta = self.up(self.drop(self.act(self.down(hidden.to(self.down.weight.dtype)))))
        return hidden + delta.to(hidden.dtype)

    def after(self, _module, _args, output):
        """Forward hook: adapt the module's output (attention returns a tuple, output first).

        A bound method, so deep-copying the model keeps each hook tied to its own copy.
        """
        if isinstance(output, tuple):
            return (self(output[0]), *output[1:])
        return self(output)
