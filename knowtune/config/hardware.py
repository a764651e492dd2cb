"""What the machine can do fast: bf16 support, thread count, peak memory.

In the lowest layer because every layer asks it (training, evaluation, serving, the bake-off);
torch is imported only inside `fast_bf16_available`, so reading this module stays cheap.
"""

from __future__ import annotations

import functools
import os
import resource
import sys


@functools.lru_cache(maxsize=None)
def cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def fast_bf16_available() -> bool:
    """bf16 pays on a CUDA GPU that supports it, or a CPU with AVX512-BF16 or AMX."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def resolve_precision(precision: str) -> str:
    if precision == "auto":
        return "bf16" if fast_bf16_available() else "fp32"
    return precision


def default_threads() -> int:
    """The cores this process may use, shared among the processes of a local multi-process run."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
    return max(1, cores // max(local_processes, 1))


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
