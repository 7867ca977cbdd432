"""What every track's experiment shares: variants (table rows), stacks of (weight, seed)
replicas, runs into the results store, worker processes, resuming.

    exp = SomeTrackExperiment(profile)
    records = exp.run(["student", "kd", "td"])          # skips stacks already in the store

A *variant* is a row of some table: a method plus, for TD, its configuration (K, noise,
loss weights, schedule). Every variant is run for every task as one stack of replicas
(weight λ, regularisation l2, seed); λ and l2 are chosen later on validation, by each seed.

Every hyperparameter a variant searches itself (λ, l2) starts from the profile's grid and
grows until it brackets every seed's choice (core/bracket.py): one step (`search_step`) beyond an
edge that some seed chose, never past the profile's declared bound for that axis. The grown grid
is a function of the store (its validation values), so a second run loads it in seconds.

Some choices are inherited, per seed, from another variant's choice (`l2_source`,
`weight_source`): the distilling methods train the student with the l2 that the scratch
Student chose for the same seed, and each TD ablation keeps the λ that TD (default) chose
for the same seed. `run` starts a (variant, task) stack as soon as the stacks it inherits
from, for that task, are done.

A track subclasses `Experiment` and supplies: its profile (with `seeds`, `tasks`,
`distill_weights`, `td_weights`), its variants, `task(name)`, `build_stack(...)`,
`train_config(variant)`, `run_config(variant, task)`, `reference_outcome(variant, task)`
for rows that are evaluated rather than trained (a teacher), and `worker_factory()`.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, replace

import numpy as np

from .bracket import axis_validation, bracket, check_search
from .config import TDConfig, check_choice, config_hash
from .device import compute_device, config_stamp, device_report
from .parallel import default_workers, run_in_workers, single_thread
from .progress import Progress
from .results import Cell, cell_for
from .store import ResultStore, provenance
from .train import train_stack
from .warmup import FORMAT as WARMUP_FORMAT, SharedWarmup

EVALUATED = ("teacher",)  # methods that are evaluated, not trained


@dataclass(frozen=True)
class Variant:
    key: str  # name in the store, e.g. "td_k2"
    label: str  # row label in the tables
    method: str  # "teacher", "student", "kd", "fitnet", "fd", "hybrid" or "td"
    td: TDConfig | None = None
    model: str = "student"  # which model the track builds for it ("bias_only": a reference model)

    @property
    def is_td(self) -> bool:
        return self.method == "td"


def baseline_variants() -> list[Variant]:
    """The rows of every track's main table that are not TD."""
    return [
        Variant("teacher", "Teacher", "teacher"),
        Variant("student", "Student", "student"),
        Variant("kd", "KD", "kd"),
        Variant("fitnet", "FitNet", "fitnet"),
        Variant("fd", "FD", "fd"),
        Variant("hybrid", "Hybrid", "hybrid"),
    ]


def td_variants(td: TDConfig, noise_std: float, k_max: int = 3, separate_comm_steps=()) -> list[Variant]:
    """TD (default) and its ablations: each changes one thing of the default."""
    variants = [
        Variant("td", "TD (default)", "td", td),
        Variant("td_k0", "No interaction", "td", replace(td, k_rounds=0)),
    ]
    variants += [Variant(f"td_k{k}", f"{k} iterations", "td", replace(td, k_rounds=k)) for k in range(2, k_max + 1)]
    variants += [
        Variant("td_no_mc", "No L_MC", "td", replace(td, w_message=0.0)),
        Variant("td_no_sc", "No L_SC", "td", replace(td, w_state=0.0)),
        Variant("td_noise", "Add noise", "td", replace(td, noise_std=noise_std)),
    ]
    variants += [
        Variant(
            f"td_separate{n}",
            f"Train E*, D* separately (N2={n})",
            "td",
            replace(td, schedule="separate", warmup_comm_steps=n),
        )
        for n in separate_comm_steps
    ]
    return variants


class NotInStore(LookupError):
    """A stack whose records are not (all) in the store, met while only loading."""


@dataclass(frozen=True)
class Replica:
    weight: float  # λ, the distillation weight (0 for a model trained alone)
    l2: float  # the model's regularisation strength (0 where it has none)
    seed: int

    def row(self) -> list:
        """[λ, l2, seed]: how a configuration names the replica."""
        return [self.weight, self.l2, self.seed]


