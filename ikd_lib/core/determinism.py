"""Same seed, same numbers on any x86-64 machine: the floating-point pins, set in one place.

Why: the same code and seed gave different teachers (and 176 of 184 different table cells)
on two 2-core x86-64 machines, because the libraries under PyTorch pick their kernels per
CPU. Each pin below removes one such choice:

- MKL_CBWR=COMPATIBLE: MKL's conditional numerical reproducibility on its SSE2 branch.
  Measured here (an AMD EPYC): MKL honours no other branch on a non-Intel CPU (SSE4_2,
  AVX2 and AUTO all gave the unpinned result), so COMPATIBLE is the only setting that can
  make AMD and Intel agree. It costs speed: about 1.7x on matmul-heavy steps (`make bench`).
- ATEN_CPU_CAPABILITY=avx2: PyTorch's own vectorised kernels (reductions, softmax, some
  matmuls) on the AVX2 path whatever the CPU offers (AVX-512 machines otherwise differ).
- ONEDNN_MAX_CPU_ISA=AVX2: the same cap for oneDNN (convolutions such as a ViT's patch
  embedding).
- OPENBLAS_CORETYPE=Haswell: numpy's OpenBLAS, which computes the MovieLens layers'
  products (core/blas.py), runs its AVX2 kernels with fixed blocking on every CPU (it would
  pick other kernels on an AVX-512 machine). Read when numpy loads: `import ikd_lib` first.
- one intra-op thread per process: parallel reductions split work by thread count.
  Parallelism comes from worker processes instead (core/parallel.py).
- torch.use_deterministic_algorithms(True) (without its NaN fill of fresh memory, see
  apply_pins); on GPUs also CUBLAS_WORKSPACE_CONFIG and full float32 (no TF32). Which
  device trains is chosen in device.py.

Two paths that no environment variable pins, replaced instead:
- `sqrt` below: torch.sqrt of a CPU float tensor is MKL's vector math library, whose kernel
  on the COMPATIBLE branch starts from RSQRTPS, the CPU's approximate reciprocal square root,
  whose bits are the vendor's own (an Intel Xeon and an AMD EPYC gave different last bits of
  the same RMSE); numpy's square root is one correctly rounded instruction everywhere.
- the optimiser (optim.py: PinnedAdam): torch's Adam kernels take that square root too, and
  the fused one rounds a tensor's scalar tail differently from its vector body.
`make verify-kernels` (kernels.py) hashes each primitive the tracks use, so a machine on
which one of them computes other bits is named operation by operation.

The environment variables are read when the libraries initialise, so they must be set
before torch runs its first operation: `import ikd_lib` does it (its first line), the
Makefile exports them, worker processes inherit them. `IKD_UNPINNED=1` leaves everything
unpinned (only `make bench` uses it, to measure what the pins cost).

`pin_report()` goes into every record's provenance: the pins, the CPU, and a probe (a
hash of a few fixed computations) that is the same on every machine where the pins hold.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

PINNED_ENV = {
    "MKL_CBWR": "COMPATIBLE",
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "OPENBLAS_CORETYPE": "Haswell",  # numpy's OpenBLAS, the MovieLens layers' products (core/blas.py)
    "OPENBLAS_NUM_THREADS": "1",
    "CUBLAS_WORKSPACE_CONFIG": ":4096:8",  # deterministic cuBLAS (the paper profile on GPUs)
}
THREADS = 1  # intra-op threads per process while computing numbers
# The probe under the pins on the machine that made the committed tables (x86-64, AMD EPYC).
# Another machine whose probe differs computes on other floating-point paths: `make verify`
# says so beside any difference it finds.
REFERENCE_PROBE = "8c67f8f07c1be844"


def unpinned() -> bool:
    return os.environ.get("IKD_UNPINNED") == "1"


def set_pinned_env() -> None:
    """Export the pins (before torch initialises); a no-op under IKD_UNPINNED=1."""
    if unpinned():
        return
    os.environ.update(PINNED_ENV)


def apply_pins() -> None:
    """The pins that need torch: threads and deterministic algorithms."""
    import torch

    if unpinned():
        return
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    # Deterministic mode also fills every uninitialised allocation (torch.empty, the output of
    # each gather) with NaN, so that an op reading memory nobody wrote could not differ between
    # runs. Nothing here reads such memory (a NaN would reach the losses and stop training),
    # so the fill only costs time: ~1.5% of a MovieLens step (an in-process A/B), same numbers.
    torch.utils.deterministic.fill_uninitialized_memory = False
    pin_sqrt()
    # On a GPU, float32 products and convolutions in full float32 (cuDNN convolutions would
    # otherwise take TF32, 10 bits of mantissa): a GPU run differs from the CPU's by rounding
    # order only. bf16 autocast (the paper profile's ViT runs) is not affected.
    torch.backends.cuda.matmul.fp32_precision = "ieee"
    torch.backends.cudnn.conv.fp32_precision = "ieee"


def sqrt(x: torch.Tensor) -> torch.Tensor:
    """The correctly rounded square root, elementwise, the same bits on every CPU (see the
    module docstring; a GPU's torch.sqrt is correctly rounded already). Under the pins it is
    also what torch.sqrt computes on the CPU (`pin_sqrt`), so torch's own code that takes a
    square root (L-BFGS's line search, say) is pinned too. No gradient of its own: torch.sqrt's
    autograd formula sits above the kernel."""
    import numpy as np
    import torch

    if x.device.type != "cpu":
        return torch.sqrt(x)
    if not x.is_floating_point():  # torch promotes integers to the default float
        x = x.to(torch.get_default_dtype())
    if x.dtype in (torch.float16, torch.bfloat16):  # numpy has no bfloat16: through float32
        return sqrt(x.float()).to(x.dtype)
    values = x.detach().numpy()
    out = np.empty_like(values)  # out=: a 0-d input stays an array, not a numpy scalar
    with np.errstate(invalid="ignore"):  # sqrt of a negative: NaN, as torch gives
        np.sqrt(values, out=out)
    return torch.from_numpy(out)


_SQRT_KERNELS = []  # the registration lives as long as the process


def pin_sqrt() -> None:
    """torch.sqrt on CPU tensors (and sqrt_, sqrt out=) computed by `sqrt` above instead of
    MKL's vector math library: torch's own code takes square roots too, e.g. L-BFGS's line
    search (the ViT teacher's probe): 15 % of float32 square roots, 0-d tensors included,
    were not correctly rounded on an Intel Xeon, and which ones depends on the vendor."""
    import torch

    if _SQRT_KERNELS:
        return
    lib = torch.library.Library("aten", "IMPL")

    def sqrt_out(x, *, out):
        return out.copy_(sqrt(x))

    def sqrt_inplace(x):
        return x.copy_(sqrt(x))

    lib.impl("sqrt", sqrt, "CPU")
    lib.impl("sqrt.out", sqrt_out, "CPU")
    lib.impl("sqrt_", sqrt_inplace, "CPU")
    _SQRT_KERNELS.append(lib)


def cpu_name() -> str:
    """The CPU model, e.g. "AMD EPYC" (Linux /proc/cpuinfo; platform elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.lru_cache(maxsize=1)
def probe() -> str:
    """A hash of fixed computations (long-reduction matmuls, softmax, sums) that depend on
    the kernels chosen: equal on two machines when their floating-point paths agree."""
    import torch

    g = torch.Generator().manual_seed(1)
    parts = []
    for m, k, n in ((64, 4096, 64), (1024, 48, 16), (17 * 128, 64, 192)):
        a, b = torch.randn(m, k, generator=g), torch.randn(k, n, generator=g)
        parts.append((a @ b).numpy().tobytes())
    x = torch.randn(4096, 300, generator=g)
    parts += [x.softmax(-1).numpy().tobytes(), x.sum(0).numpy().tobytes()]
    return hashlib.sha256(b"".join(parts)).hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def pin_report() -> dict:
    import torch

    from .openblas import openblas_core

    return {
        "pinned": not unpinned(),
        "env": {k: os.environ.get(k) for k in PINNED_ENV},
        "threads": torch.get_num_threads(),
        "aten_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "openblas_core": openblas_core(),
        "cpu": cpu_name(),
        "machine": platform.machine(),
        "probe": probe(),
        "probe_matches_reference": probe() == REFERENCE_PROBE,
    }
