"""What the machine can do fast: bf16 support, thread count, peak memory; where knowtune caches.

In the lowest layer because every layer asks it (training, evaluation, serving, the bake-off);
torch is imported only inside `fast_bf16_available`, so reading this module stays cheap.
"""

from __future__ import annotations

import functools
import os
import resource
import sys
from pathlib import Path


def cache_root() -> Path:
    """knowtune's cache folder (converted models, compiled kernels, measurements): $KNOWTUNE_CACHE."""
    return Path(os.environ.get("KNOWTUNE_CACHE", Path.home() / ".cache" / "knowtune"))


def _cpuinfo(key: str) -> str | None:
    """The first value of `key` in /proc/cpuinfo (Linux), else None."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.split(":", 1)[0].strip() == key:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


@functools.lru_cache(maxsize=None)
def cpu_flags() -> frozenset[str]:
    return frozenset((_cpuinfo("flags") or "").split())


def cpu_name() -> str:
    """The CPU's model name, as benchmarks report it (the platform where Linux does not say)."""
    return _cpuinfo("model name") or sys.platform


BF16_MIN_SPEEDUP = 1.3
"""bf16 must multiply matrices this much faster than fp32 to pay for its casts (and its rounding)."""
_PROBE_FILE = "bf16-speedup.json"


def fast_bf16_available() -> bool:
    """bf16 pays on a CUDA GPU that supports it, or a CPU whose bf16 matrix multiply is measured to be
    clearly faster than its fp32 one. The CPU flags are not enough: AMX and AMD's AVX512-BF16 run bf16
    GEMMs 3-10x faster than fp32, but some Intel Xeons with AVX512-BF16 and no AMX run them no faster
    (164 against 164 GFLOP/s), where bf16 training ran at half the fp32 speed."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    if not {"avx512_bf16", "amx_bf16"} & cpu_flags():
        return False
    return bf16_speedup() >= BF16_MIN_SPEEDUP


@functools.lru_cache(maxsize=None)
def bf16_speedup() -> float:
    """fp32 time over bf16 time of one GEMM at a small model's shapes, measured once per CPU, torch
    version and thread count and kept in the cache folder (about 0.2 s to measure)."""
    import json

    import torch

    key = f"{cpu_name()}|{torch.__version__}|{torch.get_num_threads()}"
    path = cache_root() / _PROBE_FILE
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    if isinstance(known, dict) and isinstance(known.get(key), (int, float)):
        return float(known[key])
    ratio = _measured_speedup()
    try:  # a read-only home only costs the measurement next time
        path.parent.mkdir(parents=True, exist_ok=True)
        known = known if isinstance(known, dict) else {}
        path.write_text(json.dumps({**known, key: round(ratio, 3)}, indent=1))
    except OSError:
        pass
    return ratio


def _measured_speedup(repeats: int = 7) -> float:
    """fp32 over bf16 seconds, best of `repeats` each, of [512 x 1024] @ [1024 x 1536] (a batch of
    tokens through an MLP); the two alternate, so a busy moment of the machine slows both."""
    import time

    import torch

    pairs = {dtype: (torch.randn(512, 1024).to(dtype), torch.randn(1024, 1536).to(dtype))
             for dtype in (torch.float32, torch.bfloat16)}
    best = dict.fromkeys(pairs, float("inf"))
    for dtype, (a, b) in pairs.items():
        torch.mm(a, b)  # the first call picks and prepares the kernel
    for _ in range(repeats):
        for dtype, (a, b) in pairs.items():
            tic = time.perf_counter()
            torch.mm(a, b)
            best[dtype] = min(best[dtype], time.perf_counter() - tic)
    return best[torch.float32] / best[torch.bfloat16]


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
