"""A run spec: everything one launched run needs, as a JSON file beside its results, so that a
launcher (a subprocess, a SLURM job, a requeued job) needs only the file's path.

kind "train": one (variant, dataset, seed, λ) run; result in <out>/result.json, its per-step
              training losses in <out>/steps.npz (written first: a finished run has both).
kind "probe": the teacher's linear probe on a dataset; result in <probe_file>.

A spec's hash leaves out where it runs (out, workers, progress): a result written under the same
hash is the spec's result, whichever launcher wrote it. What a spec's fields mean is the track's
(its entry module reads them: vision/paper/run.py); this module knows only kind, out and the
files a run leaves.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from ..core.config import config_hash
from ..core.store import atomic_write_bytes, atomic_write_json

SPEC, RESULT, STEPS = "spec.json", "result.json", "steps.npz"
WHERE = ("out", "workers", "progress")  # not part of what a run computes


def spec_hash(spec: dict) -> str:
    return config_hash({k: v for k, v in spec.items() if k not in WHERE})


def write(spec: dict) -> Path:
    path = Path(spec["out"]) / SPEC
    atomic_write_json(path, spec)
    return path


def load(path) -> dict:
    return json.loads(Path(path).read_text())


def finished(spec: dict) -> bool:
    """Has this spec's result been written (by this spec, not by an older one in the same folder)?"""
    if spec["kind"] == "probe":
        return Path(spec["probe_file"]).is_file()  # named by its hash (the track's probe_key)
    path = Path(spec["out"]) / RESULT
    return path.is_file() and json.loads(path.read_text()).get("spec_hash") == spec_hash(spec)


def result(spec: dict) -> dict:
    return json.loads((Path(spec["out"]) / RESULT).read_text())


def describe(spec: dict) -> str:
    if spec["kind"] == "probe":
        return f"probe · {spec['dataset']}"
    return f"{spec['variant']} · {spec['dataset']} · seed {spec['seed']} · λ {spec['weight']:g}"


def write_step_log(path, step_log) -> None:
    """name -> [steps] (tensors on the CPU or arrays) as an .npz, written whole and then renamed (a
    reader never sees half)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{k: np.asarray(v, dtype=np.float32) for k, v in step_log.items()})
    atomic_write_bytes(Path(path), buffer.getvalue())


def read_step_log(path) -> dict[str, np.ndarray]:
    """What write_step_log wrote: name -> float32 array [steps]."""
    with np.load(path) as saved:
        return {k: saved[k] for k in saved.files}


def step_log(spec: dict) -> dict:
    """A finished train spec's per-step training losses: loss name -> float32 array [steps]."""
    path = Path(spec["out"]) / STEPS
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing beside its result.json (a run made by a version of ikd_lib "
            f"that kept no per-step losses): delete the folder {path.parent} and launch "
            f"again to rerun {describe(spec)}"
        )
    return read_step_log(path)
