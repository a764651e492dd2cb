"""glibc's allocator in the two phases of a run.

The CLI starts with mmap off for the heap (MALLOC_MMAP_MAX_=0, see commands.process.ALLOCATOR_ENV): on
virtual machines freed pages go back to the host at once, and training steps that fault them in
again swung from 4 to 69 s. Generation after training is the opposite case: KV caches and
[batch × vocab] logits grow a little every step, and a heap that may not map new blocks
fragmented until the kernel killed the process (Gemma-3-270M's 262k vocabulary: 24 GB in
the demo's after-pass). So generation lets glibc map large blocks again, for its duration.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os

M_MMAP_THRESHOLD, M_MMAP_MAX = -3, -4  # mallopt parameters (malloc.h)
GLIBC_MMAP_MAX = 65536  # glibc's own default


def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "mallopt") else None


@contextlib.contextmanager
def mapping_allowed(threshold: int = 1 << 20):
    """Blocks of `threshold` bytes or more are mapped (and unmapped when freed) while inside."""
    libc = _libc() if os.environ.get("MALLOC_MMAP_MAX_") == "0" else None
    if libc is None:  # the default allocator already maps large blocks
        yield
        return
    libc.mallopt(M_MMAP_THRESHOLD, threshold)
    libc.mallopt(M_MMAP_MAX, GLIBC_MMAP_MAX)
    try:
        yield
    finally:
        libc.mallopt(M_MMAP_MAX, 0)
