"""The MovieLens experiment: data, teacher, the method variants, and runs into the store.

    exp = MovieLensExperiment(get_profile("cpu"))
    records = exp.run(["student", "kd", "td"])          # skips stacks already in the store

A *variant* is a row of some table: a method plus, for TD, its configuration (K, noise,
loss weights, schedule). Every variant is run for every genre as one stack of
len(distill_weights) x len(seeds) replicas; the weight is chosen later on validation RMSE.
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, replace

import torch

from .config import Profile, TDConfig, check_choice, config_hash
from .methods import FrozenTeacher, build_method
from .models import RatingModel, count_parameters
from .movielens import cache_root, genre_task, load_movielens, locate_ml100k
from .results import cell_for
from .parallel import default_workers, run_in_workers, single_thread
from .store import ResultStore, provenance, runs_dir
from .tasks import RatingTask, attach_teacher, rating_task
from .teacher import load_or_train_teacher
from .train import rmse, train_stack

NOISE_STD = 0.1   # σ of the "add noise" variant (choice; teacher states have std ≈ 0.2-0.5)


@dataclass(frozen=True)
class Variant:
    key: str                   # name in the store, e.g. "td_k2"
    label: str                 # row label in the tables
    method: str                # "teacher", "student", "kd", "fitnet", "fd", "hybrid" or "td"
    td: TDConfig | None = None

    @property
    def is_td(self) -> bool:
        return self.method == "td"


def movielens_variants(profile: Profile) -> dict[str, Variant]:
    td = profile.td
    variants = [
        Variant("teacher", "Teacher", "teacher"),
        Variant("student", "Student", "student"),
        Variant("kd", "KD", "kd"),
        Variant("fitnet", "FitNet", "fitnet"),
        Variant("fd", "FD", "fd"),
        Variant("hybrid", "Hybrid", "hybrid"),
        Variant("td", "TD (default)", "td", td),
        Variant("td_k0", "No interaction", "td", replace(td, k_rounds=0)),
        Variant("td_k2", "2 iterations", "td", replace(td, k_rounds=2)),
        Variant("td_k3", "3 iterations", "td", replace(td, k_rounds=3)),
        Variant("td_no_mc", "No L_MC", "td", replace(td, w_message=0.0)),
        Variant("td_no_sc", "No L_SC", "td", replace(td, w_state=0.0)),
        Variant("td_noise", "Add noise", "td", replace(td, noise_std=NOISE_STD)),
    ] + [Variant(f"td_separate{n}", f"Train E*, D* separately (N2={n})", "td",
                 replace(td, schedule="separate", warmup_comm_steps=n))
         for n in profile.separate_comm_steps]
    return {v.key: v for v in variants}


def data_fingerprint(ratings) -> str:
    """Names the exact ratings and split a number was computed from."""
    cols = ratings[["user", "item", "rating", "split"]].to_csv(index=False).encode()
    return hashlib.sha256(cols).hexdigest()[:12]


class MovieLensExperiment:
    def __init__(self, profile: Profile, data_dir=None, cache_dir=None, store_root=None, progress=True,
                 stack_replicas: bool = True, workers: int | None = None):
        """stack_replicas=False trains every (weight, seed) alone: the plain, slow reference
        that `make bench` compares the stacked runs against. workers: processes for runs
        that are not in the store yet (default: IKD_WORKERS, else one per core)."""
        self.profile, self.progress, self.stack_replicas = profile, progress, stack_replicas
        self.workers = default_workers() if workers is None else workers
        self.variants = movielens_variants(profile)
        data_dir = data_dir or locate_ml100k(cache_dir=cache_dir)
        self.ml = load_movielens(data_dir=data_dir, cache_dir=cache_dir)
        self.n_users, self.n_items = len(self.ml.users), len(self.ml.items)
        self.fingerprint = data_fingerprint(self.ml.ratings)
        self.store = ResultStore(store_root or runs_dir(profile.name))
        # what a worker process needs to rebuild this experiment (the teacher comes from the cache)
        self.worker_args = {"profile": profile, "data_dir": data_dir, "cache_dir": cache_dir,
                            "store_root": self.store.root, "stack_replicas": stack_replicas}
        all_genres = rating_task("all genres", self.ml.ratings, self.n_users, self.n_items)
        self.teacher, self.teacher_summary = load_or_train_teacher(
            profile, all_genres, self.fingerprint, cache_root(cache_dir), progress=progress)
        self.student_parameters = count_parameters(self._student(all_genres, (0,), 0.0))
        self._tasks: dict[str, RatingTask] = {}
        self._td_weight: dict[str, float] = {}   # genre -> λ that TD (default) chose

    # ------------------------------------------------------------ building blocks
    def task(self, genre: str) -> RatingTask:
        """The genre's ratings as tensors, with the teacher's states attached (cached)."""
        if genre not in self._tasks:
            table = genre_task(self.ml, genre)
            self._tasks[genre] = attach_teacher(rating_task(genre, table, self.n_users, self.n_items), self.teacher)
        return self._tasks[genre]

    def _student(self, task: RatingTask, seeds, offset=None) -> RatingModel:
        return RatingModel(self.profile.student, self.n_users, self.n_items, seeds,
                           task.rating_offset if offset is None else offset, name="student")

    def weight_grid(self, variant: Variant, genre: str) -> tuple[float, ...]:
        """The distillation weights a stack tries. A TD ablation changes one thing of TD
        (default) and keeps the rest, its weight λ included: the λ that TD (default) chose
        on validation for the same genre (so TD (default) runs first)."""
        if variant.method in ("student", "teacher"):
            return (0.0,)
        if variant.is_td and variant.key != "td":
            if genre not in self._td_weight:   # read TD (default)'s records once per genre
                self._td_weight[genre] = cell_for(self.run_variant(self.variants["td"], genre)).weight
            return (self._td_weight[genre],)
        return self.profile.td_weights if variant.is_td else self.profile.distill_weights

    def run_config(self, variant: Variant, genre: str) -> dict:
        p = self.profile
        return {"experiment": "movielens", "profile": p.name, "variant": variant.key, "method": variant.method,
                "task": genre, "td": asdict(variant.td) if variant.td else None,
                "student": asdict(p.student), "teacher": asdict(p.teacher), "train": asdict(p.student_train),
                "distill_weights": list(self.weight_grid(variant, genre)), "seeds": list(p.seeds),
                "teacher_hash": self.teacher_summary["config_hash"], "data": self.fingerprint}

    # ------------------------------------------------------------ running
    def run(self, variant_keys=None, genres=None) -> list[dict]:
        """Run (or load) every variant x genre; returns the current records."""
        keys = list(variant_keys or self.variants)
        for key in keys:
            check_choice("variant", key, tuple(self.variants))
        genres = tuple(genres or self.profile.genres)
        jobs = [(key, genre) for genre in genres for key in keys]
        if self.workers > 1:
            # two waves: TD ablations need the weight that TD (default) chose for their genre
            ablations = {key for key in keys if self.variants[key].is_td and key != "td"}
            first = [job for job in jobs if job[0] not in ablations]
            first += [("td", g) for g in genres if ablations and ("td", g) not in first]
            for wave in (first, [job for job in jobs if job[0] in ablations]):
                pending = [job for job in wave if not self.store.has_all(self.record_paths(*job))]
                if len(pending) > 1:
                    pending.sort(key=self.expected_cost, reverse=True)   # largest first balances the workers
                    run_in_workers(self.worker_args, pending, self.workers, self.progress)
        return [record for key, genre in jobs for record in self.run_variant(self.variants[key], genre)]

    def expected_cost(self, job) -> float:
        """Rough relative cost of a stack, to start the longest ones first."""
        variant, genre = self.variants[job[0]], job[1]
        rounds = variant.td.k_rounds + 2 if variant.td else 1
        return len(genre_task(self.ml, genre)) * len(self.weight_grid(variant, genre)) * rounds

    def record_paths(self, variant_key: str, genre: str, key: str | None = None) -> list:
        """Where the stack's records live; `key` is its config hash when the caller has it."""
        variant = self.variants[variant_key]
        key = key or config_hash(self.run_config(variant, genre))
        return [self.store.record_path(variant.key, genre, s, w, key)
                for w in self.weight_grid(variant, genre) for s in self.profile.seeds]

    def run_variant(self, variant: Variant, genre: str) -> list[dict]:
        config = self.run_config(variant, genre)
        key = config_hash(config)
        replicas = [(w, s) for w in self.weight_grid(variant, genre) for s in self.profile.seeds]
        paths = self.record_paths(variant.key, genre, key)
        if not self.store.has_all(paths):
            task = self.task(genre)
            if variant.method == "teacher":
                outcome = self._evaluate_teacher(task)
            else:
                outcome = self._train(variant, task, replicas, noise_seed=int(key, 16) % 2**31)
                self.store.write_log(self.store.log_path(variant.key, genre, key),
                                     {**{f"step/{k}": v for k, v in outcome["step_log"].items()},
                                      **{f"epoch/{k}": v for k, v in outcome["epoch_log"].items()}})
            for r, ((weight, seed), path) in enumerate(zip(replicas, paths)):
                self.store.write(path, {
                    **{k: config[k] for k in ("experiment", "profile", "variant", "method", "task")},
                    "label": variant.label, "seed": seed, "distill_weight": weight, "config_hash": key,
                    "valid_rmse": outcome["valid_rmse"][r], "test_rmse": outcome["test_rmse"][r],
                    "best_epoch": outcome["best_epoch"][r], "epochs_run": outcome["epochs_run"],
                    "steps_run": outcome["steps_run"], "stack_wall_s": outcome["wall_s"],
                    "stack_replicas": len(replicas), "n_train": len(task.train),
                    "log_file": None if variant.method == "teacher" else
                    str(self.store.log_path(variant.key, genre, key).relative_to(self.store.root)),
                    "config": config, **provenance()})
        return [self.store.read(p) for p in paths]

    def _evaluate_teacher(self, task: RatingTask) -> dict:
        def teacher_rmse(split):
            return (split.teacher["pred"] - split.ratings[None]).pow(2).mean(1).sqrt().tolist()
        n = len(self.profile.seeds)
        return {"valid_rmse": teacher_rmse(task.valid), "test_rmse": teacher_rmse(task.test),
                "best_epoch": [0] * n, "epochs_run": 0, "steps_run": 0, "wall_s": 0.0}

    def _train(self, variant: Variant, task: RatingTask, replicas, noise_seed: int) -> dict:
        if not self.stack_replicas and len(replicas) > 1:
            return merge_outcomes([self._train(variant, task, [r], noise_seed) for r in replicas])
        method, seeds, teacher_index = self.build_stack(variant, task, replicas, noise_seed)
        with single_thread():
            result = train_stack(method, task, self.profile.student_train, seeds, teacher_index=teacher_index,
                                 td=variant.td, desc=f"{variant.key} · {task.name}", progress=self.progress)
        return vars(result)

    def build_stack(self, variant: Variant, task: RatingTask, replicas, noise_seed: int = 0):
        """The method for a stack of (weight, seed) replicas; student replica r talks to the
        teacher trained with its own seed."""
        weights = torch.tensor([w for w, _ in replicas])
        seeds = tuple(s for _, s in replicas)
        teacher_index = torch.tensor([self.profile.seeds.index(s) for s in seeds])
        teacher = FrozenTeacher(self.teacher, teacher_index) if variant.method != "student" else None
        method = build_method(variant.method, self._student(task, seeds), teacher, weights, variant.td, noise_seed)
        return method, seeds, (teacher_index if teacher is not None else None)


def merge_outcomes(outcomes: list[dict]) -> dict:
    """Replicas trained one by one, as if they had been one stack (logs padded with NaN)."""
    import numpy as np

    def pad_cat(arrays):
        longest = max(len(a) for a in arrays)
        return np.concatenate([np.pad(a, ((0, longest - len(a)), (0, 0)), constant_values=np.nan)
                               for a in arrays], axis=1)
    merged = {k: sum((o[k] for o in outcomes), []) for k in ("valid_rmse", "test_rmse", "best_epoch")}
    merged |= {"epochs_run": max(o["epochs_run"] for o in outcomes),
               "steps_run": max(o["steps_run"] for o in outcomes),
               "wall_s": sum(o["wall_s"] for o in outcomes)}
    for log in ("step_log", "epoch_log"):
        merged[log] = {k: pad_cat([o[log][k] for o in outcomes]) for k in outcomes[0][log]}
    return merged
