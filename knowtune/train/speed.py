"""What makes the training loop fast on a CPU, measured in bench/train_speed.py.

Besides bf16 autocast over bf16 frozen weights, the head at answer positions only
(loss.py, linear_ce.py) and batches without padding (data.pack_batch: packed rows, in random
order; where packing does not apply, length-grouped padded batches), the loop uses:

- A packed row's shared prompt start placed once (data.pack_batch `share_prefix`): the
  system prompt and chat markup every sample of a batch begins with are run through the
  decoder once, the samples' attention reading them (attention.py `packing_plan`), with the
  same loss and gradients. A quarter of the Hainan batches' tokens; SmolLM2's steady step
  about 14 % shorter (bench/RESULTS.md).
- Padding rounded up to a multiple of 8 tokens (see `data.pad_batch`): oneDNN builds and
  caches matmul kernels for every new shape; rounding cut a SmolLM2 epoch's distinct shapes
  and its peak memory from 2.5 to 1.7 GB.
- AdamW fused into one kernel (methods.optim): the per-tensor loop over LoRA's hundreds of
  small matrices was a seventh of a SmolLM2 step.
- Plain attention with float32 scores for batches up to 192 tokens (attention.py): torch's
  CPU flash-attention backward is 2-3x slower at these lengths; +30 % tokens/s on SmolLM2.
- LoRA's update as one addmm (lora_fast.py): the scaling and the add over the whole output
  were separate passes; +5 % on SmolLM2 steps.
- `torch.compile` of the decoder blocks (`compile: auto`, see `compile_wanted`): it fuses the
  norms, rotary, LoRA scaling and activations. Each new process traces the blocks again; with
  the attention as one op (attention_op.py) and floats specialised, that re-trace loads
  everything else from torch's caches (~/.cache/knowtune/inductor): about 5 s for SmolLM2,
  against 15 s before. The first compile of a model takes 30-60 s. SmolLM2, 50 LoRA steps,
  warm cache, one process each, alternated: 31 s compiled against 38 s eager (bench/RESULTS.md
  has the side-by-side run).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from ..methods.layers import decoder_layers

COMPILE_CACHE = Path.home() / ".cache" / "knowtune" / "inductor"


AUTO_MIN_PARAMETERS = 50_000_000  # smaller models' steps are too short to repay the re-trace
AUTO_MIN_STEPS = 20


def compile_wanted(setting, model, method, *, device, sharded: bool, total_steps: int) -> bool:
    """Whether to compile: the setting if true or false; for "auto", only where it was measured to pay."""
    if setting != "auto":
        return bool(setting)
    return (device.type == "cpu" and not sharded and method.compile_auto and total_steps >= AUTO_MIN_STEPS
            and sum(p.numel() for p in model.parameters()) >= AUTO_MIN_PARAMETERS and _cpp_compiler())


def _cpp_compiler() -> bool:
    """inductor builds its CPU kernels with a C++ compiler: without one, compiling would fail."""
    return any(shutil.which(name) for name in (os.environ.get("CXX") or "", "g++", "c++", "clang++") if name)


@contextlib.contextmanager
def compiled_blocks(model, enabled: bool, *, fall_back: bool = False):
    """Compile every decoder block for the duration; generation afterwards runs uncompiled.

    Shapes are marked dynamic so new batch widths do not recompile; compiled kernels are
    cached in ~/.cache/knowtune/inductor, so only the first run of a model pays the compile.
    `fall_back` (compile chosen by "auto"): a block that fails to compile runs eagerly.
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
        with torch._dynamo.config.patch(specialize_float=True, suppress_errors=fall_back):
            yield
    finally:
        for layer in layers:
            layer._compiled_call_impl = None  # nn.Module.compile's own slot: back to the eager forward
