"""Prefix tuning through peft: trained key/value vectors prepended to every attention layer.

The model attends to `num_virtual_tokens` learned positions in each layer as if they were
an earlier context. Nothing changes in the weights, so it cannot be merged: it is served
with its adapter. With prefix_projection the prefixes come out of a small trained MLP
(more stable training; the saved adapter holds its output only).
"""

from __future__ import annotations

from dataclasses import dataclass

from .contract import TinySettings

NAME = "prefix"
SUMMARY = "Prefix tuning: trained key/value prefixes in every attention layer (peft)"
DEFAULT_LR = 1e-2  # the bake-off's learning rate for this method (see docs/methods.md, Bake-off)
MERGEABLE = False
SAVE_FORMAT = "peft"
FROZEN_BASE = True
USES_MODEL_FORWARD = True  # the prefixes enter through past_key_values in peft's forward
TEST_SETTINGS = TinySettings(params={"num_virtual_tokens": 4}, lr=1e-1, bad_value={"num_virtual_tokens": 0})


@dataclass
class Params:
    num_virtual_tokens: int = 20
    """Number of prefix positions per layer."""
    prefix_projection: bool = False
    """Produce the prefixes with a two-layer MLP (reparameterisation) instead of training them directly."""
    encoder_hidden_size: int = 512
    """Hidden width of that MLP (only with prefix_projection)."""

    def validate(self) -> None:
        if self.num_virtual_tokens <= 0:
            raise ValueError(f"num_virtual_tokens: must be > 0, got {self.num_virtual_tokens}")
        if self.encoder_hidden_size <= 0:
            raise ValueError(f"encoder_hidden_size: must be > 0, got {self.encoder_hidden_size}")


def apply(model, params: Params):
    from peft import PrefixTuningConfig, TaskType, get_peft_model

    config = PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=params.num_virtual_tokens,
                                prefix_projection=params.prefix_projection,
                                encoder_hidden_size=params.encoder_hidden_size)
    return get_peft_model(model, config)


def trainable_count(model, params: Params) -> int:
    """A key and a value vector per virtual token and layer, trained directly; with
    prefix_projection the MLP's input embeddings and its two layers (weights and biases) instead."""
    config = model.config
    width, out = _kv_width(config), config.num_hidden_layers * 2 * _kv_width(config)
    if not params.prefix_projection:
        return params.num_virtual_tokens * out
    hidden = params.encoder_hidden_size
    return params.num_virtual_tokens * width + (width * hidden + hidden) + (hidden * out + out)


def _kv_width(config) -> int:
    """Width of one layer's keys (or values): the key/value heads times the head size."""
    head = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return config.num_key_value_heads * head
