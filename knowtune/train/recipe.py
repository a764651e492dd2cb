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
FALLBACK_EPOCHS = 1.5  # a data set without facts (QA records, replay only)
PREFERENCE_LR_SCALE = 0.1  # dpo/orpo/kto: a tenth of the method's rate (a stage on a model that knows the answers)
PREFERENCE_EPOCHS = 3.0  # passes over the pairs, as LLaMA-Factory's DPO examples take
FALLBACK_EXPOSURES = 20.0  # see TrainConfig.exposures; SmolLM2, Hainan natural dev: 20 -> 79.0 %, 28 -> 77.6 %


def resolve_recipe(cfg: TrainConfig, samples: list[dict] | None = None) -> TrainConfig:
    """`cfg` with its unset learning rate and epochs and the recipe's params filled in (idempotent).

    Empty epochs come from the exposures per fact: an augmented set asks each fact ~20 ways, a plain
    one 7, so one number of epochs cannot suit both; times each fact is seen can.
    """
    recipe = preset_recipe(cfg.model, cfg.method)
    params = {**recipe.get("params", {}), **cfg.params}
    lr = cfg.learning_rate
    if lr is None:
        lr = recipe.get("learning_rate") or get_method(cfg.method).default_lr or FALLBACK_LR
        lr = lr * PREFERENCE_LR_SCALE if cfg.stage != "sft" else lr
    exposures = cfg.exposures if cfg.exposures is not None else recipe.get("exposures", FALLBACK_EXPOSURES)
    epochs = cfg.epochs  # what the user set wins: epochs, then exposures, then the recipe's epochs
    if epochs is None and cfg.stage != "sft":  # pairs are not facts: exposures do not count them
        epochs = PREFERENCE_EPOCHS
    if epochs is None and cfg.exposures is None:
        epochs = recipe.get("epochs")
    if epochs is None and samples is not None:  # without the samples, epochs stay open
        per_epoch = exposures_per_epoch(samples)
        epochs = round(exposures / per_epoch, 3) if per_epoch else FALLBACK_EPOCHS
    return dataclasses.replace(cfg, params=params, learning_rate=lr, epochs=epochs, exposures=exposures)


def exposures_per_epoch(samples: list[dict]) -> float:
    """Samples per piece of knowledge (fact) in one pass, on average: how often an epoch shows each fact."""
    facts = {s["fact"] for s in samples if isinstance(s.get("fact"), int)}
    return sum(isinstance(s.get("fact"), int) for s in samples) / len(facts) if facts else 0.0
