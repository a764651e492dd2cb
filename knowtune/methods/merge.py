"""Fold what a method trained into the base weights: one plain transformers model.

peft methods merge through peft's merge_and_unload. A base quantized by bitsandbytes
(qlora) is first dequantized to fp32 and the adapter re-attached to it, so the merge is a
float addition: peft's own merge into a 4-bit layer would re-quantize W + BA and lose most
of what was trained. Methods that train the weights themselves (full, freeze, galore,
badam) already are a plain model. Methods whose trained part is not a weight update
(prefix, prompt, ptuning, adapter) cannot be merged and are served with their adapter.
"""

from __future__ import annotations

import copy

from ..config import KnowtuneError
from .registry import Method


def merge_trained(model, method: Method):
    """The trained model as a plain transformers model (the peft wrapper is consumed)."""
    if not method.mergeable:
        raise KnowtuneError(f"method {method.name!r} cannot be merged into the base weights (what it trains "
                            "is not a change of a weight matrix); serve it with its adapter instead",
                            field="method")
    if method.save_format == "weights":
        return model
    if getattr(model.get_base_model(), "is_quantized", False):
        model = _on_dequantized_base(model)
    return model.merge_and_unload()


def _on_dequantized_base(peft_model):
    """The same adapter on the base dequantized to fp32 (a new peft model; the old one is unloaded)."""
    import torch
    from peft import get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict

    name = peft_model.active_adapter
    config = copy.deepcopy(peft_model.peft_config[name])
    config.inference_mode = True
    state = get_peft_model_state_dict(peft_model, adapter_name=name)
    base = peft_model.unload()
    base.dequantize(dtype=torch.float32)
    plain = get_peft_model(base, config, adapter_name=name)
    result = set_peft_model_state_dict(plain, state, adapter_name=name)
    if result.unexpected_keys:
        raise KnowtuneError(f"adapter tensors do not fit the dequantized model: {result.unexpected_keys[:3]}")
    return plain
