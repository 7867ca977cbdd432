"""numpy's bundled OpenBLAS (scipy-openblas), seen through its C interface: which kernels it
runs and how many threads. blas.py computes on it; determinism.py reports it in every record.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os

import numpy as np


@functools.lru_cache(maxsize=1)
def _openblas():
    """numpy's bundled OpenBLAS (scipy-openblas), or None when numpy links another BLAS."""
    for path in sorted(glob.glob(os.path.join(os.path.dirname(np.__file__) + ".libs", "libscipy_openblas*.so*"))):
        lib = ctypes.CDLL(path)
        if hasattr(lib, "scipy_openblas_get_corename64_"):
            return lib, "64_"
        if hasattr(lib, "scipy_openblas_get_corename"):
            return lib, ""
    return None


def openblas_core() -> str | None:
    """The kernels numpy's OpenBLAS runs ("Haswell", "SkylakeX", ...); None without it."""
    found = _openblas()
    if found is None:
        return None
    lib, suffix = found
    corename = getattr(lib, f"scipy_openblas_get_corename{suffix}")
    corename.restype = ctypes.c_char_p
    return corename().decode()


def set_openblas_threads(n: int) -> None:
    found = _openblas()
    if found is not None:
        lib, suffix = found
        getattr(lib, f"scipy_openblas_set_num_threads{suffix}")(n)
