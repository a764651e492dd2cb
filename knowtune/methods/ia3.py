"""(IA)³ through peft: learned vectors that rescale activations inside the chosen layers.

Attention layers (k_proj, v_proj) get their outputs scaled, feed-forward layers (down_proj)
their inputs; the vectors start at 1, so the untrained model is the base model. Trainable
parameters: one value per output feature (per input feature for feed-forward modules),
far fewer than LoRA.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .contract import TinySettings
from .layers import targeted_linears, wrap_peft

NAME = "ia3"
SUMMARY = "(IA)³: learned rescaling vectors in attention and feed-forward layers (peft)"
DEFAULT_LR = 3e-2  # the bake-off's learning rate for this method (see docs/methods.md, Bake-off)
MERGEABLE = True
SAVE_FORMAT = "peft"
FROZEN_BASE = True
TEST_SETTINGS = TinySettings(params={}, lr=1e-1, bad_value={"feedforward_modules": ["up_proj"]})


@dataclass
class Params:
    target_modules: list[str] = field(default_factory=lambda: ["k_proj", "v_proj", "down_proj"])
    """Linear layers to rescale, by name."""
    feedforward_modules: list[str] = field(default_factory=lambda: ["down_proj"])
    """Those of target_modules that are feed-forward layers: their input, not their output, is rescaled."""

    def validate(self) -> None:
        if not self.target_modules:
            raise ValueError("target_modules: must name at least one module")
        stray = sorted(set(self.feedforward_modules) - set(self.target_modules))
        if stray:
            raise ValueError(f"feedforward_modules: {', '.join(stray)} not in target_modules")


def apply(model, params: Params):
    from peft import IA3Config, TaskType

    config = IA3Config(task_type=TaskType.CAUSAL_LM, target_modules=list(params.target_modules),
                       feedforward_modules=list(params.feedforward_modules))
    return wrap_peft(model, config)


def trainable_count(model, params: Params) -> int:
    """One value per output feature of each targeted layer, per input feature of a feed-forward one."""
    return sum(m.in_features if n.rsplit(".", 1)[-1] in params.feedforward_modules else m.out_features
               for n, m in targeted_linears(model, params.target_modules))
