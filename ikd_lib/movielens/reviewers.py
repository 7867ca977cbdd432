"""The reviewers' study on MovieLens (docs/reviewers.md): the MovieLens experiment plus the
variants and tasks that answer the paper's public reviews.

    exp = ReviewersExperiment(get_profile("cpu"))
    records = exp.run_study()            # only what is not in the store yet

It shares the MovieLens store: the rows of Tables 3, 5, 7, 8 it needs (Student, KD, TD, ...)
are the same runs with the same config hashes, loaded, not trained again. What it adds:
  - "oneway": the parameter-matched one-way control (core/reviewer_methods.OneWayControl),
    its own λ grid (TD's);
  - "plus_kd<μ>": TD + logit KD, λ as TD (default) chose per seed, one variant per μ, starting
    from KD's grid and grown per genre like any λ until it brackets the choices (the row picks μ
    per seed on validation; `mu_search`);
  - "thaw_lr<η>": TD whose teacher's h_up learns at rate η, λ as TD (default) chose;
  - "cka_<variant>": a row of Table 3 trained again with the choices it made per seed, to
    analyse the trained student (CKA, probes): the store keeps numbers, not weights;
  - the data-size sweep: Drama with its training ratings cut to nested, seeded subsets
    (tasks "Drama 1%", ...; "Drama" itself is 100 %), validation and test unchanged.
Every new variant's records carry an "analysis" (linear CKA of s_h with t_h on test, probe
R²s; for "thaw", the teacher's all-genre validation RMSE before and after).
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ..core.alignment import linear_cka, probe_r2
from ..core.bracket import Search, search
from ..core.determinism import sqrt as pinned_sqrt
from ..core.experiment import NotInStore, Variant
from ..core.methods import TalkingModels
from ..core.reviewer_methods import REVIEWER_METHODS, build_reviewer_method
from .data import genre_task
from .experiment import MovieLensExperiment, make_experiment  # noqa: F401  (make_experiment: report.Track)
from .models import LearningTeacher
from .profiles import Profile, get_profile

SWEEP_GENRE = "Drama"  # the densest genre
SWEEP_FRACTIONS = (0.01, 0.03, 0.1, 0.3, 1.0)  # of its training ratings
SWEEP_SEED = 0  # the permutation every subset is cut from
SWEEP_METHODS = ("bias_only", "student", "kd", "fitnet", "fd", "hybrid", "td")
TEACHER_LRS = (1e-4, 1e-3)  # h_up's learning rate (the student's: 3e-3)
TEACHER_LR_BOUNDS = (1e-6, 1e-2)  # how far its grid may grow: from a teacher that
#                                                         barely moves to three times the student's rate
REPLAYED = ("student", "kd", "fitnet", "fd", "hybrid", "td_k0", "td")  # analysed (CKA, probes)
ANALYSIS_FORMAT = 1  # bumped when the analysis changes


@dataclass(frozen=True)
class StudyVariant(Variant):
    replays: str | None = None  # the variant whose per-seed choices it trains again, to analyse
    kd_weight: float = 0.0  # μ of TD + KD
    teacher_lr: float = 0.0  # the teacher's h_up learning rate (the "teacher learns" variant)


def plus_kd_variant(profile: Profile, mu: float) -> StudyVariant:
    """TD + KD at one μ (its key names μ: "plus_kd10")."""
    return StudyVariant(f"plus_kd{mu:g}", f"TD + KD (μ={mu:g})", "td_kd", profile.td, kd_weight=mu)


def thaw_variant(profile: Profile, lr: float) -> StudyVariant:
    """TD whose teacher's h_up learns at rate η (its key names η: "thaw_lr0.001")."""
    return StudyVariant(
        f"thaw_lr{lr:g}", f"TD, teacher learns (η={lr:g})", "td_teacher_learns", profile.td, teacher_lr=lr
    )


@dataclass(frozen=True)
class Family:
    """Variants that differ in one value, which a row chooses per seed (a grid that grows)."""

    method: str
    grid: Callable[[Profile], tuple[float, ...]]  # where the search starts
    make: Callable[[Profile, float], StudyVariant]
    value: Callable[[StudyVariant], float]


