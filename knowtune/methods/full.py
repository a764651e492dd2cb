"""Full fine-tuning: every weight of the model trains (AdamW over all of them).

The most capable and the most expensive: AdamW keeps two fp32 moments per weight, so
optimizer state alone is twice the model. Saved as the whole set of trained tensors.
"""

from __future__ import annotations

from dataclasses import dataclass

from .contract import TinySettings

NAME = "full"
SUMMARY = "Full fine-tuning: every weight trains"
DEFAULT_LR = 5e-4  # the bake-off's learning rate for this method (see docs/methods.md, Bake-off)
MERGEABLE = True  # the trained model is already a plain model
SAVE_FORMAT = "weights"
TEST_SETTINGS = TinySettings(params={}, lr=1e-2)


@dataclass
class Params:
    """Full fine-tuning has no parameters of its own (learning rate etc. are in the training config)."""

    def validate(self) -> None:
        pass


def apply(model, params: Params):
    for p in model.parameters():
        p.requires_grad_(True)
    return model


def trainable_count(model, params: Params) -> int:
    """Every parameter (a tensor two modules share counted once)."""
    return sum(p.numel() for p in model.parameters())
