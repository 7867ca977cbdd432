"""What every track's experiment shares: variants (table rows), stacks of (weight, seed)
replicas, runs into the results store, worker processes, resuming.

    exp = SomeTrackExperiment(profile)
    records = exp.run(["student", "kd", "td"])          # skips stacks already in the store

A *variant* is a row of some table: a method plus, for TD, its configuration (K, noise,
loss weights, schedule). Every variant is run for every task as one stack of
len(weights) x len(seeds) replicas; the weight is chosen later on validation.

A track subclasses `Experiment` and supplies: its profile (with `seeds`, `tasks`,
`distill_weights`, `td_weights`), its variants, `task(name)`, `build_stack(...)`,
`train_config(variant)`, `run_config(variant, task)`, `reference_outcome(variant, task)`
for rows that are evaluated rather than trained (a teacher), and `worker_factory()`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .config import TDConfig, check_choice, config_hash
from .parallel import default_workers, run_in_workers, single_thread
from .results import cell_for
from .store import ResultStore, provenance
from .train import train_stack

EVALUATED = ("teacher",)   # methods that are evaluated, not trained


@dataclass(frozen=True)
class Variant:
    key: str                   # name in the store, e.g. "td_k2"
    label: str                 # row label in the tables
    method: str                # "teacher", "student", "kd", "fitnet", "fd", "hybrid" or "td"
    td: TDConfig | None = None

    @property
    def is_td(self) -> bool:
        return self.method == "td"


def baseline_variants() -> list[Variant]:
    """The rows of every track's main table that are not TD."""
    return [Variant("teacher", "Teacher", "teacher"), Variant("student", "Student", "student"),
            Variant("kd", "KD", "kd"), Variant("fitnet", "FitNet", "fitnet"), Variant("fd", "FD", "fd"),
            Variant("hybrid", "Hybrid", "hybrid")]


def td_variants(td: TDConfig, noise_std: float, k_max: int = 3, separate_comm_steps=()) -> list[Variant]:
    """TD (default) and its ablations: each changes one thing of the default."""
    variants = [Variant("td", "TD (default)", "td", td),
                Variant("td_k0", "No interaction", "td", replace(td, k_rounds=0))]
    variants += [Variant(f"td_k{k}", f"{k} iterations", "td", replace(td, k_rounds=k)) for k in range(2, k_max + 1)]
    variants += [Variant("td_no_mc", "No L_MC", "td", replace(td, w_message=0.0)),
                 Variant("td_no_sc", "No L_SC", "td", replace(td, w_state=0.0)),
                 Variant("td_noise", "Add noise", "td", replace(td, noise_std=noise_std))]
    variants += [Variant(f"td_separate{n}", f"Train E*, D* separately (N2={n})", "td",
                         replace(td, schedule="separate", warmup_comm_steps=n)) for n in separate_comm_steps]
    return variants


