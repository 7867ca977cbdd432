"""Where the core loop computes: the pinned CPU path, or a GPU.

The setting `IKD_DEVICE` chooses:

    cpu       the CPU, under the floating-point pins (determinism.py): the committed tables
    cuda      the first GPU (cuda:N for another); deterministic cuBLAS and kernels
    auto      a GPU when torch sees one, else the CPU

Unset, the smoke and cpu profiles compute on the CPU (their tables are committed, and
`make verify` must reproduce them on any machine, with or without a GPU) and the paper
profile takes `auto`.

Why a GPU run has its own config hash: a GPU adds and multiplies in other orders than the
pinned CPU kernels, so its numbers differ in the last bits and, through early stopping,
sometimes more. Stamping `"device": "cuda"` into the configuration of every stack trained
on a GPU keeps such runs apart from the CPU's in the results store; a CPU run's
configuration, and so its hash, is exactly what it was before GPUs were supported.
Deterministic on a GPU means: the same GPU model and software give the same numbers
(torch.use_deterministic_algorithms and CUBLAS_WORKSPACE_CONFIG, set in determinism.py).
"""

from __future__ import annotations

import os

import torch

SETTING = "IKD_DEVICE"
DEFAULT_BY_PROFILE = {"paper": "auto"}  # any other profile: "cpu"


def requested_device(profile_name: str | None) -> str:
    return os.environ.get(SETTING) or DEFAULT_BY_PROFILE.get(profile_name or "", "cpu")


def compute_device(profile_name: str | None = None) -> torch.device:
    """The device the core loop trains on, from IKD_DEVICE or the profile's default; a clear
    error for a value that is not a device or a GPU that is not there."""
    wanted = requested_device(profile_name).strip().lower()
    if wanted == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(wanted)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise ValueError(
            f"{SETTING}={wanted!r} is not a device the loop can train on. "
            "Fix: set it to cpu, cuda (cuda:N for another GPU) or auto."
        )
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"{SETTING}={wanted!r} asks for a GPU, but torch sees none "
                f"(torch {torch.__version__}, built for CUDA {torch.version.cuda}). "
                f"Fix: unset {SETTING} (or set it to cpu or auto) on this machine, or install "
                "a CUDA build of torch on a machine with an NVIDIA GPU."
            )
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise RuntimeError(
                f"{SETTING}={wanted!r}, but this machine has {torch.cuda.device_count()} GPU(s). "
                f"Fix: choose cuda:0 .. cuda:{torch.cuda.device_count() - 1}."
            )
    return device


def config_stamp(device: torch.device) -> dict:
    """What a stack's configuration gains from its device: nothing on the CPU (so CPU hashes
    never move), {"device": "cuda"} on a GPU."""
    return {} if device.type == "cpu" else {"device": device.type}


def hash_parts(device: torch.device | None) -> tuple:
    """What a cache key (a teacher's, say) gains from its device: (config_stamp,) on a GPU,
    nothing on the CPU or when no device is given, so CPU keys never move."""
    return (config_stamp(device),) if device is not None and device.type != "cpu" else ()


def device_report(device: torch.device) -> dict:
    """The device beside every record's provenance: which GPU, under which CUDA."""
    if device.type == "cpu":
        return {"type": "cpu"}
    return {
        "type": device.type,
        "name": torch.cuda.get_device_name(device),
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
    }
