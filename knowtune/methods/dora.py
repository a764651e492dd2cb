"""DoRA through peft: LoRA on the direction of each weight plus a trained per-row magnitude.

W' = m · (W + (alpha/r)·B·A) / ||W + (alpha/r)·B·A||, with the magnitude m (one value per
output row) trained alongside A and B. Same parameters as LoRA.
"""

from __future__ import annotations

from . import lora
from .contract import TinySettings
from .layers import targeted_linears, wrap_peft

NAME = "dora"
SUMMARY = "Weight-decomposed LoRA (peft DoRA): LoRA plus a trained magnitude per output row"
DEFAULT_LR = 1e-3  # the bake-off's learning rate for this method (see docs/methods.md, Bake-off)
MERGEABLE = True
SAVE_FORMAT = "peft"
FROZEN_BASE = True
TEST_SETTINGS = TinySettings(params={"r": 4, "alpha": 8}, lr=1e-2, bad_value={"dropout": 1.0})

Params = lora.Params
make_optimizer = lora.make_optimizer


def apply(model, params: Params):
    return wrap_peft(model, lora.peft_config(params, use_dora=True))


def trainable_count(model, params: Params) -> int:
    """LoRA's A and B, and one magnitude per output row of each targeted linear layer."""
    rows = sum(m.out_features for _, m in targeted_linears(model, params.target_modules))
    return lora.trainable_count(model, params) + rows
