"""The MovieLens track's models and its three profiles.

A profile bundles everything one `make tables` run needs: `smoke` runs in seconds (tests,
CI), `cpu` on a 2-core laptop in minutes (the default), `paper` at the paper's scale.
The method's and training's knobs themselves live in `core/config.py`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from ..core.bracket import check_search
from ..core.config import TDConfig, TrainConfig, check_choice, check_positive_int
from ..core.stacked import MATMULS


@dataclass(frozen=True)
class RatingModelConfig:
    emb_dim: int  # width of the user and item embeddings
    width: int  # width of the lower and higher hidden layers (equal, so E_g reads both)
    n_upper: int = 1  # Dense-ReLU layers between the lower and the higher tap
    implicit: bool = True  # SVD++-style: a user is also the sum of the items it rated (training split)
    product: bool = True  # the lower layer also reads u ⊙ i, the interaction of a factor model
    emb_std: float = 0.01  # initial spread of the embeddings: small, so a model starts near its biases
    bias_l2: float = 0.01  # L2 on the user and item biases of the examples in a batch
    penalise_implicit: bool = False  # the L2 also covers the implicit sums (a student on a few thousand
    #                                  ratings must be able to shrink to its biases; the teacher's search
    #                                  found the penalty cost it 0.02 RMSE on all genres)
    matmul: str = "openblas"  # who computes the layers' products: "openblas" (core/blas.py: the same
    #                           numbers on any x86-64 CPU with AVX2, its products ~3x faster than
    #                           "torch"'s under the pins)

    def __post_init__(self):
        check_positive_int("emb_dim", self.emb_dim)
        check_positive_int("width", self.width)
        check_positive_int("n_upper", self.n_upper)
        check_choice("matmul", self.matmul, MATMULS)
        for name in ("emb_std", "bias_l2"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")


DISTILL_L2 = ("student", "own")  # where a distilling method's L2 comes from (Profile.distill_l2)


@dataclass(frozen=True)
class Profile:
    name: str
    seeds: tuple[int, ...]  # one run per seed; seed s = same init and data order for every method
    genres: tuple[str, ...]  # MovieLens downstream tasks, Genre 1..n
    student: RatingModelConfig
    teacher: RatingModelConfig
    student_train: TrainConfig
    teacher_train: TrainConfig
    distill_weights: tuple[float, ...]  # grid for the baselines' distillation weight, chosen on validation
    td_weights: tuple[float, ...] = (
        1.0,
    )  # grid for TD (default)'s λ (multiplies w1-w3); its ablations reuse the λ chosen
    td: TDConfig = field(default_factory=TDConfig)  # the "TD (default)" configuration
    separate_comm_steps: tuple[int, ...] = (500, 1000)  # N2 values tried for "train E*, D* separately"
    student_l2s: tuple[float, ...] = (0.3, 3.0, 30.0, 300.0)  # the Student's L2 grid; each seed chooses
    #                                   on validation and every distilling method reuses that choice
    bias_l2s: tuple[float, ...] = (0.001, 0.01, 0.1)  # the "Bias only" row's L2 grid
    teacher_l2: float = 1.0  # the teacher's L2 (chosen by `python -m ikd_lib.movielens.teacher_search`)
    distill_l2: str = "student"  # "student": every distilling method reuses the L2 the Student
    #                                   chose per seed; "own": each searches the Student's L2 grid
    #                                   jointly with its λ (docs/protocol.md: which, and why)
    # How far a searched grid may grow (core/bracket.py): one `search_step` beyond an edge that a
    # seed chose, until every choice is inside its grid or at one of these declared bounds (None:
    # the grid is its own bound, it never grows).
    weight_bounds: tuple[float, float] | None = (1e-3, 1e4)  # λ: at 1e-3 the distillation terms weigh
    #                                   a thousandth of the task's (no distillation), at 1e4 the task a
    #                                   ten-thousandth of theirs (only distillation)
    l2_bounds: tuple[float, float] | None = (3e-3, 3e4)  # the Student's L2: from none to only its biases
    bias_l2_bounds: tuple[float, float] | None = (1e-5, 10.0)  # Bias only's: from none to the baseline's biases
    search_step: float = 10.0  # the factor between a grid's edge and the value grown beyond it

    def __post_init__(self):
        check_choice("distill_l2", self.distill_l2, DISTILL_L2)
        if not self.seeds:
            raise ValueError("a profile needs at least one seed")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {self.seeds}")
        for name, bounds in (
            ("distill_weights", "weight_bounds"),
            ("td_weights", "weight_bounds"),
            ("student_l2s", "l2_bounds"),
            ("bias_l2s", "bias_l2_bounds"),
        ):
            grid = getattr(self, name)
            if not grid or any(not (w > 0 and math.isfinite(w)) for w in grid):
                raise ValueError(f"{name} must be a non-empty tuple of positive, finite numbers, got {grid}")
            try:
                check_search(grid, getattr(self, bounds) or (min(grid), max(grid)), self.search_step)
            except ValueError as e:
                raise ValueError(
                    f"profile {self.name!r}: {name} {tuple(grid)} with {bounds} {getattr(self, bounds)}: {e}"
                ) from None

    @property
    def tasks(self) -> tuple[str, ...]:
        """The table columns (core.Experiment's name for them)."""
        return self.genres


STUDENT = RatingModelConfig(emb_dim=8, width=16, n_upper=1)
# The teacher chosen by `python -m ikd_lib.movielens.teacher_search` on all-genre validation RMSE
# (tables/teacher_search.md): about 10x the student's parameters.
TEACHER = RatingModelConfig(emb_dim=80, width=32, n_upper=1)
TEACHER_TRAIN = TrainConfig(lr=1e-3, batch_size=1024, max_epochs=40, patience=4)
WEIGHTS = (1.0, 10.0, 100.0)  # λ grid: one value per decade (the old six-value grid chose 1-300)
GENRES = ("Drama", "Action", "Romance", "Sci-Fi", "Crime", "Horror", "Musical", "Western")

PROFILES: dict[str, Profile] = {
    # seconds: two seeds, two genres, a couple of epochs; for tests and CI
    "smoke": Profile(
        name="smoke",
        seeds=(0, 1),
        genres=("Drama", "Western"),
        student=STUDENT,
        teacher=TEACHER,
        student_train=TrainConfig(max_epochs=3, patience=2),
        teacher_train=TrainConfig(max_epochs=3, patience=2),
        distill_weights=(1.0,),
        td=TDConfig(warmup_student_steps=20, warmup_comm_steps=10),
        # seconds: the grids may not grow (every choice is at a bound); the cpu profile's do
        weight_bounds=None,
        l2_bounds=None,
        bias_l2_bounds=None,
        separate_comm_steps=(10,),
    ),
    # minutes on a 2-core laptop: the default of `make tables`
    "cpu": Profile(
        name="cpu",
        seeds=(0, 1, 2, 3, 4),
        genres=GENRES,
        student=STUDENT,
        teacher=TEACHER,
        student_train=TrainConfig(max_epochs=30, patience=5, start_guard=2.0),
        teacher_train=TEACHER_TRAIN,
        distill_weights=WEIGHTS,
        td_weights=WEIGHTS,
    ),
    # the paper's protocol at full patience and a wider weight grid (GPU or a long night)
    "paper": Profile(
        name="paper",
        seeds=(0, 1, 2, 3, 4),
        genres=GENRES,
        student=STUDENT,
        teacher=TEACHER,
        student_train=TrainConfig(batch_size=256, lr=1e-3, max_epochs=200, patience=20),
        teacher_train=TrainConfig(batch_size=256, lr=1e-3, max_epochs=200, patience=10),
        distill_weights=(0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0),
        td_weights=(0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0),
    ),
}


def get_profile(name: str, **overrides) -> Profile:
    """The named profile, optionally with fields replaced (e.g. seeds=(0,), genres=("Drama",))."""
    check_choice("profile", name, tuple(PROFILES))
    profile = PROFILES[name]
    if "genres" in overrides:
        from .data import check_genres

        check_genres(overrides["genres"])
        overrides["genres"] = tuple(overrides["genres"])
    if "seeds" in overrides:
        overrides["seeds"] = tuple(int(s) for s in overrides["seeds"])
    return replace(profile, **overrides) if overrides else profile
