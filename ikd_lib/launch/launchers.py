"""Launchers: how the orchestrator's runs reach GPUs. One setting chooses (IKD_LAUNCHER, or
`make tables PROFILE=paper LAUNCHER=slurm`):

- `local`: this node. The runs of a stage go to `torchrun --standalone --nproc_per_node=<GPUS>`,
  one after another in one process group; with more GPUs than a run uses (IKD_GPUS_PER_RUN <
  IKD_GPUS), several such groups run side by side, each on its own GPUs.
- `slurm`: submitit, one job per run (a node's worth of tasks, one per GPU), all the jobs of a
  stage submitted at once; a preempted or timed-out job is requeued and resumes from its
  checkpoint. IKD_SLURM_PARTITION, IKD_SLURM_ACCOUNT, IKD_SLURM_TIME_MIN, IKD_SLURM_CPUS_PER_GPU
  describe the cluster; IKD_SLURM_EXECUTOR=local runs the same jobs as local processes
  (submitit's LocalExecutor: how the tests exercise this path without a cluster).

Both are re-entrant: a run whose result is there is skipped, an unfinished one resumes. Each
runs the track's entry module (`entry`, e.g. ikd_lib.vision.paper.run), whose main() takes a
list of spec files and runs them in one process group.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import subprocess
import sys
from pathlib import Path

LAUNCHERS = ("local", "slurm")


class RunFailed(RuntimeError):
    """A launched run (or a group of them) did not finish."""


def gpu_count() -> int:
    """The GPUs on this node (0 without CUDA)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{name}={value!r}: expected a positive integer")
    return int(value)


class LocalLauncher:
    """torchrun on this node. entry: the module each process runs with the spec files; gpus: GPUs
    in all (on a CPU-only node: processes, gloo); per_run: processes of one run (default: all)."""

    name = "local"

    def __init__(self, entry: str, gpus: int, per_run: int | None = None, log_dir=None, python: str = sys.executable):
        self.entry, self.gpus, self.per_run = entry, gpus, per_run or gpus
        if self.per_run > self.gpus:
            raise ValueError(f"a run on {self.per_run} GPUs does not fit on {self.gpus}")
        self.groups = self.gpus // self.per_run  # side by side, each on its own GPUs
        self.log_dir, self.python = log_dir, python

    def command(self, spec_paths) -> list[str]:
        return [
            self.python,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={self.per_run}",
            "-m",
            self.entry,
            *map(str, spec_paths),
        ]

    def run(self, spec_paths, stage: str = "runs") -> None:
        """Run every spec; raise RunFailed naming the log of a group that failed."""
        spec_paths = list(spec_paths)
        if not spec_paths:
            return
        groups = [spec_paths[g :: self.groups] for g in range(self.groups)]
        failed = []
        with contextlib.ExitStack() as logs:  # every group's log stays open until its torchrun ends
            procs = []
            for g, paths in enumerate(p for p in groups if p):
                env = dict(os.environ)
                if self.groups > 1 and gpu_count():  # group g gets GPUs g*per_run .. (g+1)*per_run-1
                    env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g * self.per_run + i) for i in range(self.per_run))
                log = None
                if self.log_dir is not None:
                    Path(self.log_dir).mkdir(parents=True, exist_ok=True)
                    log = logs.enter_context(open(Path(self.log_dir) / f"{stage}-group{g}.log", "a"))
                procs.append(
                    (
                        subprocess.Popen(
                            self.command(paths), env=env, stdout=log, stderr=subprocess.STDOUT if log else None
                        ),
                        log,
                    )
                )
            for proc, log in procs:
                if proc.wait() != 0:
                    failed.append(f"exit {proc.returncode}" + (f", log {log.name}" if log else ""))
        if failed:
            raise RunFailed(
                f"{stage}: torchrun failed ({'; '.join(failed)}). Finished runs are kept; "
                "run the same command again to resume the others from their checkpoints."
            )


