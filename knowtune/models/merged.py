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


_OFF = "_knowtune_adapter_off"


def has_adapter(model) -> bool:
    """A peft model: its base weights are there to answer with the adapter switched off."""
    return bool(getattr(model, "peft_config", None)) and hasattr(model, "disable_adapter")


def adapter_on(model) -> bool:
    """A peft model answering with its adapter (not inside `adapter_off`)."""
    return has_adapter(model) and not getattr(model, _OFF, False)


@contextlib.contextmanager
def adapter_off(model):
    """Inside, a peft model answers as its base model (peft's disable_adapter; nothing is merged);
    nested uses are one (peft's own context would switch the adapter back on at the inner exit)."""
    if not adapter_on(model):
        yield
        return
    setattr(model, _OFF, True)
    try:
        with model.disable_adapter():
            yield
    finally:
        setattr(model, _OFF, False)


@contextlib.contextmanager
def adapters_merged(model):
    """Inside, the model's adapters are merged into its weights (when `can_merge`); outside, as before.
    Nothing is merged while the adapter is off (`adapter_off`): the base weights answer as they are."""
    if not can_merge(model) or _merged(model) or not adapter_on(model):
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


class MergedWithBase:
    """A peft model that only answers, its adapters merged once into copies of the weights, the base
    tensors kept beside them: `base()` puts the base tensors back while inside (a pointer per tensor,
    nothing copied or computed), so one model answers as fine-tuned or as its base, request by
    request, at merged speed. The memory of the adapted weights twice (a server routing questions
    between the two, data.scope)."""

    def __init__(self, model):
        self.model = model
        originals = [(param, param.data) for param in model.parameters()]
        model.merge_adapter(safe_merge=True)  # into clones, as adapters_merged does
        self._swaps = [(param, old, param.data) for param, old in originals if param.data is not old]

    @contextlib.contextmanager
    def base(self):
        for param, old, _ in self._swaps:
            param.data = old
        try:
            yield
        finally:
            for param, _, merged in self._swaps:
                param.data = merged


def base_switch(model):
    """(model, a context in which it answers as its base) for a model with an adapter: merged once
    with its base kept (MergedWithBase) when mergeable, else the adapter switched off per answer;
    (merged_for_good(model), None) for a model without one (its base weights are not in memory)."""
    if not has_adapter(model):
        return merged_for_good(model), None
    if can_merge(model):
        return model, MergedWithBase(model).base
    return model, lambda: adapter_off(model)
