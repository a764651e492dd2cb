"""BAdam (badam's BlockOptimizer): block-coordinate Adam over the decoder layers.

One decoder layer (a block) trains at a time, with Adam, for `switch_every` steps; then
the next block takes over and the Adam state starts afresh. Only the active block has
gradients and optimizer state, so memory is close to inference while, over the run, every
layer is fine-tuned in full. Embeddings, final norm and output head stay frozen. Saved as
the trained layers' tensors; the result is a plain model.
"""

from __future__ import annotations

import contextlib
import functools
import io
import warnings
from dataclasses import dataclass
from typing import Literal

from .contract import StateBytes, TinySettings
from .layers import decoder_layers, freeze_all, require

NAME = "badam"
SUMMARY = "BAdam: block-coordinate Adam, one decoder layer at a time (badam)"
DEFAULT_LR = 1e-3  # the bake-off's learning rate for this method (see docs/methods.md, Bake-off)
MERGEABLE = True  # the trained model is already a plain model
SAVE_FORMAT = "weights"
TEST_SETTINGS = TinySettings(params={"switch_every": 5}, lr=1e-2, bad_value={"switch_every": 0})


@dataclass
class Params:
    switch_every: int = 10
    """Optimizer steps before moving to the next block (layer); short CPU runs need small values to
    visit every layer."""
    switch_mode: Literal["ascending", "descending", "random", "fixed"] = "ascending"
    """Order of the blocks: first to last layer, last to first, a random order per round, or only the first block."""

    def validate(self) -> None:
        if self.switch_every <= 0:
            raise ValueError(f"switch_every: must be > 0, got {self.switch_every}")


def apply(model, params: Params):
    """Every decoder layer is marked trainable: that is what the run trains, block by block."""
    _, layers = decoder_layers(model)
    freeze_all(model)
    for layer in layers:
        for p in layer.parameters():
            p.requires_grad_(True)
    return model


def trainable_count(model, params: Params) -> int:
    """Every parameter of the decoder layers (over the run; one layer at a time)."""
    prefix = decoder_layers(model)[0] + "."
    return sum(p.numel() for n, p in model.named_parameters() if n.startswith(prefix))


def estimate_state(model, params: Params, trainable_bytes: int) -> StateBytes:
    """Only the block BAdam starts with (first layer; last for descending order) has gradients and
    AdamW moments, as in its BlockOptimizer: that block is left trainable, the others frozen."""
    _, layers = decoder_layers(model)
    active = layers[-1] if params.switch_mode == "descending" else layers[0]
    freeze_all(model)
    for p in active.parameters():
        p.requires_grad_(True)
    size = sum(p.numel() for p in active.parameters())
    return StateBytes(notes=[f"BAdam: gradients and AdamW moments for the active block only ({size:,d} parameters)"])


def block_prefixes(model) -> list[list[str]]:
    name, layers = decoder_layers(model)
    return [[f"{name}.{i}."] for i in range(len(layers))]


def make_optimizer(model, params: Params, lr: float, weight_decay: float):
    import torch

    badam = require("badam", NAME)
    base = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr,
                             weight_decay=weight_decay)
    with warnings.catch_warnings(), _quiet():
        # BAdam expects bf16 weights with fp32 copies of the active block; on CPU we keep fp32
        # weights on purpose (fast and exact), at the cost of one fp32 copy of one layer
        warnings.filterwarnings("ignore", message="BAdam expect model to be loaded in fp16/bf16")
        return _QuietBlockOptimizer(badam.BlockOptimizer)(
            base, list(model.named_parameters()), block_prefix_list=block_prefixes(model),
            switch_block_every=params.switch_every, switch_mode=params.switch_mode, verbose=0)


def _quiet():
    """BAdam prints every block switch to stdout whatever its verbosity."""
    return contextlib.redirect_stdout(io.StringIO())


@functools.lru_cache(maxsize=None)
def _QuietBlockOptimizer(block_optimizer: type) -> type:
    class QuietBlockOptimizer(block_optimizer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            # the parent binds state_dict to its inner Adam's (for the HF Trainer): a checkpoint
            # would then lack the block position and a resumed run would restart on the first block
            self.state_dict = self._state_with_block

        def switch_trainable_params(self, verbose=None):
            with _quiet():
                super().switch_trainable_params(verbose=0)

        def _state_with_block(self) -> dict:
            own = len(self.active_param_prefixs) - len(self.active_modules)  # the block's prefixes come first
            block = {"active": self.block_prefix_list.index(self.active_param_prefixs[:own]),
                     "next": self.current_block_idx, "global_step": self.global_step,
                     "order": list(getattr(self, "block_order", [])),
                     "lr": [group["lr"] for group in self.param_groups]}  # the scheduler sets these
            return {"base": self.base_optimizer.state_dict(), "block": block}

        def load_state_dict(self, state: dict) -> None:
            """Back to the saved block (its fp32 copies made from the restored weights), then its Adam state."""
            block = state["block"]
            self.current_block_idx = block["active"]
            self.switch_trainable_params()  # sets up the active block, then moves the index on
            self.current_block_idx, self.global_step = block["next"], block["global_step"]
            if self.switch_mode == "random":
                self.block_order = list(block["order"])
            for group, lr in zip(self.param_groups, block["lr"]):
                group["lr"] = lr
            self.base_optimizer.load_state_dict(state["base"])

    return QuietBlockOptimizer