class SubmititRun:
    """What one SLURM task runs: join the job's process group (submitit's rank, world and master
    address) and run the spec with the entry module's main(). submitit requeues a preempted or
    timed-out job by calling checkpoint(), which submits the same spec again: it resumes from its
    own checkpoint file."""

    def __init__(self, spec_path, entry: str):
        self.spec_path, self.entry = str(spec_path), entry

    def __call__(self):
        from submitit.helpers import TorchDistributedEnvironment

        # RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (a port drawn from the job id), LOCAL_RANK
        TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        importlib.import_module(self.entry).main([self.spec_path])
        return self.spec_path

    def checkpoint(self, *args, **kwargs):
        import submitit

        return submitit.helpers.DelayedSubmission(SubmititRun(self.spec_path, self.entry))


class SlurmLauncher:
    """One submitit job per spec (the entry module's main() on each task), the whole stage submitted
    at once, then waited for."""

    name = "slurm"

    def __init__(
        self,
        entry: str,
        folder,
        gpus: int,
        executor: str = "slurm",
        partition: str | None = None,
        account: str | None = None,
        time_min: int = 24 * 60,
        cpus_per_gpu: int = 8,
        poll_s: float = 5.0,
    ):
        self.entry, self.folder, self.gpus, self.executor = entry, Path(folder), gpus, executor
        self.partition, self.account, self.time_min, self.cpus_per_gpu = partition, account, time_min, cpus_per_gpu
        self.poll_s = poll_s

    def executor_for(self, stage: str):
        import submitit

        ex = submitit.AutoExecutor(folder=self.folder / stage / "%j", cluster=self.executor)
        params = dict(
            name=f"ikd-{stage}",
            nodes=1,
            tasks_per_node=self.gpus,
            timeout_min=self.time_min,
            cpus_per_task=self.cpus_per_gpu,
        )
        if self.executor == "slurm":
            params |= dict(gpus_per_node=self.gpus, slurm_signal_delay_s=120)
            params |= {k: v for k, v in (("slurm_partition", self.partition), ("slurm_account", self.account)) if v}
        ex.update_parameters(**params)
        return ex

    def run(self, spec_paths, stage: str = "runs") -> None:
        spec_paths = list(spec_paths)
        if not spec_paths:
            return
        ex = self.executor_for(stage)
        with ex.batch():
            jobs = [ex.submit(SubmititRun(p, self.entry)) for p in spec_paths]
        print(
            f"{stage}: submitted {len(jobs)} job(s) ({', '.join(str(j.job_id) for j in jobs[:5])}"
            f"{', ...' if len(jobs) > 5 else ''}); waiting",
            flush=True,
        )
        failed = []
        for job, path in zip(jobs, spec_paths):
            try:
                job.results()  # every task's: raises if one failed
            except Exception as e:  # submitit's FailedJobError and the like, with the job's stderr
                failed.append(
                    f"{path} (job {job.job_id}): {str(e).strip().splitlines()[-1] if str(e).strip() else e!r}"
                )
        if failed:
            raise RunFailed(
                f"{stage}: {len(failed)} job(s) failed; logs under {self.folder / stage}:\n  "
                + "\n  ".join(failed)
                + "\nSubmit again (the same command) to resume them."
            )


def from_settings(folder, entry: str) -> LocalLauncher | SlurmLauncher:
    """The launcher the environment asks for (IKD_LAUNCHER, default local) with its GPU counts:
    IKD_GPUS (default: this node's GPUs, else one CPU process) and IKD_GPUS_PER_RUN; it runs the
    module `entry` on each process."""
    kind = os.environ.get("IKD_LAUNCHER", "local")
    if kind not in LAUNCHERS:
        raise ValueError(f"IKD_LAUNCHER={kind!r}; valid: {', '.join(LAUNCHERS)}")
    gpus = _int_env("IKD_GPUS", gpu_count() or 1)
    if kind == "local":
        return LocalLauncher(entry, gpus, _int_env("IKD_GPUS_PER_RUN", gpus), log_dir=Path(folder) / "logs")
    return SlurmLauncher(
        entry,
        Path(folder) / "submitit",
        _int_env("IKD_GPUS_PER_RUN", gpus),
        executor=os.environ.get("IKD_SLURM_EXECUTOR", "slurm"),
        partition=os.environ.get("IKD_SLURM_PARTITION"),
        account=os.environ.get("IKD_SLURM_ACCOUNT"),
        time_min=_int_env("IKD_SLURM_TIME_MIN", 24 * 60),
        cpus_per_gpu=_int_env("IKD_SLURM_CPUS_PER_GPU", 8),
    )
