"""Keep freed memory in the process's heap (glibc), so a training step does not page-fault its tensors anew.

glibc's ``malloc`` serves every block above its mmap threshold (at most 32 MiB) with a fresh ``mmap`` and
returns it with ``munmap`` when freed. A training step allocates and frees tensors of tens to hundreds
of MiB (B * N windows of W steps of width D), so every step maps them again and the kernel zero-fills
each page on first touch: on the 2-core machine this doubled the full model's step (docs/benchmarks.md,
"The allocator"). :func:`keep_freed_memory` tells glibc, through ``mallopt``, to serve large blocks
from the heap and never to give freed heap memory back, so the second step onwards reuses the first
step's pages. The process keeps its peak memory until it ends (it does so anyway while training).

Nothing happens off glibc (macOS, Windows, musl) or with ``SOCIAL_XLSTM_MALLOC=system``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from functools import lru_cache

ENV = "SOCIAL_XLSTM_MALLOC"
"""``system`` leaves glibc's defaults alone (the allocator as Python starts it)."""

# mallopt parameters, from glibc's <malloc.h>
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_MAX = -4

TOP_PAD = 64 << 20
"""Bytes the heap grows by beyond each request: fewer ``brk`` calls while the first step builds up."""
TRIM_THRESHOLD = (1 << 31) - 1
"""Free memory at the heap's top that glibc would give back: never, in practice (mallopt takes an int)."""


@lru_cache(maxsize=1)
def keep_freed_memory() -> bool:
    """Configure glibc as above, once per process; True when it took effect.

    Safe to call at any time: blocks already mapped stay mapped and are freed as before.
    """
    if os.environ.get(ENV, "").strip().lower() == "system" or not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc: nothing to configure
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success; all three or none is not needed: each one helps on its own
    done = [mallopt(M_MMAP_MAX, 0), mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD), mallopt(M_TOP_PAD, TOP_PAD)]
    return all(done)