FAMILIES = {
    "plus_kd": Family("td_kd", lambda p: tuple(p.distill_weights), plus_kd_variant, lambda v: v.kd_weight),
    "thaw": Family("td_teacher_learns", lambda p: TEACHER_LRS, thaw_variant, lambda v: v.teacher_lr),
}


def reviewer_variants(profile: Profile, base: dict[str, Variant]) -> dict[str, StudyVariant]:
    td = profile.td
    variants = [StudyVariant("oneway", "One-way control", "oneway", td)]
    variants += [plus_kd_variant(profile, mu) for mu in profile.distill_weights]
    variants += [thaw_variant(profile, lr) for lr in TEACHER_LRS]
    variants += [
        StudyVariant(f"cka_{key}", base[key].label, base[key].method, base[key].td, base[key].model, replays=key)
        for key in REPLAYED
    ]
    return {v.key: v for v in variants}


# ---------------------------------------------------------------- the data-size sweep
def sweep_task_name(fraction: float) -> str:
    return SWEEP_GENRE if fraction == 1 else f"{SWEEP_GENRE} {100 * fraction:g}%"


SWEEP_TASKS = {sweep_task_name(f): f for f in SWEEP_FRACTIONS}


def subsample_training(table, fraction: float, seed: int = SWEEP_SEED):
    """The ratings with only the first ceil(fraction · n) training ratings of one seeded
    permutation kept (so a smaller subset lies inside every larger one); validation and test
    untouched."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    train = np.flatnonzero(table["split"].to_numpy() == "train")
    order = np.random.default_rng(seed).permutation(len(train))
    kept = train[order[: math.ceil(fraction * len(train))]]
    mask = table["split"].to_numpy() != "train"
    mask[kept] = True
    return table[mask].reset_index(drop=True)


# ---------------------------------------------------------------- analysis of a trained stack
def _rows(x: torch.Tensor, r: int) -> np.ndarray:
    return x[r].reshape(-1, x.shape[-1]).double().cpu().numpy()


class StackAnalysis:
    """After training: per replica, linear CKA of the student's s_h with its teacher's t_h on
    the test ratings, and linear-probe R² (fitted on the training ratings, judged on test)
    from s_h, from the message E_g(s_h) and from the teacher's first answer
    E_h(h_up(D_h(E_g(s_l)))) where the method has them, and from the teacher's t_h. With a
    learning teacher, also its all-genre validation RMSE before training and after.

    Everything is read at each replica's restored (best) epoch: the loop restores the
    student, and this puts back what else trained (E*, D*, a learning teacher's h_up) as it
    was at the end of that epoch, from a copy kept after every epoch."""

    def __init__(self, method, task, teacher_index, teacher_check=None):
        self.method, self.task, self.teacher_index = method, task, teacher_index
        self.teacher_check = teacher_check  # () -> RMSE per replica, for a learning teacher
        self.before = teacher_check() if teacher_check else None
        student = {id(p) for p in method.student.parameters()}
        self.others = {n: p for n, p in method.named_parameters() if id(p) not in student and p.requires_grad}
        self.kept = [self.snapshot()]  # index = epoch (0: as initialised)

    def snapshot(self) -> dict[str, torch.Tensor]:
        return {n: p.detach().clone() for n, p in self.others.items()}

    def on_epoch(self, epoch, epoch_log):
        if epoch != len(self.kept):
            raise RuntimeError(
                f"the analysis keeps one copy per epoch from epoch 1; got epoch {epoch} "
                f"after {len(self.kept) - 1} (a shared warm-up is not supported here)"
            )
        self.kept.append(self.snapshot())

    @torch.no_grad()
    def restore(self, best_epoch) -> None:
        for name, p in self.others.items():
            for r, epoch in enumerate(best_epoch):
                p[r].copy_(self.kept[epoch][name][r])

    @torch.no_grad()
    def states(self, split: str) -> dict[str, torch.Tensor]:
        m, part = self.method, self.task.split(split)
        m.eval()
        _, states = m.student(part.inputs[None])
        out = {"s_h": states["high"], "t_h": part.teacher["high"][self.teacher_index]}
        comm = getattr(m, "comm", None)
        if comm is not None:
            out["message"] = comm.encode_student(states["high"])
            if isinstance(m, TalkingModels):
                out["answer"] = comm.encode_teacher(
                    m.teacher.up(comm.decode_teacher(comm.encode_student(states["low"])))
                )
        return out

    def finish(self, result) -> list[dict]:
        self.restore(result.best_epoch)
        train, test = self.states("train"), self.states("test")
        y_train, y_test = self.task.train.target.cpu().numpy(), self.task.test.target.cpu().numpy()
        after = self.teacher_check() if self.teacher_check else None
        out = []
        for r in range(len(self.teacher_index)):
            row = {"format": ANALYSIS_FORMAT, "cka_high": linear_cka(_rows(test["s_h"], r), _rows(test["t_h"], r))}
            for name, key in (("state", "s_h"), ("message", "message"), ("answer", "answer"), ("teacher", "t_h")):
                if key in test:
                    row[f"r2_{name}"] = probe_r2(_rows(train[key], r), y_train, _rows(test[key], r), y_test)
            if after is not None:
                row["teacher_valid_rmse_before"] = float(self.before[r])
                row["teacher_valid_rmse_after"] = float(after[r])
            out.append(row)
        return out


class ReviewersExperiment(MovieLensExperiment):
    def __init__(self, profile: Profile, grown=(), **kwargs):
        """grown: (family, value) of variants beyond the profile's grids that a search grew (a
        worker process is told them, to know their variants)."""
        super().__init__(profile, **kwargs)
        self.variants |= reviewer_variants(profile, self.variants)
        for family, value in grown:
            self.family_variant(family, value)
        self._teacher_valid = None
        self.study_counts: dict[str, int] = {}  # stacks run (and computed) by this experiment's run calls
        self.family_searches: dict[tuple[str, str], Search] = {}  # (family, genre) -> its search, bracketed
        self.family_start: dict[tuple[str, str], tuple[float, ...]] = {}  # (family, genre) -> start (verify)

    def worker_factory(self):
        grown = tuple(
            (family, spec.value(v))
            for v in self.variants.values()
            for family, spec in FAMILIES.items()
            if isinstance(v, StudyVariant) and v.method == spec.method and spec.value(v) not in spec.grid(self.profile)
        )
        return functools.partial(ReviewersExperiment, **self.worker_args, grown=grown, progress=False, workers=1)

    # ------------------------------------------------------------ what runs
    def study_jobs(self) -> list[tuple[list[str], tuple[str, ...]]]:
        """(variants, tasks) of the whole study: the genres' rows, then the sweep."""
        genres = self.profile.genres
        per_genre = ["student", "kd", "fitnet", "fd", "hybrid", "oneway"]
        per_genre += [v for v in self.variants if v.startswith(("td", "cka_"))]
        per_genre += [spec.make(self.profile, v).key for spec in FAMILIES.values() for v in spec.grid(self.profile)]
        # (then each family's grid grows per genre: run_study)
        sweep = tuple(t for t in SWEEP_TASKS if t != SWEEP_GENRE or SWEEP_GENRE in genres)
        return [(per_genre, genres), (list(SWEEP_METHODS), sweep)]

    def run(self, variant_keys=None, tasks=None, desc: str = "runs") -> list[dict]:
        """As every experiment's; study_counts adds up the stacks of every call (a study makes
        several: one per part, one per grown value of a family)."""
        records = super().run(variant_keys, tasks, desc)
        self.study_counts = {k: self.study_counts.get(k, 0) + self.last_run[k] for k in ("stacks", "computed")}
        return records

    def run_study(self) -> list[dict]:
        """Every run the study reads, computed when not in the store (one worker pool per part),
        TD + KD's μ and the learning teacher's η grown per genre until they bracket."""
        records = []
        for keys, tasks in self.study_jobs():
            records += self.run(keys, tasks, desc="reviewers")
        for genre in self.profile.genres:
            records += self.grown_records(genre)
        return records

    def stored_study(self) -> list[dict]:
        records = []
        for keys, tasks in self.study_jobs():
            records += self.stored(keys, tasks)
        for genre in self.profile.genres:
            with self.loading_only(), contextlib.suppress(NotInStore):
                records += self.grown_records(genre)
        return records

    # ------------------------------------------------------------ grids of variants, searched like a λ
    # TD + KD's μ and the learning teacher's η are each a family of variants, one per value; the
    # row picks a value per seed on validation. Each family's grid grows per genre like any λ.
    def family_bounds(self, family: str, genre: str) -> tuple[float, float]:
        """μ weighs logit KD as λ does in KD: KD's declared bounds. η: TEACHER_LR_BOUNDS."""
        if family == "plus_kd":
            return self.search_bounds(self.variants["kd"], genre, "distill_weight")
        return TEACHER_LR_BOUNDS if self.profile.weight_bounds is not None else (min(TEACHER_LRS), max(TEACHER_LRS))

    def family_variant(self, family: str, value: float) -> str:
        """The key of the family's variant at `value`, registered if a search grew it."""
        variant = FAMILIES[family].make(self.profile, value)
        self.variants.setdefault(variant.key, variant)
        return variant.key

    def family_search(self, family: str, genre: str) -> Search:
        """The family's grid on one genre: the profile's, grown a step beyond an edge some seed
        chose (each seed choosing on validation, as the table's row does) until every choice is
        interior, tied or at a bound (core/bracket.py). Runs what is missing, unless loading only."""
        if (family, genre) not in self.family_searches:

            def validation(values):
                keys = [self.family_variant(family, v) for v in values]
                if not self._load_only:
                    self.run(keys, (genre,), desc=f"{family} · {genre}")
                out: dict[int, dict[float, float]] = {}
                for value, key in zip(values, keys):
                    for r in self.run_variant(self.variants[key], genre):
                        out.setdefault(r["seed"], {})[value] = r["valid_metric"]
                return out

            self.family_searches[family, genre] = search(
                self.family_start.get((family, genre)) or FAMILIES[family].grid(self.profile),
                validation,
                self.family_bounds(family, genre),
                self.step_of(),
                self.higher_is_better,
            )
        return self.family_searches[family, genre]

    def grown_records(self, genre: str) -> list[dict]:
        """The records of every family's values beyond the profile's grid on this genre."""
        records = []
        for family, spec in FAMILIES.items():
            grown = [v for v in self.family_search(family, genre).grid if v not in spec.grid(self.profile)]
            for value in grown:
                records += self.run_variant(self.variants[self.family_variant(family, value)], genre)
        return records

    # ------------------------------------------------------------ tasks
    def _ratings(self, name: str):
        if name in SWEEP_TASKS and name != SWEEP_GENRE and name not in self._tasks:
            from .tasks import rating_task

            table = subsample_training(genre_task(self.ml, SWEEP_GENRE), SWEEP_TASKS[name])
            self._tasks[name] = rating_task(name, table, self.n_users, self.n_items)
        return super()._ratings(name)

    def expected_cost(self, job) -> float:
        if job[0] != "@teacher" and job[1] in SWEEP_TASKS and job[1] not in self._n_train:
            self._n_train[job[1]] = len(self._ratings(job[1]).train)
        variant = self.variants.get(job[0])
        cost = super().expected_cost(job)
        return cost * 1.5 if isinstance(variant, StudyVariant) and variant.method == "oneway" else cost

    # ------------------------------------------------------------ choices
    def _replayed(self, variant) -> Variant | None:
        return self.variants[variant.replays] if getattr(variant, "replays", None) else None

    def weight_source(self, variant):
        source = self._replayed(variant)
        if source is not None:  # the λ its source chose (or inherited) per seed
            own_grid = len(super().weight_grid(source, "")) > 1
            return super().weight_source(source) or (source.key if own_grid else None)
        if variant.method in ("td_kd", "td_teacher_learns"):
            return "td"  # changes one thing of TD (default): keeps the λ it chose per seed
        return super().weight_source(variant)

    def weight_grid(self, variant, task_name):
        if variant.method == "oneway":
            return self.profile.td_weights  # TD's λ grid
        return super().weight_grid(variant, task_name)

    def distills(self, variant) -> bool:
        return variant.method in REVIEWER_METHODS or super().distills(variant)

    def l2_source(self, variant):
        source = self._replayed(variant)
        if source is not None:
            return super().l2_source(source) or source.key
        return super().l2_source(variant)

    def run_config(self, variant, genre):
        config = super().run_config(variant, genre)
        if isinstance(variant, StudyVariant):
            config["study"] = {
                "replays": variant.replays,
                "kd_weight": variant.kd_weight,
                "teacher_lr": variant.teacher_lr,
                "analysis": ANALYSIS_FORMAT,
            }
        if genre in SWEEP_TASKS and genre != SWEEP_GENRE:
            config["subsample"] = {
                "genre": SWEEP_GENRE,
                "fraction": SWEEP_TASKS[genre],
                "seed": SWEEP_SEED,
                "n_train": len(self._ratings(genre).train),
            }
        return config

    # ------------------------------------------------------------ building
    def teacher_for(self, variant, teacher_index):
        if variant.method == "td_teacher_learns":
            return LearningTeacher(self.teacher, teacher_index)
        return super().teacher_for(variant, teacher_index)

    def make_method(self, variant, model, teacher, weights, task, noise_seed):
        if variant.method in REVIEWER_METHODS:
            return build_reviewer_method(
                variant.method,
                model,
                teacher,
                weights,
                task,
                variant.td,
                noise_seed,
                kd_weight=variant.kd_weight,
                teacher_lr=variant.teacher_lr,
            )
        return super().make_method(variant, model, teacher, weights, task, noise_seed)

    def preparations(self, variant) -> tuple[str, ...]:
        """A run of the study is analysed against the teacher's states (t_h for its CKA), the
        Student's replay too: its task needs them attached, whichever process trains it."""
        return ("teacher",) if isinstance(variant, StudyVariant) else super().preparations(variant)

    def training_observer(self, variant, method, task):
        if not isinstance(variant, StudyVariant):
            return None
        teacher_index = torch.tensor([self.profile.seeds.index(s) for s in method.student.seeds])
        check = None
        if variant.method == "td_teacher_learns":
            check = functools.partial(self.teacher_valid_rmse, method.teacher, teacher_index)
        return StackAnalysis(method, task, teacher_index, check)

    @torch.no_grad()
    def teacher_valid_rmse(self, up, teacher_index) -> list[float]:
        """The all-genre validation RMSE of each replica's teacher with the upper layers `up`
        (its lower layers, head and biases as trained): the teacher's prediction is linear in
        t_h, so ŷ' = ŷ + (h_up'(t_l) − t_h) · w_head."""
        if self._teacher_valid is None:  # the frozen teacher's own pass, on the CPU, once
            valid, teacher = self.all_genres.valid, self.teacher
            pred, states = teacher(valid.inputs[None])
            self._teacher_valid = (
                pred,
                states["low"],
                states["high"],
                valid.target,
                teacher.head_layer.weight.detach().clone(),
            )
        device = next(up.parameters()).device  # where the learning copies train (a GPU, or the CPU)
        pred, low, high, target, head = (t.to(device) for t in self._teacher_valid)
        teacher_index = teacher_index.to(device)
        head = head[teacher_index]  # [R, width, 1]
        moved = pred[teacher_index] + ((up.up(low[teacher_index]) - high[teacher_index]) @ head).squeeze(-1)
        return pinned_sqrt((moved - target).pow(2).mean(1)).tolist()


def make_reviewers_experiment(profile: str = "cpu", genres=None, seeds=None, **kwargs) -> ReviewersExperiment:
    overrides = {k: v for k, v in (("genres", genres), ("seeds", seeds)) if v}
    return ReviewersExperiment(get_profile(profile, **overrides), **kwargs)
