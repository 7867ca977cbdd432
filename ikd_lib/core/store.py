"""The results store: one JSON record per run, written atomically.

A run is one (variant, task, seed, distillation weight). Records of one stack share a
config hash; a stack whose records all exist is skipped, so an interrupted `make tables`
resumes where it stopped and finished runs are never recomputed or lost.
"""
from __future__ import annotations

import functools
import json
import os
import platform
import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]   # the repository (ikd_lib/core/store.py)


def runs_dir(profile: str) -> Path:
    """Where a profile keeps its records, logs and executed notebooks (not in git)."""
    return Path(os.environ.get("IKD_RUNS_DIR", REPO_ROOT / "runs")) / profile


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as tmp:
        tmp.write(data)
    os.replace(tmp.name, path)


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=1, sort_keys=True, default=_jsonable).encode())


def _jsonable(x):
    if isinstance(x, (np.integer, np.floating)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


@functools.lru_cache(maxsize=1)
def git_revision() -> str:
    """Short commit of the code that made a number, '+dirty' when uncommitted changes exist."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], cwd=REPO_ROOT,
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "ikd_lib"],
                               cwd=REPO_ROOT, capture_output=True, text=True).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


@functools.lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    import pandas
    import scipy
    import torch
    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "pandas": pandas.__version__, "scipy": scipy.__version__, "machine": platform.machine()}


def provenance() -> dict:
    return {"git_revision": git_revision(), "packages": package_versions(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}


class ResultStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def record_path(self, variant: str, task: str, seed: int, weight: float, key: str) -> Path:
        return self.root / "records" / variant / _safe(task) / f"seed{seed}_w{weight:g}_{key}.json"

    def log_path(self, variant: str, task: str, key: str) -> Path:
        return self.root / "logs" / variant / _safe(task) / f"{key}.npz"

    def has_all(self, paths) -> bool:
        return all(Path(p).exists() for p in paths)

    def write(self, path: Path, record: dict) -> None:
        atomic_write_json(path, record)

    def read(self, path: Path) -> dict:
        return json.loads(Path(path).read_text())

    def write_log(self, path: Path, arrays: dict[str, np.ndarray]) -> None:
        import io
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **{k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()})
        atomic_write_bytes(path, buffer.getvalue())



def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
