"""Bottleneck adapters (Houlsby et al., 2019): a small residual MLP after the attention and
after the feed-forward block of every decoder layer.

    h -> h + up(dropout(act(down(h))))      down: hidden -> bottleneck, up: bottleneck -> hidden

`up` starts at zero, so an untrained adapter is exactly the identity and training starts
from the base model. peft has no such tuner (and AdapterHub does not support transformers
5), so this is ours: each adapter is a child module of its decoder layer (it shows up in
named_parameters and state_dict) and runs from a forward hook on the layer's `self_attn` /
`mlp`, leaving the base modules and their weight names untouched. Saved as the adapter
tensors; loading re-applies the method and loads them. Not mergeable: the activation makes
the adapter nonlinear, so it cannot be folded into a weight matrix.

Trainable parameters per decoder layer: 2 × (2·hidden·bottleneck + bottleneck + hidden).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..config import KnowtuneError
from .contract import TinySettings
from .layers import base_model, decoder_layers, freeze_all

NAME = "adapter"
SUMMARY = "Bottleneck (Houlsby) adapters after attention and feed-forward of every layer"
DEFAULT_LR = 1e-3  # the bake-off's learning rate for this method (see docs/methods.md, Bake-off)
MERGEABLE = False
SAVE_FORMAT = "weights"
FROZEN_BASE = True
TEST_SETTINGS = TinySettings(params={"bottleneck": 8}, lr=3e-2, bad_value={"bottleneck": 0})
_ADAPTERS = "bottleneck_adapters"
"""Name of the child module holding a decoder layer's two adapters."""
_SITES = ("self_attn", "mlp")


@dataclass
class Params:
    bottleneck: int = 64
    """Width of the adapter's middle layer."""
    activation: Literal["relu", "gelu", "silu", "tanh"] = "relu"
    """Nonlinearity between the down and up projections."""
    dropout: float = 0.0
    """Dropout on the adapter's middle layer during training."""

    def validate(self) -> None:
        if self.bottleneck <= 0:
            raise ValueError(f"bottleneck: must be > 0, got {self.bottleneck}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout: must be in [0, 1), got {self.dropout}")


def apply(model, params: Params):
    from torch import nn

    from .bottleneck import BottleneckAdapter

    _, layers = decoder_layers(model)
    hidden = base_model(model).config.get_text_config().hidden_size
    freeze_all(model)
    for layer in layers:
        if hasattr(layer, _ADAPTERS):
            raise KnowtuneError("the model already has bottleneck adapters", field="method")
        missing = [site for site in _SITES if not isinstance(getattr(layer, site, None), nn.Module)]
        if missing:
            raise KnowtuneError(f"{type(layer).__name__} has no {', '.join(missing)} module to put an "
                                "adapter after", field="method")
        device = next(layer.parameters()).device
        adapters = nn.ModuleDict({site: BottleneckAdapter(hidden, params.bottleneck, params.activation,
                                                          params.dropout, device) for site in _SITES})
        layer.add_module(_ADAPTERS, adapters)
        for site in _SITES:
            getattr(layer, site).register_forward_hook(adapters[site].after)
    return model


def trainable_count(model, params: Params) -> int:
    """Per decoder layer and site: down (hidden -> bottleneck) and up (bottleneck -> hidden), with biases."""
    hidden, b = model.config.hidden_size, params.bottleneck
    return model.config.num_hidden_layers * len(_SITES) * (2 * hidden * b + b + hidden)
