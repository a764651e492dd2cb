"""What makes the training loop fast on a CPU, measured in bench/train_speed.py.

Besides bf16 autocast over bf16 frozen weights, the head at answer positions only
(loss.py, linear_ce.py) and length-grouped batches (data.collate), the loop uses:

- Padding rounded up to a multiple of 8 tokens (see `data.pad_batch`): oneDNN builds and
  caches matmul kernels for every new shape; rounding cut a SmolLM2 epoch's distinct shapes
  and its peak memory from 2.5 to 1.7 GB.
- AdamW fused into one kernel (methods.optim): the per-tensor loop over LoRA's hundreds of
  small matrices was a seventh of a SmolLM2 step.
- Plain attention with float32 scores for batches up to 192 tokens (attention.py): torch's
  CPU flash-attention backward is 2-3x slower at these lengths; +30 % tokens/s on SmolLM2.
- LoRA's update as one addmm (lora_fast.py): the scaling and the add over the whole output
  were separate passes; +5 % on SmolLM2 steps.
- `torch.compile` of the decoder blocks, opt-in (--compile): it fuses the norms, rotary, LoRA
  scaling and activations. SmolLM2 steps alternated in one process, compiled against eager
  (both with this loop's attention and fused LoRA): 6.29 s against 8.36 s a pass, 1.33x. But
  every new process traces the blocks again, about 15 s even with inductor's kernels cached
  (~/.cache/knowtune/inductor; the first compile of a model takes 30-70 s more), so it pays
  only for runs longer than about a minute of eager training: the bench's 50-step runs come
  out level or slower (bench/RESULTS.md). Off by default; worth it for long runs and GPUs.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from ..methods.layers import decoder_layers

COMPILE_CACHE = Path.home() / ".cache" / "knowtune" / "inductor"


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
    import torch._dynamo

    _, layers = decoder_layers(model)
    for layer in layers:
        layer.compile(dynamic=True)
    try:
        # float attributes (norm epsilons, LoRA scalings) as constants: made symbolic they had
        # dynamo restart its analysis of a layer, about 4 s a process
        with torch._dynamo.config.patch(specialize_float=True):
            yield
    finally:
        for layer in layers:
            layer._compiled_call_impl = None  # nn.Module.compile's own slot: back to the eager forward
