"""The MovieLens experiment: data, teacher, the method variants, and runs into the store.

    exp = MovieLensExperiment(get_profile("cpu"))
    records = exp.run(["student", "kd", "td"])          # skips stacks already in the store

Every variant is run for every genre as one stack of len(weights) x len(seeds) replicas
(core/experiment.py); student replica r distils from the teacher trained with its seed.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import asdict

import torch

from ..core.determinism import sqrt as pinned_sqrt
from ..core.experiment import Experiment, Variant, baseline_variants, td_variants
from ..core.methods import build_method
from ..core.optim import NUMERICS
from ..core.store import cache_root, runs_dir
from .data import genre_task, load_movielens, locate_ml100k
from .models import BiasOnly, FrozenTeacher, RatingModel, best_baseline, count_parameters, task_rows
from .profiles import Profile, get_profile
from .tables import MOVIELENS_TABLES
from .tasks import RatingTask, attach_teacher, rating_task
from .teacher import load_or_train_teacher, teacher_checkpoint, teacher_config_hash

NOISE_STD = 0.1  # σ of the "add noise" variant (choice; teacher states have std ≈ 0.2-0.5)


DISTILLING = ("kd", "fitnet", "fd", "hybrid", "td")


def movielens_variants(profile: Profile) -> dict[str, Variant]:
    variants = baseline_variants() + [Variant("bias_only", "Bias only", "student", model="bias_only")]
    variants += td_variants(profile.td, NOISE_STD, k_max=3, separate_comm_steps=profile.separate_comm_steps)
    return {v.key: v for v in variants}


def data_fingerprint(ratings) -> str:
    """Names the exact ratings and split a number was computed from."""
    cols = ratings[["user", "item", "rating", "split"]].to_csv(index=False).encode()
    return hashlib.sha256(cols).hexdigest()[:12]


class MovieLensExperiment(Experiment):
    track = "movielens"
    higher_is_better = False  # RMSE
    tables = MOVIELENS_TABLES

    def __init__(
        self,
        profile: Profile,
        data_dir=None,
        cache_dir=None,
        store_root=None,
        progress=True,
        stack_replicas: bool = True,
        workers: int | None = None,
    ):
        super().__init__(profile, store_root or runs_dir(profile.name), progress, stack_replicas, workers)
        self.variants = movielens_variants(profile)
        self._baselines: dict[str, tuple] = {}
        data_dir = data_dir or locate_ml100k(cache_dir=cache_dir)
        self.ml = load_movielens(data_dir=data_dir, cache_dir=cache_dir)
        self.n_users, self.n_items = len(self.ml.users), len(self.ml.items)
        self.fingerprint = data_fingerprint(self.ml.ratings)
        # what a worker process needs to rebuild this experiment (the teacher comes from the cache)
        self.worker_args = {
            "profile": profile,
            "data_dir": data_dir,
            "cache_dir": cache_dir,
            "store_root": self.store.root,
            "stack_replicas": stack_replicas,
        }
        self.all_genres = rating_task("all genres", self.ml.ratings, self.n_users, self.n_items)
        self.cache_root = cache_root(cache_dir)
        # the teacher is loaded (or trained) when first needed: in `run` it is a job of the
        # worker pool, trained while the stacks that need no teacher (Bias only, Student) run
        self.teacher_hash = teacher_config_hash(profile, self.fingerprint, self.device)
        self._teacher = None
        self.student_parameters = count_parameters(self.student_model(self.all_genres, (0,)))
        self._tasks: dict[str, RatingTask] = {}
        self._with_teacher: set[str] = set()  # genres whose task has the teacher's states attached
        self._n_train: dict[str, int] = {}  # training ratings per genre (expected_cost)

    def worker_factory(self):
        return functools.partial(MovieLensExperiment, **self.worker_args, progress=False, workers=1)

    # ------------------------------------------------------------ the teacher
    def _loaded_teacher(self) -> tuple:
        """(teacher, summary): from the cache, else trained now (under a file lock: two
        processes never train it twice)."""
        if self._teacher is None:
            self._teacher = load_or_train_teacher(
                self.profile,
                self.all_genres,
                self.fingerprint,
                self.cache_root,
                progress=self.progress,
                device=self.device,
            )
        return self._teacher

    @property
    def teacher(self):
        """The frozen teacher stack (one per seed)."""
        return self._loaded_teacher()[0]

    @property
    def teacher_summary(self) -> dict:
        """Its config hash, validation and test RMSE per seed, training time, parameters."""
        return self._loaded_teacher()[1]

    def preparations(self, variant: Variant) -> tuple[str, ...]:
        """Every row but Bias only and Student reads the teacher."""
        return () if variant.method == "student" else ("teacher",)

    def is_prepared(self, name: str) -> bool:
        return self._teacher is not None or teacher_checkpoint(self.cache_root, self.teacher_hash).exists()

    def prepare(self, name: str) -> None:
        if name != "teacher":
            raise ValueError(f"unknown preparation {name!r}; the MovieLens track has one: 'teacher'")
        self._loaded_teacher()

    # ------------------------------------------------------------ building blocks
    def task(self, genre: str) -> RatingTask:
        """The genre's ratings as tensors, with the teacher's states attached (cached)."""
        task = self._ratings(genre)
        if genre not in self._with_teacher:
            attach_teacher(task, self.teacher)
            self._with_teacher.add(genre)
        return task

    def task_for(self, variant: Variant, genre: str) -> RatingTask:
        """The genre's task; without the teacher's states for a variant that does not read them
        (so a Student stack never waits for the teacher)."""
        return self.task(genre) if self.preparations(variant) else self._ratings(genre)

    def _ratings(self, genre: str) -> RatingTask:
        """The genre's ratings as tensors (cached), the teacher's states not (yet) attached."""
        if genre not in self._tasks:
            self._tasks[genre] = rating_task(genre, genre_task(self.ml, genre), self.n_users, self.n_items)
        return self._tasks[genre]

    def student_model(self, task: RatingTask, seeds, l2=0.0, bias_l2=None) -> RatingModel:
        """The genre's student: its implicit sums over the genre's own training ratings only, its
        embedding tables only for the genre's users and items."""
        return RatingModel(
            self.profile.student,
            self.n_users,
            self.n_items,
            seeds,
            task.rating_offset,
            name="student",
            interactions=task.train.inputs,
            l2=l2,
            bias_start=self.baseline(task),
            bias_l2=bias_l2,
            rows=task_rows(task),
        )

    def bias_l2(self, genre: str, seeds) -> list[float]:
        """Per seed, the L2 on the biases that the genre's Bias only model chose for that seed."""
        chosen = self.chosen("bias_only", genre)
        return [chosen.choice_of(s)["l2"] for s in seeds]

    def baseline(self, task: RatingTask):
        """Where every model of the task starts: its baseline biases (models.best_baseline)."""
        if task.name not in self._baselines:
            self._baselines[task.name] = best_baseline(task)[:2]
        return self._baselines[task.name]

    def train_config(self, variant: Variant):
        return self.profile.student_train

    # ------------------------------------------------------------ choices
    def l2_grid(self, variant: Variant) -> tuple[float, ...]:
        if variant.model == "bias_only":
            return self.profile.bias_l2s
        if variant.method == "student" or (self.distills(variant) and self.profile.distill_l2 == "own"):
            return self.profile.student_l2s
        return (0.0,)

    def distills(self, variant: Variant) -> bool:
        """Does the variant train the student with a distillation term (its L2: Profile.distill_l2)?"""
        return variant.method in DISTILLING

    def search_bounds(self, variant: Variant, genre: str, axis: str) -> tuple[float, float]:
        if axis == "l2" and variant.model == "bias_only":
            return self.declared_bounds(variant, genre, axis, self.profile.bias_l2_bounds)
        return super().search_bounds(variant, genre, axis)

    def dependencies(self, variant: Variant) -> tuple[str, ...]:
        """Every model with a student's architecture regularises its biases as Bias only chose."""
        own = super().dependencies(variant)
        uses_student = variant.model == "student" and variant.method != "teacher"
        return own + ("bias_only",) if uses_student and "bias_only" not in own else own

    def l2_source(self, variant: Variant) -> str | None:
        """distill_l2 = "student": every distilling method trains the student with the L2 the
        scratch Student chose for the same seed (the student is tuned for itself, then
        distillation is added). "own": a method that searches its λ searches its L2 with it; one
        that inherits its λ (a TD ablation) inherits the L2 from the same row."""
        if not self.distills(variant):
            return None
        return "student" if self.profile.distill_l2 == "student" else self.weight_source(variant)

    def run_config(self, variant: Variant, genre: str) -> dict:
        p = self.profile
        return {
            "experiment": "movielens",
            "profile": p.name,
            "variant": variant.key,
            "method": variant.method,
            "model": variant.model,
            "task": genre,
            "td": asdict(variant.td) if variant.td else None,
            "student": asdict(p.student),
            "teacher": asdict(p.teacher),
            "train": asdict(p.student_train),
            "numerics": NUMERICS,
            "teacher_hash": self.teacher_hash,
            "data": self.fingerprint,
        }

    def replica_extras(self, variant: Variant, genre: str, replica) -> dict:
        """A model with a student's architecture regularises its biases as Bias only chose for
        the replica's seed."""
        if "bias_only" not in self.dependencies(variant):
            return {}
        return {"bias_l2": self.bias_l2(genre, (replica.seed,))[0]}

    def expected_cost(self, job) -> float:
        """Relative cost of a stack, roughly as measured on a 2-core machine: steps (about 15
        epochs, plus any warm-up not shared) x (a fixed cost per step + the examples the step
        pushes through the student and, per TD round, through E*, D*). The teacher: about as
        much as a Drama TD stack (measured: 80-95 s against 50-70 s)."""
        if job[0] == "@teacher":
            return self.expected_cost(("td", "Drama")) * 1.5
        variant, genre = self.variants[job[0]], job[1]
        if genre not in self._n_train:
            self._n_train[genre] = int((genre_task(self.ml, genre)["split"] == "train").sum())
        n_train = self._n_train[genre]
        batch = self.profile.student_train.batch_size_for(n_train)
        td, source = variant.td, self.warmup_source(variant)
        warmup = td.warmup_steps if td else 0
        if source:  # it starts from the state another run kept (core/warmup.py)
            warmup -= self.variants[source].td.warmup_steps
        steps = 15 * -(-n_train // batch) + warmup
        rounds = td.k_rounds + 2 if td else (0 if variant.model == "bias_only" else 1)  # bias only: no layers
        return steps * (630 + batch * self.n_replicas(variant, genre) * rounds)

    def reference_outcome(self, variant: Variant, task: RatingTask, replicas) -> dict:
        """The Teacher row: the teachers (one per seed) evaluated directly on the genre."""
        teachers = torch.tensor([self.profile.seeds.index(r.seed) for r in replicas])  # seed s: teacher s

        def teacher_rmse(split):
            return pinned_sqrt((split.teacher["pred"][teachers] - split.target[None]).pow(2).mean(1)).tolist()

        n = len(replicas)
        return {
            "valid_metric": teacher_rmse(task.valid),
            "test_metric": teacher_rmse(task.test),
            "best_epoch": [0] * n,
            "epochs_run": 0,
            "steps_run": 0,
            "wall_s": 0.0,
        }

    def build_stack(self, variant: Variant, task: RatingTask, replicas, noise_seed: int = 0):
        """The method for a stack of (λ, l2, seed) replicas; student replica r talks to the
        teacher trained with its own seed."""
        weights = torch.tensor([r.weight for r in replicas])
        l2 = torch.tensor([r.l2 for r in replicas])
        seeds = tuple(r.seed for r in replicas)
        teacher_index = torch.tensor([self.profile.seeds.index(s) for s in seeds])
        teacher = self.teacher_for(variant, teacher_index) if variant.method != "student" else None
        if variant.model == "bias_only":
            model = BiasOnly(self.n_users, self.n_items, seeds, task.rating_offset, l2, bias_start=self.baseline(task))
        else:
            model = self.student_model(task, seeds, l2, torch.tensor(self.bias_l2(task.name, seeds)))
        method = self.make_method(variant, model, teacher, weights, task, noise_seed)
        return method, seeds, (teacher_index if teacher is not None else None)

    def teacher_for(self, variant: Variant, teacher_index: torch.Tensor):
        """What a stack's method calls as the teacher: its frozen upper layers, one per replica."""
        return FrozenTeacher(self.teacher, teacher_index)

    def make_method(self, variant: Variant, model, teacher, weights, task: RatingTask, noise_seed: int):
        return build_method(variant.method, model, teacher, weights, task, variant.td, noise_seed)


def make_experiment(profile: str = "cpu", tasks=None, seeds=None, **kwargs) -> MovieLensExperiment:
    """The experiment of a named profile, optionally on fewer genres or seeds (report.Track)."""
    overrides = {k: v for k, v in (("genres", tasks), ("seeds", seeds)) if v}
    return MovieLensExperiment(get_profile(profile, **overrides), **kwargs)
