"""The ViT track's variants: the rows of Tables 4, 6 and 9, in order (the same methods as the
MovieLens track, the Teacher row being the teacher's linear probe), and what a stack's
configuration says of its student and training. Read by the cpu profile's experiment
(experiment.py) and by the paper profile's (paper/experiment.py, paper/ddp.py).
"""

from __future__ import annotations

from dataclasses import asdict, replace

from ..core.experiment import Variant, baseline_variants, td_variants
from ..core.optim import NUMERICS
from .profiles import Profile

VARIANT_KEYS = ("teacher", "student", "kd", "fitnet", "fd", "hybrid", "td", "td_k0", "td_k2", "td_no_sc", "td_noise")


def vision_variants(profile: Profile, noise_std: float) -> dict[str, Variant]:
    variants = baseline_variants() + td_variants(profile.td, noise_std, k_max=2)
    by_key = {v.key: v for v in variants}
    by_key["teacher"] = replace(by_key["teacher"], label="Teacher (probe)")
    return {k: by_key[k] for k in VARIANT_KEYS}


def student_run_config(p: Profile, variant: Variant, name: str) -> dict:
    """What a ViT stack's configuration says of its student and training, in process or launched."""
    return {
        "experiment": "vision",
        "profile": p.name,
        "variant": variant.key,
        "method": variant.method,
        "model": variant.model,
        "task": name,
        "td": asdict(variant.td) if variant.td else None,
        "vit": asdict(p.vit),
        "train": asdict(p.student_train),
        "temperature": p.temperature,
        "valid_per_class": p.valid_per_class[name],
        "numerics": NUMERICS,
    }
