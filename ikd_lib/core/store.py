"""The results store: one JSON record per run, written atomically.

A run is one (variant, task, seed, distillation weight, l2). Records of one stack share a
config hash; a stack whose records all exist is skipped, so an interrupted `make tables`
resumes where it stopped and finished runs are never recomputed or lost.

Robustness:
- a record that does not parse or lacks fields is moved aside to `damaged/` (the message
  names it) and its stack is recomputed; nothing else is touched;
- a stack is computed under a lock file (`locks/`): a second `make tables` on the same store
  waits for it and then loads its records instead of computing them again. The lock is an
  OS file lock (flock), so it is released when its owner dies, however it dies.

Besides records (`records/`) and training logs (`logs/`), `warmups/` keeps the training
state that the "separate" schedules share (core/warmup.py).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]  # the repository (ikd_lib/core/store.py)


def runs_dir(profile: str) -> Path:
    """Where a profile keeps its records, logs and executed notebooks (not in git)."""
    return Path(os.environ.get("IKD_RUNS_DIR", REPO_ROOT / "runs")) / profile


def cache_root(cache_dir=None) -> Path:
    """The local cache (data, teachers, probes): cache_dir, env IKD_CACHE_DIR, or <repo>/.cache."""
    return Path(cache_dir or os.environ.get("IKD_CACHE_DIR") or REPO_ROOT / ".cache")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as tmp:
        tmp.write(data)
    readable(tmp.name)
    os.replace(tmp.name, path)


def readable(path) -> None:
    """The permissions a plain open() would give (mkstemp makes files private to their owner)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


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
        rev = subprocess.run(
            ["git", "rev-parse", "--short=10", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "ikd_lib"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


@functools.lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    import pandas
    import scipy
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pandas": pandas.__version__,
        "scipy": scipy.__version__,
        "machine": platform.machine(),
    }


def provenance() -> dict:
    from .determinism import pin_report

    return {
        "git_revision": git_revision(),
        "packages": package_versions(),
        "pins": pin_report(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


REQUIRED_FIELDS = ("variant", "task", "seed", "distill_weight", "valid_metric", "test_metric", "config_hash", "config")


class DamagedRecord(ValueError):
    """A record file that does not parse or lacks fields."""


@contextlib.contextmanager
def file_lock(path: Path, what: str):
    """An exclusive lock on `path` (created if needed), held while the block runs; another
    process asking for it waits. flock: the OS releases it when the holder dies."""
    import filelock

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        print(f"waiting for another process that computes {what} ({path})", file=sys.stderr, flush=True)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


class ResultStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def record_path(self, variant: str, task: str, seed: int, weight: float, l2: float, key: str) -> Path:
        return self.root / "records" / variant / _safe(task) / f"seed{seed}_w{weight:g}_l2{l2:g}_{key}.json"

    def log_path(self, variant: str, task: str, key: str) -> Path:
        return self.root / "logs" / variant / _safe(task) / f"{key}.npz"

    def lock(self, variant: str, task: str, key: str):
        """Held while a stack is computed (see the module docstring)."""
        return file_lock(self.root / "locks" / f"{variant}__{_safe(task)}__{key}.lock", f"{variant} · {task}")

    def has_all(self, paths) -> bool:
        return all(Path(p).exists() for p in paths)

    def write(self, path: Path, record: dict) -> None:
        atomic_write_json(path, record)

    def read(self, path: Path) -> dict:
        """One record; a damaged one raises DamagedRecord naming the file."""
        path = Path(path)
        try:
            record = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DamagedRecord(f"{path}: not valid JSON ({e})") from e
        missing = [k for k in REQUIRED_FIELDS if not isinstance(record, dict) or k not in record]
        if missing:
            raise DamagedRecord(f"{path}: missing fields {missing}")
        return record

    def load_all(self, paths) -> list[dict] | None:
        """Every record of a stack, or None when one is missing or damaged. A damaged record
        is moved aside to damaged/ (named in the message), so the stack is recomputed."""
        if not self.has_all(paths):
            return None
        records = []
        for path in paths:
            try:
                records.append(self.read(path))
            except DamagedRecord as e:
                self.move_aside(Path(path), str(e))
                return None
        return records

    def move_aside(self, path: Path, why: str) -> Path:
        target = self.root / "damaged" / path.relative_to(self.root)
        target = target.with_name(f"{target.name}.{datetime.now(UTC):%Y%m%dT%H%M%S%f}")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        print(
            f"damaged record moved aside and its runs will be recomputed: {why} -> {target}",
            file=sys.stderr,
            flush=True,
        )
        return target

    def write_log(self, path: Path, arrays: dict[str, np.ndarray]) -> None:
        import io

        buffer = io.BytesIO()
        np.savez_compressed(buffer, **{k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()})
        atomic_write_bytes(path, buffer.getvalue())


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
