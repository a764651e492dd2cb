"""What makes the training loop fast on a CPU, measured in bench/train_speed.py.

Besides bf16 autocast over bf16 frozen weights, the head at answer positions only
(loss.py, linear_ce.py) and length-grouped batches (data.collate), the loop uses:

- Padding rounded up to a multiple of 8 tokens (see `data.pad_batch`): oneDNN builds and
  caches matmul kernels for every new shape; rounding cut a SmolLM2 epoch's distinct shapes
  and its peak memory from 2.5 to 1.7 GB.
- Plain ("eager") attention for short batches: at 50-190 tokens torch's CPU flash-attention
  backward costs 2-3x the plain matmul-softmax-matmul (8 ms vs 2.5 ms a layer at 8 x 52
  tokens); from about 200 tokens the flash kernel wins and keeps the [L x L] scores unsaved.
- AdamW fused into one kernel (methods.optim): the per-tensor loop over LoRA's hundreds of
  small matrices was a seventh of a SmolLM2 step.
- `torch.compile` of the decoder blocks (each block compiled once, shared by all layers),
  opt-in: it fuses the norms, rotary, LoRA scaling and activations, +10 % on SmolLM2 and
  +19 % on Gemma-3 in the benchmark, but compiling costs about a minute the first time
  (seconds later: inductor caches its kernels).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import torch

from ..methods.layers import base_model, decoder_layers

EAGER_ATTENTION_MAX_WIDTH = 192  # the batch width (tokens) up to which plain attention is faster on a CPU
COMPILE_CACHE = Path.home() / ".cache" / "knowtune" / "inductor"


def attention_for(widths: list[int], device: torch.device) -> str | None:
    """The attention implementation to train with, or None to keep the model's own."""
    if device.type != "cpu" or not widths:
        return None
    typical = sorted(widths)[len(widths) // 2]
    return "eager" if typical <= EAGER_ATTENTION_MAX_WIDTH else None


@contextlib.contextmanager
def training_attention(model, implementation: str | None):
    """Train with `implementation`, then hand the model back with the attention it came with."""
    base = base_model(model)
    before = getattr(base.config, "_attn_implementation", None)
    if implementation is None or before == implementation or not hasattr(base, "set_attn_implementation"):
        yield
        return
    base.set_attn_implementation(implementation)
    try:
        yield
    finally:
        base.set_attn_implementation(before)


@contextlib.contextmanager
def compiled_blocks(model, enabled: bool):
    """Compile every decoder block for the duration; generation afterwards runs uncompiled.

    Shapes are marked dynamic so new batch widths do not recompile; compiled kernels are
    cached in ~/.cache/knowtune/inductor, so only the first run of a model pays the compile.
    """
    if not enabled:
        yield
        return
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    # torch fills the variable with its /tmp default once anything asks; a user's own choice stays
    if os.environ.get("TORCHINDUCTOR_CACHE_DIR") in (None, os.path.abspath(default_cache_dir())):
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(COMPILE_CACHE)
    _, layers = decoder_layers(model)
    for layer in layers:
        layer.compile(dynamic=True)
    try:
        yield
    finally:
        for layer in layers:
            layer._compiled_call_impl = None  # nn.Module.compile's own slot: back to the eager forward
