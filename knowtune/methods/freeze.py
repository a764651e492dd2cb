"""Partial ("freeze") fine-tuning: only the last N decoder layers, plus any named modules, train.

The first layers hold general features that rarely need to change for new facts; the
last layers and the output head are where a model's answers are shaped. Saved as the
trained tensors only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..config import KnowtuneError
from .contract import TinySettings
from .layers import decoder_layers, freeze_all, modules_named

NAME = "freeze"
SUMMARY = "Train only the last N decoder layers (and named modules); freeze the rest"
DEFAULT_LR = 1e-3  # the bake-off's learning rate for this method (see docs/methods.md, Bake-off)
MERGEABLE = True  # the trained model is already a plain model
SAVE_FORMAT = "weights"
TEST_SETTINGS = TinySettings(params={"layers": 1, "extra_modules": ["norm"]}, lr=1e-2, bad_value={"layers": -1})


@dataclass
class Params:
    layers: int | None = None
    """How many of the last decoder layers train; empty: the last quarter (8 of SmolLM2's 30, which learned the
    Hainan facts where 2 did not); 0: none, only extra_modules."""
    extra_modules: list[str] = field(default_factory=list)
    """Other modules that train too, by name: e.g. norm (the final norm), lm_head, embed_tokens
    (a model with tied embeddings has one tensor for lm_head and embed_tokens)."""

    def validate(self) -> None:
        if self.layers is not None and self.layers < 0:
            raise ValueError(f"layers: must be >= 0, got {self.layers}")
        if self.layers == 0 and not self.extra_modules:
            raise ValueError("layers: 0 layers and no extra_modules would train nothing")


def apply(model, params: Params):
    _, layers = decoder_layers(model)
    count = params.layers if params.layers is not None else math.ceil(len(layers) / 4)
    if count > len(layers):
        raise KnowtuneError(f"the model has {len(layers)} decoder layers, cannot train the last {count}",
                            field="params.layers")
    freeze_all(model)
    chosen = layers[len(layers) - count:] if count else []
    chosen += [m for _, m in modules_named(model, params.extra_modules, field="params.extra_modules")]
    for module in chosen:
        for p in module.parameters():
            p.requires_grad_(True)
    return model


def trainable_count(model, params: Params) -> int:
    """The parameters of the last N decoder layers and of the extra modules, by parameter name."""
    prefix, layers = decoder_layers(model)
    count = params.layers if params.layers is not None else math.ceil(len(layers) / 4)
    last = tuple(f"{prefix}.{i}." for i in range(len(layers) - count, len(layers)))
    # a module named `wanted`, or ending with `.wanted`, holds the parameter: its name has `.wanted.` inside
    return sum(p.numel() for n, p in model.named_parameters()
               if n.startswith(last) or any(f".{wanted}." in f".{n}" for wanted in params.extra_modules))
