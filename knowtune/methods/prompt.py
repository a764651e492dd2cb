"""Prompt tuning through peft: trained embeddings of virtual tokens put before every input.

Only `num_virtual_tokens` × hidden-size values train. Starting them from the embeddings
of a sentence (init: text) trains faster and more stably than random vectors. Not
mergeable: served with its adapter. P-tuning (virtual tokens produced by a trained
encoder) is the separate method `ptuning`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..config import KnowtuneError
from .contract import TinySettings
from .layers import base_model, is_meta

NAME = "prompt"
SUMMARY = "Prompt tuning: trained virtual-token embeddings before every input (peft)"
DEFAULT_LR = 3e-2  # the bake-off's learning rate for this method (see docs/methods.md, Bake-off)
MERGEABLE = False
SAVE_FORMAT = "peft"
FROZEN_BASE = True
USES_MODEL_FORWARD = True  # the virtual tokens are prepended in peft's forward
TEST_SETTINGS = TinySettings(params={"num_virtual_tokens": 4, "init": "text", "init_text": "Hainan capital"},
                             lr=1e-1, bad_value={"init": "zeros"})


@dataclass
class Params:
    num_virtual_tokens: int = 20
    """Number of virtual tokens put before every input."""
    init: Literal["text", "random"] = "text"
    """Start the virtual tokens from the embeddings of init_text (repeated to length), or at random."""
    init_text: str = "Answer the question with the fact you learned from the knowledge base."
    """Sentence whose token embeddings start the virtual tokens (with init: text)."""

    def validate(self) -> None:
        if self.num_virtual_tokens <= 0:
            raise ValueError(f"num_virtual_tokens: must be > 0, got {self.num_virtual_tokens}")
        if self.init == "text" and not self.init_text.strip():
            raise ValueError("init_text: must not be empty with init: text")


def _tokenizer_dir(model) -> str:
    source = getattr(base_model(model).config, "_name_or_path", "") or ""
    if not source or not Path(source).is_dir():
        raise KnowtuneError("init: text needs the model's tokenizer but the model was not loaded from a "
                            "directory; use init: random", field="params.init")
    return source


def apply(model, params: Params):
    from peft import PromptTuningConfig, PromptTuningInit, TaskType, get_peft_model

    # the text start copies real embeddings: a meta-device model (shapes only) has none and
    # gets the random start, which has the same shape and parameter count
    text = params.init == "text" and not is_meta(model)
    config = PromptTuningConfig(
        task_type=TaskType.CAUSAL_LM, num_virtual_tokens=params.num_virtual_tokens,
        prompt_tuning_init=PromptTuningInit.TEXT if text else PromptTuningInit.RANDOM,
        prompt_tuning_init_text=params.init_text if text else None,
        tokenizer_name_or_path=_tokenizer_dir(model) if text else None)
    return get_peft_model(model, config)


def trainable_count(model, params: Params) -> int:
    """One embedding per virtual token."""
    return params.num_virtual_tokens * model.config.hidden_size
