"""Files written with torch.save that other runs read: teachers, probes, checkpoints. One rule
for writing (whole, then renamed: a reader never sees half a file) and one for reading a cache
(a missing file is None; a damaged one is moved aside, named, and computed again).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch


def atomic_save(obj, path) -> None:
    """torch.save(obj) to `path`, written to a temporary file beside it and then renamed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_cached(path):
    """A cached file, or None; a damaged one is moved aside (named) and recomputed."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # truncated or corrupt: any unpickling error
        aside = path.with_name(path.name + ".damaged")
        os.replace(path, aside)
        print(f"damaged cache file moved aside ({type(e).__name__}: {e}) -> {aside}; recomputing")
        return None
