"""Adapters folded into the weights while a model answers, and taken out again exactly.

An unmerged LoRA layer computes x·W + (x·A)·B: three matmuls where one would do. For the small
batches of answering on a CPU the two thin ones cost nearly as much as the wide one (the
SmolLM2-135M LoRA run answered 1.6× faster merged, bench/answer_speed.py). peft merges and
unmerges, but unmerging subtracts what merging added, and that rounding would drift the weights
a little on every answer; so here the merge goes into copies (peft's safe merge) and leaving puts
the original tensors back, bit for bit.
"""

from __future__ import annotations

import contextlib

MERGEABLE = {"LORA", "IA3"}
"""peft types whose merge is a float addition or scaling of the weight (DoRA is LORA with use_dora)."""


def can_merge(model) -> bool:
    """A peft model of mergeable types on float weights (a 4-bit base would be re-quantised)."""
    configs = getattr(model, "peft_config", None)
    if not configs or not hasattr(model, "merge_adapter"):
        return False
    if any(str(getattr(c.peft_type, "value", c.peft_type)) not in MERGEABLE for c in configs.values()):
        return False
    if getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False):
        return False
    return all(p.is_floating_point() and p.__class__.__name__ == "Parameter" for p in model.parameters())


@contextlib.contextmanager
def adapters_merged(model):
    """Inside, the model's adapters are merged into its weights (when `can_merge`); outside, as before."""
    if not can_merge(model) or _merged(model):
        yield
        return
    originals = [(param, param.data) for param in model.parameters()]
    try:
        model.merge_adapter(safe_merge=True)  # into clones: `originals` keep the unmerged tensors
        yield
    finally:
        for param, data in originals:
            param.data = data
        for module in model.modules():
            if hasattr(module, "merged_adapters"):
                module.merged_adapters = []


def _merged(model) -> bool:
    return any(getattr(module, "merged_adapters", None) for module in model.modules())


def merged_for_good(model):
    """For a model that only answers from now on (the one a server or chat holds): its adapters merged
    into its weights once and peft's wrapper dropped, rather than merged again for every request."""
    return model.merge_and_unload() if can_merge(model) else model
