"""The accelerate engine a training run computes in."""

from __future__ import annotations

from ..config.hardware import resolve_precision


def make_accelerator(precision: str):
    """An Accelerator computing in `precision` (bf16 autocast or fp32).

    accelerate keeps one global state per process; a single-process caller that
    switches precision between runs (tests, the method bake-off) gets it reset.
    """
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, PartialState

    mixed = "bf16" if resolve_precision(precision) == "bf16" else "no"
    if AcceleratorState._shared_state and PartialState().num_processes == 1:
        if str(AcceleratorState().mixed_precision) != mixed:
            AcceleratorState._reset_state()
    import torch

    # cpu=True where there is no GPU: then accelerate sees torchrun's environment as a
    # multi-process CPU run (gloo) instead of one process per rank each training alone
    return Accelerator(mixed_precision=mixed, cpu=not torch.cuda.is_available())