class Experiment:
    track = "core"

    def __init__(
        self, profile, store_root, progress: bool = True, stack_replicas: bool = True, workers: int | None = None
    ):
        """stack_replicas=False trains every (weight, seed) alone: the plain, slow reference
        that `make bench` compares the stacked runs against. workers: processes for runs
        that are not in the store yet (default: IKD_WORKERS, else one per core)."""
        self.profile, self.progress, self.stack_replicas = profile, progress, stack_replicas
        self.workers = default_workers() if workers is None else workers
        self.store = ResultStore(store_root)
        self._chosen: dict[tuple[str, str], Cell] = {}  # (variant, task) -> its per-seed choices
        self._grids: dict[tuple[str, str, str], tuple] = {}  # (variant, task, axis) -> its grid, grown
        # (variant, task, axis) -> where that search starts instead of the profile's grid: `make verify`
        # regenerating fewer seeds starts from the grid the committed table searched with all of them
        self.start_grids: dict[tuple[str, str, str], tuple[float, ...]] = {}
        self.variants: dict[str, Variant] = {}
        self._load_only = False  # stored(): read what is in the store, compute nothing
        # where stacks train (core/device.py): checked here, before any compute is spent
        self.device = compute_device(getattr(profile, "name", None))
        self._placed: dict[int, tuple] = {}  # id(task) -> (task, the task on self.device)

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

    tables: dict = {}  # table key -> core.tables.TableSpec

    def worker_factory(self):
        """A picklable callable that builds this experiment again in a worker process."""
        raise NotImplementedError

    def training_observer(self, variant: Variant, method, task):
        """Something that watches a stack train and adds fields of its own to each replica's
        record (an analysis of the trained model, say), or None (the default: records are as
        they always were). It may have `on_epoch(epoch, epoch_log)`, called after every epoch,
        and has `finish(result) -> list[dict]`, called once the best epochs are restored: one
        dict per replica, written to its record under "analysis"."""
        return None

    def expected_cost(self, job) -> float:
        """Rough relative cost of a stack (or a preparation job), to start the longest ones first."""
        return 1.0

    # ------------------------------------------------------------ preparations
    # Work that some stacks need done first but that is no stack of its own (a track's
    # teacher, trained once and cached): in the worker pool it is a job like a stack,
    # ("@<name>", ""), so the stacks that do not need it train meanwhile on the other workers.
    def preparations(self, variant: Variant) -> tuple[str, ...]:
        """Names of the preparations this variant's stacks need done first."""
        return ()

    def is_prepared(self, name: str) -> bool:
        """Is the preparation already done (its result cached)?"""
        return True

    def prepare(self, name: str) -> None:
        """Do the preparation (once, under a lock, cached for every process)."""
        raise NotImplementedError(f"{type(self).__name__} has no preparation {name!r}")

    def task_for(self, variant: Variant, task_name: str):
        """The task as this variant's stacks need it (a track may leave out what it does not read)."""
        return self.task(task_name)

    # ------------------------------------------------------------ choices
    def weight_source(self, variant: Variant) -> str | None:
        """A TD ablation changes one thing of TD (default) and keeps the rest, its λ included:
        the λ that TD (default) chose for the same seed."""
        return "td" if variant.is_td and variant.key != "td" else None

    def l2_source(self, variant: Variant) -> str | None:
        """The variant whose per-seed l2 this one reuses (none: it uses `l2_grid`)."""
        return None

    def l2_grid(self, variant: Variant) -> tuple[float, ...]:
        """Regularisation strengths a stack tries itself (a track with none: 0)."""
        return (0.0,)

    def weight_grid(self, variant: Variant, task_name: str) -> tuple[float, ...]:
        """The distillation weights a stack tries itself."""
        if variant.method in ("student",) + EVALUATED:
            return (0.0,)
        return self.profile.td_weights if variant.is_td else self.profile.distill_weights

    def dependencies(self, variant: Variant) -> tuple[str, ...]:
        return tuple(k for k in (self.l2_source(variant), self.weight_source(variant)) if k)

    def inherited(self, variant: Variant) -> list[str]:
        """The hyperparameters a variant's replicas take from another variant's choice, not from a
        search of their own (a table says so instead of reporting a grid)."""
        return [
            axis
            for axis, source in (("distill_weight", self.weight_source(variant)), ("l2", self.l2_source(variant)))
            if source
        ]

    # ------------------------------------------------------------ searches that bracket their choices
    search_step = 10.0  # a grid grows by this factor beyond an edge (profiles may set `search_step`)

    def search_bounds(self, variant: Variant, task_name: str, axis: str) -> tuple[float, float]:
        """How far the variant's grid on `axis` may grow: the profile's declared bounds
        (`weight_bounds` for λ, `l2_bounds` for l2), wide enough to mean "no distillation" and
        "only distillation" (or "no regularisation" and "only the biases")."""
        return self.declared_bounds(
            variant,
            task_name,
            axis,
            getattr(self.profile, "weight_bounds" if axis == "distill_weight" else "l2_bounds"),
        )

    def declared_bounds(self, variant: Variant, task_name: str, axis: str, bounds) -> tuple[float, float]:
        """A profile's bounds for one axis; None: the grid is its own bound (it never grows)."""
        if bounds is None:
            grid = self.base_grid(variant, task_name, axis)
            return (min(grid), max(grid))
        return tuple(bounds)

    def step_of(self) -> float:
        return float(getattr(self.profile, "search_step", self.search_step))

    def base_grid(self, variant: Variant, task_name: str, axis: str) -> tuple[float, ...]:
        """The profile's grid on `axis`, where a search starts (or `start_grids`' grid)."""
        if (variant.key, task_name, axis) in self.start_grids:
            return self.start_grids[variant.key, task_name, axis]
        return tuple(self.weight_grid(variant, task_name) if axis == "distill_weight" else self.l2_grid(variant))

    def searched_axes(self, variant: Variant, task_name: str) -> tuple[str, ...]:
        """The hyperparameters this variant searches itself: not inherited, not absent (a grid of
        only 0, e.g. the Student's λ), and not evaluated rows."""
        if variant.method in EVALUATED:
            return ()
        sources = {"distill_weight": self.weight_source(variant), "l2": self.l2_source(variant)}
        return tuple(
            axis
            for axis in ("distill_weight", "l2")
            if sources[axis] is None and self.base_grid(variant, task_name, axis) != (0.0,)
        )

    def grid(self, variant: Variant, task_name: str, axis: str) -> tuple[float, ...]:
        """The grid searched so far: the profile's, grown where the choices asked for it."""
        return self._grids.get((variant.key, task_name, axis)) or self.base_grid(variant, task_name, axis)

    def search_of(self, variant: Variant, task_name: str) -> dict:
        """What the records of a search say about it (tables read it): per searched axis, the
        declared bounds and the growth step."""
        return {
            axis: {"bounds": list(self.search_bounds(variant, task_name, axis)), "step": self.step_of()}
            for axis in self.searched_axes(variant, task_name)
        }

    def grown(self, variant: Variant, task_name: str, records) -> bool:
        """Bracket every searched axis on the stack's records (each seed choosing on its own
        validation); where a choice sits at an open edge, grow that axis's grid by one step on
        that side and say so (True). False: every choice is interior, tied or at a bound."""
        grew = False
        for axis in self.searched_axes(variant, task_name):
            grid, bounds = self.grid(variant, task_name, axis), self.search_bounds(variant, task_name, axis)
            found = bracket(
                grid,
                axis_validation(records, axis, self.higher_is_better),
                bounds,
                self.step_of(),
                self.higher_is_better,
            )
            if not found.bracketed:
                self._grids[variant.key, task_name, axis] = found.next_grid
                journal(
                    f"growing {variant.key} · {task_name} · {axis}: "
                    + "; ".join(s.why for s in (found.lower, found.upper) if s.grown_to is not None)
                )
                grew = True
        return grew

    def check_searches(self) -> None:
        """Refuse, before any compute, a grid that its declared bounds or step could not grow."""
        for variant in self.variants.values():
            for task_name in self.task_names[:1]:
                for axis in self.searched_axes(variant, task_name):
                    try:
                        check_search(
                            self.base_grid(variant, task_name, axis),
                            self.search_bounds(variant, task_name, axis),
                            self.step_of(),
                        )
                    except ValueError as e:
                        raise ValueError(
                            f"{variant.key}'s {axis} search in profile {getattr(self.profile, 'name', '?')!r}: {e}"
                        ) from None

    def warmup_source(self, variant: Variant) -> str | None:
        """Of the "separate" schedules with this one's N1, the one with the fewest E*, D*-only
        steps (N2): all of them take its first N1 + N2 steps identically, so this variant can
        start from its state there (core/warmup.py). None: nothing to share."""
        td = variant.td
        if td is None or td.schedule != "separate":
            return None

        def shares(v):
            return v.td is not None and replace(v.td, warmup_comm_steps=0) == replace(td, warmup_comm_steps=0)

        source = min((v for v in self.variants.values() if shares(v)), key=lambda v: v.td.warmup_comm_steps)
        return None if source.key == variant.key else source.key

    def runs_after(self, variant: Variant) -> tuple[str, ...]:
        """What must be done first: what it inherits from, and the run whose warm-up it shares."""
        source = self.warmup_source(variant)
        return self.dependencies(variant) + ((source,) if source else ())

    def chosen(self, variant_key: str, task_name: str) -> Cell:
        """A variant's per-seed choices on validation (read from its records once)."""
        if (variant_key, task_name) not in self._chosen:
            records = self.run_variant(self.variants[variant_key], task_name)
            self._chosen[variant_key, task_name] = cell_for(records, self.higher_is_better)
        return self._chosen[variant_key, task_name]

    def n_replicas(self, variant: Variant, task_name: str) -> int:
        """How many replicas the stack has, known before any inherited choice is made."""
        if variant.method in EVALUATED:
            return len(self.profile.seeds)
        weights = 1 if self.weight_source(variant) else len(self.weight_grid(variant, task_name))
        l2s = 1 if self.l2_source(variant) else len(self.l2_grid(variant))
        return len(self.profile.seeds) * weights * l2s

    def replicas(self, variant: Variant, task_name: str) -> list[Replica]:
        """The stack's replicas, weight-major, then l2, then seed. An inherited choice gives
        each seed its own value; a grid (as grown so far) gives every seed every value."""
        seeds = self.profile.seeds
        if variant.method in EVALUATED:
            return [Replica(0.0, 0.0, s) for s in seeds]
        weight_from, l2_from = self.weight_source(variant), self.l2_source(variant)
        weights = (
            {s: [self.chosen(weight_from, task_name).choice_of(s)["distill_weight"]] for s in seeds}
            if weight_from
            else {s: list(self.grid(variant, task_name, "distill_weight")) for s in seeds}
        )
        l2s = (
            {s: [self.chosen(l2_from, task_name).choice_of(s)["l2"]] for s in seeds}
            if l2_from
            else {s: list(self.grid(variant, task_name, "l2")) for s in seeds}
        )
        grid_w = sorted({w for s in seeds for w in weights[s]})
        grid_l2 = sorted({v for s in seeds for v in l2s[s]})
        return [Replica(w, l2, s) for w in grid_w for l2 in grid_l2 for s in seeds if w in weights[s] and l2 in l2s[s]]

    higher_is_better = False  # the direction of the track's metric (RMSE: False; accuracy: True)

    def replica_extras(self, variant: Variant, task_name: str, replica: Replica) -> dict:
        """What a replica's configuration holds beyond (λ, l2, seed) and the stack's settings: a
        choice it inherits per seed from another variant (none by default)."""
        return {}

    def replica_key(self, stack_key: str, variant: Variant, task_name: str, replica: Replica) -> str:
        """A record's name in the store: the stack's settings (without its replica list) and the
        replica's own configuration. A replica computes the same numbers alone or in any stack
        (tests/test_stack_independence.py), so its record does not depend on which others
        were trained beside it, and a grid that grows trains only its new values."""
        return config_hash(stack_key, replica.row(), self.replica_extras(variant, task_name, replica))

    # ------------------------------------------------------------ running
    def run(self, variant_keys=None, tasks=None, desc: str = "runs") -> list[dict]:
        """Run (or load) every variant x task; returns the current records. Progress: see
        core/progress.py; `self.last_run` keeps what this call computed and how long it took."""
        keys = list(variant_keys or self.variants)
        for key in keys:
            check_choice("variant", key, tuple(self.variants))
        self.check_searches()
        tasks = tuple(tasks or self.task_names)
        jobs = [(key, name) for name in tasks for key in keys]
        waves = self.waves(keys)
        needed = [(key, t) for wave in waves for key in wave for t in tasks]  # in dependency order
        done = {job for job in needed if self.in_store(job)}
        progress = Progress(desc, {job: self.expected_cost(job) for job in needed}, done, self.progress)
        pending = [job for job in needed if job not in progress.done]
        if self.workers > 1 and len(pending) > 1:
            after = {job: {(d, job[1]) for d in self.runs_after(self.variants[job[0]])} for job in pending}
            preparing = set()  # preparation jobs the pool runs first (the stacks wait for theirs)
            for job in pending:
                for name in self.preparations(self.variants[job[0]]):
                    if not self.is_prepared(name):
                        preparing.add((f"@{name}", ""))
                        after[job].add((f"@{name}", ""))
            after |= {prep: set() for prep in preparing}
            pool_jobs = sorted(preparing) + pending
            run_in_workers(
                self.worker_factory(),
                pool_jobs,
                self.workers,
                on_done=lambda job: job in preparing or progress.advance(job),
                after=after,
                priority=self.critical_path(pool_jobs, after),
            )
        for job in pending:  # computes here with one worker; else loads what the workers wrote
            self.run_variant(self.variants[job[0]], job[1])
            progress.advance(job)
        wall = progress.close()
        self.last_run = {"stacks": len(needed), "computed": len(needed) - len(done), "wall_s": wall}
        return [record for key, name in jobs for record in self.run_variant(self.variants[key], name)]

    def critical_path(self, jobs, after) -> dict:
        """Per job: its expected cost plus the longest chain of jobs that wait for it. Starting
        the job with the longest chain first keeps both workers busy to the end."""
        waiting_on = {job: [j for j in jobs if job in after[j]] for job in jobs}
        chain: dict = {}

        def length(job):
            if job not in chain:
                chain[job] = self.expected_cost(job) + max((length(j) for j in waiting_on[job]), default=0.0)
            return chain[job]

        return {job: length(job) for job in jobs}

    def waves(self, keys) -> list[list[str]]:
        """The variants to run (those asked for and what they inherit from), in waves: a
        variant runs after every variant it inherits a choice from, and after a variant whose
        warm-up it shares when that one runs too (it is not added for that)."""
        needed: list[str] = []

        def add(key):
            if key not in needed:
                for d in self.dependencies(self.variants[key]):
                    add(d)
                needed.append(key)

        for key in keys:
            add(key)
        level: dict[str, int] = {}

        def visit(key):
            if key not in level:
                before = [d for d in self.runs_after(self.variants[key]) if d in needed]
                level[key] = 1 + max((visit(d) for d in before), default=-1)
            return level[key]

        for key in needed:
            visit(key)
        return [[k for k in needed if level[k] == n] for n in range(max(level.values(), default=-1) + 1)]

    def in_store(self, job) -> bool:
        """Are all the job's records in the store, its grids grown until they bracket? Never
        computes anything: a job whose inherited choice is not in the store yet is not done."""
        with self.loading_only():
            try:
                self.run_variant(self.variants[job[0]], job[1])
                return True
            except NotInStore:
                return False

    def stored(self, variant_keys=None, tasks=None) -> list[dict]:
        """The records already in the store for these variants x tasks; nothing is computed
        (a stack that is missing, or whose inherited choice is missing, is left out)."""
        keys = list(variant_keys or self.variants)
        records = []
        with self.loading_only():
            for name in tuple(tasks or self.task_names):
                for key in keys:
                    with contextlib.suppress(NotInStore):
                        records += self.run_variant(self.variants[key], name)
        return records

    @contextlib.contextmanager
    def loading_only(self):
        """Inside: read what is in the store, compute nothing (a missing stack raises NotInStore)."""
        before, self._load_only = self._load_only, True
        try:
            yield
        finally:
            self._load_only = before

    def run_job(self, job) -> None:
        """What a worker process does with one job: a stack, or a preparation ("@name", "")."""
        variant_key, task_name = job
        if variant_key.startswith("@"):
            journal(f"preparing {variant_key[1:]}")
            self.prepare(variant_key[1:])
            return
        self.run_variant(self.variants[variant_key], task_name)

    def stack_config(self, variant: Variant, task_name: str) -> dict:
        """The configuration a stack is stored under: the track's, plus the device when it is
        not the CPU (core/device.py), so GPU runs never stand in for CPU runs."""
        return {**self.run_config(variant, task_name), **config_stamp(self.device)}

    def placed(self, task):
        """The task with its tensors on the training device (moved once, then reused)."""
        if self.device.type == "cpu":
            return task
        if id(task) not in self._placed:
            self._placed[id(task)] = (task, task.to(self.device))
        return self._placed[id(task)][1]

    def record_paths(self, variant_key: str, task_name: str, key: str | None = None) -> list:
        """Where the stack's records live; `key` is its config hash when the caller has it."""
        variant = self.variants[variant_key]
        key = key or config_hash(self.stack_config(variant, task_name))
        return [
            self.store.record_path(
                variant.key, task_name, r.seed, r.weight, r.l2, self.replica_key(key, variant, task_name, r)
            )
            for r in self.replicas(variant, task_name)
        ]

    def run_variant(self, variant: Variant, task_name: str) -> list[dict]:
        """The stack's records, over grids grown until they bracket every seed's choice: each
        round loads what the store has and computes the missing replicas (a grown value's), then
        brackets. Each record says its search's bounds ("search") and what it inherits
        ("inherited"), as this experiment has them, not as stored: a replica's numbers do not
        depend on them, so bounds may widen, or a searched value become inherited, without any
        run changing."""
        while True:
            records = self.stack_records(variant, task_name)
            if not self.grown(variant, task_name, records):
                search, inherited = self.search_of(variant, task_name), self.inherited(variant)
                return [{**r, "inherited": inherited, **({"search": search} if search else {})} for r in records]

    def stack_records(self, variant: Variant, task_name: str) -> list[dict]:
        """The stack's records on its current grids: loaded when all are in the store, else its
        missing replicas are computed (once, under a lock: another process computing the same
        stack is waited for, not repeated) and the others loaded."""
        config = self.stack_config(variant, task_name)
        key = config_hash(config)
        paths = self.record_paths(variant.key, task_name, key)
        records = self.store.load_all(paths)
        if records is not None:
            return records
        if self._load_only:
            raise NotInStore(f"{variant.key} · {task_name}")
        with self.store.lock(variant.key, task_name, key):
            records = self.store.load_all(paths)  # finished by another process meanwhile?
            if records is None:
                missing = [(r, p) for r, p in zip(self.replicas(variant, task_name), paths) if not p.exists()]
                self._compute(variant, task_name, config, key, missing)
                records = self.store.load_all(paths)
        return records

    def _compute(self, variant: Variant, task_name: str, config: dict, key: str, missing) -> None:
        """Train (or evaluate) the `missing` (replica, record path) pairs as one stack and write
        one record per replica, and the stack's log (a record names its column)."""
        replicas = [r for r, _ in missing]
        trained = config_hash(key, [r.row() for r in replicas])  # this stack's log
        journal(f"computing {variant.key} · {task_name} · {key} ({len(replicas)} replicas)")
        task = self.task_for(variant, task_name)
        log_path = self.store.log_path(variant.key, task_name, trained)
        if variant.method in EVALUATED:
            outcome = self.reference_outcome(variant, task, replicas)
        else:
            outcome = self._train(variant, task, replicas, noise_seed=int(key, 16) % 2**31)
            self.store.write_log(
                log_path,
                {
                    **{f"step/{k}": v for k, v in outcome["step_log"].items()},
                    **{f"epoch/{k}": v for k, v in outcome["epoch_log"].items()},
                },
            )
        for r, (replica, path) in enumerate(missing):
            self.store.write(
                path,
                {
                    **{k: config[k] for k in ("experiment", "profile", "variant", "method", "task")},
                    "label": variant.label,
                    "seed": replica.seed,
                    "distill_weight": replica.weight,
                    "l2": replica.l2,
                    "config_hash": key,
                    "replica": self.replica_extras(variant, task_name, replica),
                    "inherited": self.inherited(variant),
                    "metric": task.metric.name,
                    "higher_is_better": task.metric.higher_is_better,
                    "valid_metric": outcome["valid_metric"][r],
                    "test_metric": outcome["test_metric"][r],
                    "best_epoch": outcome["best_epoch"][r],
                    "epochs_run": outcome["epochs_run"],
                    "steps_run": outcome["steps_run"],
                    "stack_wall_s": outcome["wall_s"],
                    "stack_replicas": len(replicas),
                    "n_train": len(task.train),
                    "log_file": None if variant.method in EVALUATED else str(log_path.relative_to(self.store.root)),
                    "log_column": None if variant.method in EVALUATED else r,
                    "config": config,
                    **provenance(),
                    **({"device": device_report(self.device)} if self.device.type != "cpu" else {}),
                    **({"analysis": outcome["analysis"][r]} if outcome.get("analysis") else {}),
                },
            )

    def _train(self, variant: Variant, task, replicas, noise_seed: int) -> dict:
        if not self.stack_replicas and len(replicas) > 1:
            return merge_outcomes([self._train(variant, task, [r], noise_seed) for r in replicas])
        method, seeds, teacher_index = self.build_stack(variant, task, replicas, noise_seed)
        # on a GPU the method moves there, and with it the track's shared frozen teacher (a
        # submodule); it goes back afterwards, since the track computes teacher states on the CPU
        method, task = method.to(self.device), self.placed(task)  # nothing moves on the CPU
        try:
            observer = self.training_observer(variant, method, task)
            with single_thread():
                result = train_stack(
                    method,
                    task,
                    self.train_config(variant),
                    seeds,
                    teacher_index=teacher_index,
                    td=variant.td,
                    desc=f"{variant.key} · {task.name}",
                    progress=self.progress,
                    drop_stopped=True,
                    shared_warmup=self.shared_warmup(variant, task.name, replicas),
                    on_epoch=getattr(observer, "on_epoch", None),
                )
                analysis = observer.finish(result) if observer is not None else None
        finally:
            method.to("cpu")
        return vars(result) | ({"analysis": analysis} if analysis is not None else {})

    def shared_warmup(self, variant: Variant, task_name: str, replicas) -> SharedWarmup | None:
        """Where the "separate" schedules of a task keep the start they share (warmup_source):
        named by the stack's whole configuration but N2, and the replicas it trains, so only
        identical starts meet."""
        source = self.warmup_source(variant)
        if source is None and any(self.warmup_source(v) == variant.key for v in self.variants.values()):
            source = variant.key  # the one whose start the others take
        if source is None or not self.stack_replicas:
            return None
        steps = self.variants[source].td.warmup_steps
        config = self.stack_config(variant, task_name)
        config = {**config, "variant": None, "td": {**config["td"], "warmup_comm_steps": None}}
        key = config_hash(config, "shared warm-up", steps, WARMUP_FORMAT, [r.row() for r in replicas])
        return SharedWarmup(steps, self.store.root / "warmups" / task_name / f"{key}.pt")


