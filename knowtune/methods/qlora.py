"""QLoRA: LoRA on a base model whose linear layers are held 4-bit (NF4) or 8-bit by bitsandbytes.

The frozen base takes a quarter (4-bit) or half (8-bit) of its bf16 memory; each layer is
dequantized on the fly for its matmul, and only the fp32 LoRA matrices train. bitsandbytes
0.50 runs both on x86 CPUs as well as on CUDA. Merging dequantizes the base to fp32 first
(see merge.py), so the merged model carries no second rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..config import KnowtuneError
from . import lora
from .contract import TinySettings
from .layers import is_meta, require, wrap_peft

NAME = "qlora"
SUMMARY = "LoRA on a 4-bit (NF4) or 8-bit quantized base (bitsandbytes)"
DEFAULT_LR = 1e-3  # the bake-off's learning rate for this method (see docs/methods.md, Bake-off)
MERGEABLE = True
SAVE_FORMAT = "peft"
FROZEN_BASE = True
TEST_SETTINGS = TinySettings(params={"r": 4, "alpha": 8}, lr=1e-2, bad_value={"bits": 3})
make_optimizer = lora.make_optimizer
trainable_count = lora.trainable_count  # quantizing the base changes no count


@dataclass
class Params(lora.Params):
    bits: Literal[4, 8] = 4
    """Bits per base weight: 4 (QLoRA's NF4/FP4) or 8 (LLM.int8)."""
    quant_type: Literal["nf4", "fp4"] = "nf4"
    """4-bit data type: nf4 (normal-float, suited to normally distributed weights) or fp4 (4-bit only)."""
    double_quant: bool = True
    """Quantize the per-block scales too, saving about 0.4 bit per weight (4-bit only)."""

    def validate(self) -> None:
        super().validate()
        if self.init == "pissa":  # peft computes PiSSA's SVD on float weights only
            raise ValueError("init: pissa needs a full-precision base; use method lora, or init default")


def load_kwargs(params: Params) -> dict:
    """The bitsandbytes config for from_pretrained; refuses what this machine's bitsandbytes cannot run."""
    import torch
    from transformers import BitsAndBytesConfig

    _check_backend(params)
    if params.bits == 8:
        return {"quantization_config": BitsAndBytesConfig(load_in_8bit=True)}
    # fp32 compute: bnb dequantizes each weight to fp32 and bf16 autocast (when on) lowers the matmul,
    # so the same loaded model serves both precisions
    return {"quantization_config": BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type=params.quant_type, bnb_4bit_use_double_quant=params.double_quant,
        bnb_4bit_compute_dtype=torch.float32)}


def _check_backend(params: Params) -> None:
    import torch

    bnb = require("bitsandbytes", NAME)
    if torch.cuda.is_available():
        return
    probe = torch.randn(64, 64)
    try:
        if params.bits == 4:
            packed, state = bnb.functional.quantize_4bit(probe, quant_type=params.quant_type,
                                                         compress_statistics=params.double_quant)
            bnb.functional.dequantize_4bit(packed, state)
        else:
            bnb.functional.int8_vectorwise_quant(probe.half())
    except (RuntimeError, NotImplementedError, AttributeError) as err:
        raise KnowtuneError(f"bitsandbytes cannot run {params.bits}-bit quantization on this CPU without CUDA "
                            f"({str(err).splitlines()[0]}); use method lora instead", field="params.bits") from None


def prepare_base(model, params: Params):
    """Keep bitsandbytes' 4-bit CPU inference on the same arithmetic as training.

    On CPUs with AVX512-BF16, bnb repacks a 4-bit layer's weight the first time it runs
    without gradients, rounding its scales to bf16: evaluation would then see slightly other
    weights than training did (and layers narrower than 64 inputs fail outright). Turning
    that path off keeps one exact dequantize-then-matmul path for training, eval and merge.
    """
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False
    return model


def apply(model, params: Params):
    # a meta-device model (shapes only, for estimates) cannot be quantized; anything real must be
    if not is_meta(model) and not getattr(model, "is_quantized", False):
        raise KnowtuneError("qlora needs the base model loaded quantized (with the method's load_kwargs); "
                            "for a full-precision base use method lora", field="method")
    prepare_base(model, params)
    return wrap_peft(model, lora.peft_config(params))
