"""What a run trains with when the user leaves a setting unset.

Learning rates differ by orders of magnitude between methods (full fine-tuning 5e-4, IA3
3e-2), and one model can want other settings than another for the same method (Gemma-3-270M's
loss spikes with LoRA+ at ratio 16, where SmolLM2 gains from it). So the learning rate and the
epochs are left empty in the config and resolved here: the model preset's measured recipe for
the method, else the method's own DEFAULT_LR and 1.5 epochs. Method params from a recipe fill
only the names the user did not give. The resolved config is what the run writes to its config.yaml.
"""

from __future__ import annotations

import dataclasses

from ..config import TrainConfig
from ..methods import get_method
from ..models import preset_recipe

FALLBACK_LR = 1e-3  # a method without a DEFAULT_LR
FALLBACK_EPOCHS = 1.5  # SmolLM2 learns the 151 Hainan facts to 91 % in 1.5 epochs


def resolve_recipe(cfg: TrainConfig) -> TrainConfig:
    """`cfg` with its unset learning rate and epochs and the recipe's params filled in (idempotent)."""
    recipe = preset_recipe(cfg.model, cfg.method)
    params = {**recipe.get("params", {}), **cfg.params}
    lr = cfg.learning_rate
    if lr is None:
        lr = recipe.get("learning_rate") or get_method(cfg.method).default_lr or FALLBACK_LR
    epochs = cfg.epochs if cfg.epochs is not None else recipe.get("epochs", FALLBACK_EPOCHS)
    return dataclasses.replace(cfg, params=params, learning_rate=lr, epochs=epochs)