def journal(line: str) -> None:
    """With IKD_RUN_JOURNAL=<file>, one line per stack this process computes (with its pid):
    what a run actually did, as opposed to what it loaded from the store."""
    path = os.environ.get("IKD_RUN_JOURNAL")
    if path:
        with open(path, "a") as f:  # O_APPEND: lines from several processes do not mix
            f.write(f"{os.getpid()} {line}\n")


def merge_outcomes(outcomes: list[dict]) -> dict:
    """Replicas trained one by one, as if they had been one stack (logs padded with NaN)."""

    def pad_cat(arrays):
        longest = max(len(a) for a in arrays)
        return np.concatenate(
            [np.pad(a, ((0, longest - len(a)), (0, 0)), constant_values=np.nan) for a in arrays], axis=1
        )

    merged = {k: sum((o[k] for o in outcomes), []) for k in ("valid_metric", "test_metric", "best_epoch")}
    merged |= {
        "epochs_run": max(o["epochs_run"] for o in outcomes),
        "steps_run": max(o["steps_run"] for o in outcomes),
        "wall_s": sum(o["wall_s"] for o in outcomes),
    }
    if "analysis" in outcomes[0]:
        merged["analysis"] = sum((o["analysis"] for o in outcomes), [])
    for log in ("step_log", "epoch_log"):
        merged[log] = {k: pad_cat([o[log][k] for o in outcomes]) for k in outcomes[0][log]}
    return merged