class Experiment:
    track = "core"

    def __init__(self, profile, store_root, progress: bool = True, stack_replicas: bool = True,
                 workers: int | None = None):
        """stack_replicas=False trains every (weight, seed) alone: the plain, slow reference
        that `make bench` compares the stacked runs against. workers: processes for runs
        that are not in the store yet (default: IKD_WORKERS, else one per core)."""
        self.profile, self.progress, self.stack_replicas = profile, progress, stack_replicas
        self.workers = default_workers() if workers is None else workers
        self.store = ResultStore(store_root)
        self._td_weight: dict[str, float] = {}   # task -> λ that TD (default) chose
        self.variants: dict[str, Variant] = {}

    # ------------------------------------------------------------ what a track supplies
    @property
    def task_names(self) -> tuple[str, ...]:
        return tuple(self.profile.tasks)

    def task(self, name: str):
        raise NotImplementedError

    def build_stack(self, variant: Variant, task, replicas, noise_seed: int = 0):
        """-> (method, seeds, teacher_index) for a stack of (weight, seed) replicas."""
        raise NotImplementedError

    def train_config(self, variant: Variant):
        raise NotImplementedError

    def run_config(self, variant: Variant, task_name: str) -> dict:
        raise NotImplementedError

    def reference_outcome(self, variant: Variant, task) -> dict:
        """Metrics of a row that is evaluated, not trained (the teacher), per seed."""
        raise NotImplementedError

    tables: dict = {}   # table key -> core.tables.TableSpec

    def worker_factory(self):
        """A picklable callable that builds this experiment again in a worker process."""
        raise NotImplementedError

    def expected_cost(self, job) -> float:
        """Rough relative cost of a stack, to start the longest ones first."""
        return 1.0

    # ------------------------------------------------------------ choices
    def weight_grid(self, variant: Variant, task_name: str) -> tuple[float, ...]:
        """The distillation weights a stack tries. A TD ablation changes one thing of TD
        (default) and keeps the rest, its weight λ included: the λ that TD (default) chose
        on validation for the same task (so TD (default) runs first)."""
        if variant.method in ("student",) + EVALUATED:
            return (0.0,)
        if variant.is_td and variant.key != "td":
            if task_name not in self._td_weight:   # read TD (default)'s records once per task
                records = self.run_variant(self.variants["td"], task_name)
                self._td_weight[task_name] = cell_for(records, self.higher_is_better).weight
            return (self._td_weight[task_name],)
        return self.profile.td_weights if variant.is_td else self.profile.distill_weights

    higher_is_better = False   # the direction of the track's metric (RMSE: False; accuracy: True)

    # ------------------------------------------------------------ running
    def run(self, variant_keys=None, tasks=None) -> list[dict]:
        """Run (or load) every variant x task; returns the current records."""
        keys = list(variant_keys or self.variants)
        for key in keys:
            check_choice("variant", key, tuple(self.variants))
        tasks = tuple(tasks or self.task_names)
        jobs = [(key, name) for name in tasks for key in keys]
        if self.workers > 1:
            # two waves: TD ablations need the weight that TD (default) chose for their task
            ablations = {key for key in keys if self.variants[key].is_td and key != "td"}
            first = [job for job in jobs if job[0] not in ablations]
            first += [("td", t) for t in tasks if ablations and ("td", t) not in first]
            for wave in (first, [job for job in jobs if job[0] in ablations]):
                pending = [job for job in wave if not self.store.has_all(self.record_paths(*job))]
                if len(pending) > 1:
                    pending.sort(key=self.expected_cost, reverse=True)   # largest first balances the workers
                    run_in_workers(self.worker_factory(), pending, self.workers, self.progress)
        return [record for key, name in jobs for record in self.run_variant(self.variants[key], name)]

    def run_job(self, job) -> None:
        """What a worker process does with one job."""
        variant_key, task_name = job
        self.run_variant(self.variants[variant_key], task_name)

    def replicas(self, variant: Variant, task_name: str) -> list[tuple[float, int]]:
        """(weight, seed) per replica of the stack, weight-major."""
        return [(w, s) for w in self.weight_grid(variant, task_name) for s in self.profile.seeds]

    def record_paths(self, variant_key: str, task_name: str, key: str | None = None) -> list:
        """Where the stack's records live; `key` is its config hash when the caller has it."""
        variant = self.variants[variant_key]
        key = key or config_hash(self.run_config(variant, task_name))
        return [self.store.record_path(variant.key, task_name, s, w, key) for w, s in self.replicas(variant, task_name)]

    def run_variant(self, variant: Variant, task_name: str) -> list[dict]:
        config = self.run_config(variant, task_name)
        key = config_hash(config)
        replicas = self.replicas(variant, task_name)
        paths = self.record_paths(variant.key, task_name, key)
        if not self.store.has_all(paths):
            task = self.task(task_name)
            log_path = self.store.log_path(variant.key, task_name, key)
            if variant.method in EVALUATED:
                outcome = self.reference_outcome(variant, task)
            else:
                outcome = self._train(variant, task, replicas, noise_seed=int(key, 16) % 2**31)
                self.store.write_log(log_path, {**{f"step/{k}": v for k, v in outcome["step_log"].items()},
                                                **{f"epoch/{k}": v for k, v in outcome["epoch_log"].items()}})
            for r, ((weight, seed), path) in enumerate(zip(replicas, paths)):
                self.store.write(path, {
                    **{k: config[k] for k in ("experiment", "profile", "variant", "method", "task")},
                    "label": variant.label, "seed": seed, "distill_weight": weight, "config_hash": key,
                    "metric": task.metric.name, "higher_is_better": task.metric.higher_is_better,
                    "valid_metric": outcome["valid_metric"][r], "test_metric": outcome["test_metric"][r],
                    "best_epoch": outcome["best_epoch"][r], "epochs_run": outcome["epochs_run"],
                    "steps_run": outcome["steps_run"], "stack_wall_s": outcome["wall_s"],
                    "stack_replicas": len(replicas), "n_train": len(task.train),
                    "log_file": None if variant.method in EVALUATED else
                    str(log_path.relative_to(self.store.root)),
                    "config": config, **provenance()})
        return [self.store.read(p) for p in paths]

    def _train(self, variant: Variant, task, replicas, noise_seed: int) -> dict:
        if not self.stack_replicas and len(replicas) > 1:
            return merge_outcomes([self._train(variant, task, [r], noise_seed) for r in replicas])
        method, seeds, teacher_index = self.build_stack(variant, task, replicas, noise_seed)
        with single_thread():
            result = train_stack(method, task, self.train_config(variant), seeds, teacher_index=teacher_index,
                                 td=variant.td, desc=f"{variant.key} · {task.name}", progress=self.progress)
        return vars(result)


def merge_outcomes(outcomes: list[dict]) -> dict:
    """Replicas trained one by one, as if they had been one stack (logs padded with NaN)."""
    def pad_cat(arrays):
        longest = max(len(a) for a in arrays)
        return np.concatenate([np.pad(a, ((0, longest - len(a)), (0, 0)), constant_values=np.nan)
                               for a in arrays], axis=1)
    merged = {k: sum((o[k] for o in outcomes), []) for k in ("valid_metric", "test_metric", "best_epoch")}
    merged |= {"epochs_run": max(o["epochs_run"] for o in outcomes),
               "steps_run": max(o["steps_run"] for o in outcomes),
               "wall_s": sum(o["wall_s"] for o in outcomes)}
    for log in ("step_log", "epoch_log"):
        merged[log] = {k: pad_cat([o[log][k] for o in outcomes]) for k in outcomes[0][log]}
    return merged
