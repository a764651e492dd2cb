"""LoRA's update in one GEMM while training: result + scaling · (A x) Bᵀ as a single addmm.

peft computes `result + lora_B(lora_A(x)) * scaling`: a matmul, then a multiply and an add
over the whole [tokens x out] output, and in the backward another multiply of that size.
On a CPU, at the few hundred tokens of a knowledge-base batch, those elementwise passes cost
about as much as the rank-16 matmul itself, in each of SmolLM2's 210 adapted layers
(bench/RESULTS.md has the timing). `torch.addmm(result, a, Bᵀ,
alpha=scaling)` does the product, the scaling and the add in one kernel, with one rounding
of the sum instead of three under bf16 autocast.

Only plain LoRA layers take this path (one active adapter, not merged, no DoRA variant, no
bias on B, adapters enabled, no per-sample adapter names); everything else runs peft's own
forward. The weights, and so saving, loading and merging, are untouched.
"""

from __future__ import annotations

import contextlib
import types

import torch


def _plain_adapter(layer) -> str | None:
    """The one active plain-LoRA adapter this layer may fuse, or None when peft's forward is needed."""
    names = [n for n in layer.active_adapters if n in layer.lora_A]
    plain = (len(names) == 1 and not layer.merged and not layer.disable_adapters
             and names[0] not in layer.lora_variant and layer.lora_B[names[0]].bias is None)
    return names[0] if plain else None


def _fused_forward(peft_forward):
    def forward(self, x, *args, **kwargs):
        name = None if args or kwargs else _plain_adapter(self)
        if name is None:
            return peft_forward(x, *args, **kwargs)
        result = self.base_layer(x)
        low = self.lora_A[name](self.lora_dropout[name](x))
        weight_b = self.lora_B[name].weight
        if not torch.is_autocast_enabled(x.device.type) and not (result.dtype == low.dtype == weight_b.dtype):
            return peft_forward(x)  # mixed dtypes without autocast: peft's casts are needed
        out = torch.addmm(result.reshape(-1, result.shape[-1]), low.reshape(-1, low.shape[-1]), weight_b.t(),
                          alpha=self.scaling[name])
        return out.view(*result.shape[:-1], out.shape[-1]).to(result.dtype)

    return forward


@contextlib.contextmanager
def fused_lora_updates(model, enabled: bool = True):
    """Within the block, plain peft LoRA linear layers compute their update with one addmm.

    Off under ZeRO-3/FSDP (`enabled=False`): there a weight is whole only inside its own module's
    forward, and the fused path reads lora_B's weight without calling lora_B.
    """
    if not enabled:
        yield
        return
    try:
        from peft.tuners.lora.layer import Linear as LoraLinear
    except ImportError:  # peft not installed: no LoRA layers to fuse
        yield
        return
    patched = []
    for module in model.modules():
        if type(module) is LoraLinear:  # subclasses (quantized bases, variants) keep peft's forward
            module.forward = types.MethodType(_fused_forward(module.forward), module)
            patched.append(module)
    try:
        yield
    finally:
        for module in patched:
            del module.forward  # the instance attribute goes; the class's forward is back
