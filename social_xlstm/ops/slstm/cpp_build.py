"""Building the fused CPU kernel (``cpp_kernel.cpp``) just in time, once per machine and torch version.

``torch.utils.cpp_extension.load`` compiles it with the machine's C++ compiler (OpenMP, ``-O3
-march=native``, so ATen's vector types use the widest instructions the CPU has) into torch's extension
cache (``TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions``); later processes load the cached
library in milliseconds. Where no compiler (or no ninja) is found, or the build fails, :func:`load_kernel`
returns None once, says why in a warning, and the op runs the Python CPU path (``backend="cpu"``).
"""

from __future__ import annotations

import os
import warnings
from functools import lru_cache
from pathlib import Path

SOURCE = Path(__file__).with_name("cpp_kernel.cpp")
DISABLE_ENV = "SOCIAL_XLSTM_NO_CPP"
"""Set to 1 to never build or load the kernel (the Python path runs): the fallback, tested."""


@lru_cache(maxsize=1)
def load_kernel():
    """The compiled module (``forward``, ``backward``), or None where it cannot be built here."""
    if os.environ.get(DISABLE_ENV, "0") not in ("", "0"):
        return None
    try:
        from torch.utils.cpp_extension import load

        return load(
            name="social_xlstm_slstm_cpu",
            sources=[str(SOURCE)],
            extra_cflags=["-O3", "-march=native", "-fopenmp", "-DAT_PARALLEL_OPENMP=1"],
            extra_ldflags=["-fopenmp"],
            verbose=False,
        )
    except Exception as err:  # a missing compiler, ninja or header: every failure means "fall back"
        warnings.warn(
            f"the fused sLSTM CPU kernel could not be built ({type(err).__name__}: {str(err)[:300]}); "
            "running the Python CPU path instead",
            stacklevel=2,
        )
        return None


def kernel_available() -> bool:
    """Whether the fused kernel is (or can be) loaded on this machine; builds it on the first call."""
    return load_kernel() is not None
