"""P-tuning through peft: virtual tokens produced by a small trained encoder (MLP or LSTM).

Like prompt tuning, but the virtual-token embeddings are the output of an encoder over
trained inputs, which optimises more smoothly. After training only the encoder's output
matters: the saved adapter stores those embeddings. Not mergeable: served with its adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .contract import TinySettings

NAME = "ptuning"
SUMMARY = "P-tuning: virtual tokens from a trained MLP/LSTM encoder (peft)"
DEFAULT_LR = 1e-2  # the bake-off's learning rate for this method (see docs/methods.md, Bake-off)
_LSTM_LAYERS = 2  # peft's default depth of the LSTM encoder, passed explicitly so the count and the model agree
MERGEABLE = False
SAVE_FORMAT = "peft"
FROZEN_BASE = True
USES_MODEL_FORWARD = True  # the virtual tokens are prepended in peft's forward
TEST_SETTINGS = TinySettings(params={"num_virtual_tokens": 4, "encoder_hidden_size": 16}, lr=1e-1,
                             bad_value={"encoder_dropout": 1.5})


@dataclass
class Params:
    num_virtual_tokens: int = 20
    """Number of virtual tokens put before every input."""
    encoder: Literal["mlp", "lstm"] = "mlp"
    """Encoder that produces the virtual tokens."""
    encoder_hidden_size: int = 128
    """Hidden width of the encoder."""
    encoder_dropout: float = 0.0
    """Dropout inside the encoder during training."""

    def validate(self) -> None:
        if self.num_virtual_tokens <= 0:
            raise ValueError(f"num_virtual_tokens: must be > 0, got {self.num_virtual_tokens}")
        if self.encoder_hidden_size <= 0:
            raise ValueError(f"encoder_hidden_size: must be > 0, got {self.encoder_hidden_size}")
        if not 0 <= self.encoder_dropout < 1:
            raise ValueError(f"encoder_dropout: must be in [0, 1), got {self.encoder_dropout}")


def apply(model, params: Params):
    from peft import PromptEncoderConfig, PromptEncoderReparameterizationType, TaskType, get_peft_model

    encoder = {"mlp": PromptEncoderReparameterizationType.MLP,
               "lstm": PromptEncoderReparameterizationType.LSTM}[params.encoder]
    config = PromptEncoderConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=params.num_virtual_tokens,
                                 encoder_reparameterization_type=encoder,
                                 encoder_hidden_size=params.encoder_hidden_size,
                                 encoder_dropout=params.encoder_dropout, encoder_num_layers=_LSTM_LAYERS)
    return get_peft_model(model, config)


def trainable_count(model, params: Params) -> int:
    """The virtual tokens' inputs, and the encoder (weights and biases): the MLP hidden -> e -> e ->
    hidden, or a bidirectional LSTM of _LSTM_LAYERS layers (4 gates, two bias vectors each) and the
    MLP 2e -> 2e -> hidden on its output."""
    hidden, e = model.config.hidden_size, params.encoder_hidden_size
    inputs = params.num_virtual_tokens * hidden
    if params.encoder == "mlp":
        return inputs + (hidden * e + e) + (e * e + e) + (e * hidden + hidden)
    lstm = sum(2 * (4 * e * ((hidden if layer == 0 else 2 * e) + e) + 8 * e) for layer in range(_LSTM_LAYERS))
    return inputs + lstm + (2 * e * 2 * e + 2 * e) + (2 * e * hidden + hidden)
