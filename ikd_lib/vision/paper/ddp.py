"""The paper profile's trainer: one student per run on many GPUs, torch's DistributedDataParallel
under torchrun, bf16 autocast, a checkpoint every epoch and resume.

    torchrun --nproc_per_node=8 -m ikd_lib.vision.paper.ddp --profile paper --dataset cifar10 \\
        --variant td --seed 0 --weight 1.0 --out runs/paper/ddp/cifar10-td-s0-w1

At 224 px on full datasets the teacher's states cannot be cached (augmentation changes every
image, and the states would not fit on disk), so the frozen teacher computes t_l, t_h and its
prediction live for each batch, without gradients. Otherwise this is `core/train.py`'s loop for
one replica (R = 1): the same methods, optimisers and phases, and the same rules of early
stopping and restoring (core/stopping.py's `EarlyStopping`: the task's metric in its direction,
epoch 0 a candidate, the start guard, patience after the warm-up), fed the per-example
validation values of all ranks, gathered in the dataset's order, so every rank decides the same.

Reproducibility: every random draw is a function of (seed, epoch, rank, step): the data order
(DistributedSampler: seed + epoch), the augmentation (a generator per step), the global
generator (reseeded per epoch and rank: dropout, DataLoader workers) and TD's noise. A resumed
run therefore needs no generator state from the checkpoint and repeats an uninterrupted run
bit for bit (tests/test_vision_ddp.py: 2 ranks, CPU). With 3 or more ranks the first step
after a resume may round differently: the new DDP lays out its gradient buckets afresh, and a
ring all-reduce over 3+ ranks sums an element in an order that depends on its place in the
bucket (with 2 ranks, a + b = b + a exactly).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, Subset, TensorDataset
from tqdm.auto import tqdm

from ...core import losses
from ...core.methods import build_method, freeze
from ...core.stacked import replica_generator
from ...core.stopping import EarlyStopping
from ...core.store import atomic_write_json, cache_root, provenance
from ...core.task import ACCURACY
from ...core.torchfiles import atomic_save
from ...core.train import describe_nonfinite, make_optimizers, phase_at
from ...launch.spec import RESULT, STEPS, write_step_log
from ..models import TappedViT, TeacherUp, build_vit, student_from_teacher
from ..profiles import get_profile
from ..teacher import augment as crop_and_flip, load_pretrained_teacher
from ..variants import VARIANT_KEYS, vision_variants
from .stream import holdout

CHECKPOINT = "checkpoint.pt"
STEPS_BY_PHASE = {"student": ("student",), "comm": ("aux",), "joint": ("student", "aux")}


@dataclass
class DDPResult:
    valid_metric: float  # the metric (top-1 accuracy) on the validation split at the best epoch
    best_epoch: int  # 1-based (0: the model as initialised)
    epochs_run: int  # in total, including epochs run before a resume
    wall_s: float  # in total, including time before a resume
    checkpoint: str  # the checkpoint file (its last epoch; the best state is inside)
    resumed_from_epoch: int = 0  # the epoch this call found in the checkpoint (0: a fresh start)


def setup(backend: str | None = None) -> tuple[int, int]:
    """Join the process group that torchrun describes (RANK, WORLD_SIZE, MASTER_ADDR/PORT) and
    return (rank, world_size); a no-op in a process that already joined. nccl on GPUs, else gloo.
    One GPU or CPU is a group of one: `torchrun --nproc_per_node=1`."""
    if not dist.is_initialized():
        cuda = torch.cuda.is_available()
        if cuda:  # before init: nccl binds each process to its own GPU
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group(backend or ("nccl" if cuda else "gloo"))
    return dist.get_rank(), dist.get_world_size()


class Objective(nn.Module):
    """What DDP wraps: the method's summed objective for a batch. DDP all-reduces the gradients
    of the parameters that require them (student, E*/D*, ...) and ignores the frozen teacher's.

    A phase of the "separate" schedule trains only some parameters; their optimiser alone steps
    (as in core/train.py). The other part of the loss is multiplied by 0 rather than dropped, so
    every trained parameter still gets a (zero) gradient each step: that keeps
    find_unused_parameters=False valid, whose reducer expects a gradient for every parameter."""

    def __init__(self, method):
        super().__init__()
        self.method = method

    def forward(self, batch, phase: str = "joint"):
        _, named, _ = self.method.forward_train(batch)
        full, own = self.method.objective(named), self.method.student_objective(named)
        if phase == "student":  # the student alone (E*, D* get zero gradients)
            full = own + 0.0 * full
        elif phase == "comm":  # E*, D* alone: the student's own losses out (its optimiser rests)
            full = (full - own) + 0.0 * own
        return full.float().sum(), named  # the per-replica loss summed (R = 1); fp32 under autocast


class TaskLike:
    """What build_method reads of a task, for a run that has no Task in memory: the task loss and
    the logit-KD loss at the profile's temperature (picklable)."""

    def __init__(self, temperature: float):
        self.task_loss = losses.class_cross_entropy
        self.kd_loss = functools.partial(losses.kd_classes, temperature=temperature)


def autocast(device: torch.device):
    """bf16 on GPUs (its fp32 exponent range needs no loss scaling); plain fp32 on CPUs."""
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()


def _derived_seed(seed: int, stream: str) -> int:
    return replica_generator(seed, stream).initial_seed()


def _frozen_names(method) -> set[str]:
    # every name of a frozen parameter, also a second path to a shared module
    return {name for name, p in method.named_parameters(remove_duplicate=False) if not p.requires_grad}


def trained_state(method, copy: bool = False) -> dict[str, torch.Tensor]:
    """The method's state without the frozen parameters (the teacher is reloaded from its own
    checkpoint, not saved every epoch: ViT-B alone is 86M parameters)."""
    frozen = _frozen_names(method)
    return {k: (v.detach().clone() if copy else v) for k, v in method.state_dict().items() if k not in frozen}


def load_trained_state(method, state: dict[str, torch.Tensor]) -> None:
    frozen = _frozen_names(method)
    missing, unexpected = method.load_state_dict(state, strict=False)
    if unexpected or set(missing) - frozen:
        raise ValueError(
            f"checkpoint does not fit this method: missing {sorted(set(missing) - frozen)}, "
            f"unexpected {sorted(unexpected)}"
        )


@torch.no_grad()
def per_example(method, dataset, device, batch_size: int, num_workers: int = 0, metric=ACCURACY) -> torch.Tensor:
    """The metric's per-example values [1, N] of method.predict on `dataset` (correct or not), in
    the dataset's order, the same tensor on every rank (on the CPU): what Task.per_example gives
    the in-process loop. Each rank takes every world_size-th image (not a DistributedSampler
    shard: that pads the last shard with repeated images, which would be counted twice), and one
    all_gather puts the shares back in order."""
    rank, world = dist.get_rank(), dist.get_world_size()
    n = len(dataset)
    method.eval()
    mine = []
    for images, labels in DataLoader(
        Subset(dataset, range(rank, n, world)),
        batch_size=batch_size,
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
    ):
        with autocast(device):
            pred = method.predict(images.to(device, non_blocking=True)[None])
        mine.append(metric.per_example(pred.float(), labels.to(device)[None])[0].float())
    share = torch.full((-(-n // world),), float("nan"), device=device)  # rank r: images r, r + world, ...
    if mine:
        values = torch.cat(mine)
        share[: len(values)] = values
    shares = [torch.empty_like(share) for _ in range(world)]
    dist.all_gather(shares, share)
    return torch.stack(shares).T.reshape(1, -1)[:, :n].cpu()  # image i = share i % world, row i // world


def evaluate(method, dataset, device, batch_size: int, num_workers: int = 0, metric=ACCURACY) -> float:
    """The metric (top-1 accuracy) of method.predict on `dataset`, the same number on every rank."""
    return float(metric.finish(per_example(method, dataset, device, batch_size, num_workers, metric).mean(1))[0])


def teacher_states_fn(teacher: TappedViT, probe_weight: torch.Tensor, probe_bias: torch.Tensor):
    """images [B, 3, H, W] -> the frozen teacher's t_l, t_h [1, B, N, D] and its probe logits [1, B, C]
    (what tasks.attach_teacher caches at the cpu profile, here per batch)."""

    def states(images):
        low = teacher.forward_low(images[None])
        high = teacher.forward_up(low)
        features = teacher.vit.forward_head(teacher.vit.norm(high[0]), pre_logits=True)
        pred = features @ probe_weight.to(features) + probe_bias.to(features)
        return {"teacher_low": low, "teacher_high": high, "teacher_pred": pred[None]}

    return states


def _check_finite(total, named, method, epoch: int, step: int, rank: int) -> None:
    """Every rank learns when any rank's loss is not finite, and all stop before backward (a rank
    that stopped alone would leave the others waiting in the gradient all-reduce forever)."""
    finite = torch.isfinite(total.detach()).to(torch.int32).reshape(1)
    everywhere = finite.clone()
    dist.all_reduce(everywhere, op=dist.ReduceOp.MIN)
    if not bool(everywhere):
        raise FloatingPointError(
            describe_nonfinite(step, epoch, named, method.student.seeds, method.distill_weight, f"DDP rank {rank}")
            if not bool(finite)
            else f"non-finite loss on another DDP rank at step {step} (epoch {epoch}); rank {rank} stops too."
        )


def _fresh_progress() -> dict:
    """Where a run stands after an epoch: with the rules' state (core/stopping.py), all a resume
    needs besides weights and optimisers."""
    return {"epoch": 0, "step": 0, "joint_epochs": 0, "wall_s": 0.0}


def _run_identity(method, seed: int) -> dict:
    """What makes two runs the same run: a checkpoint of another one is never resumed."""
    td = getattr(method, "td", None)
    return {
        "seed": seed,
        "method": method.name,
        "distill_weight": method.distill_weight.tolist(),
        "td": asdict(td) if td is not None else None,
    }


def _load_checkpoint(path: Path, method, optimizers, seed: int, device) -> tuple[dict, list, dict, dict, dict] | None:
    """(progress, history, best state, step log, the rules' state) of the checkpoint at `path`, its
    weights and optimiser states loaded into `method` and `optimizers`; None when there is none."""
    if not path.exists():
        return None
    saved = torch.load(path, map_location=device, weights_only=True)
    if saved["run"] != _run_identity(method, seed):
        raise ValueError(
            f"{path} belongs to another run ({saved['run']}), not to this one "
            f"({_run_identity(method, seed)}): use another checkpoint_dir"
        )
    if "step_log" not in saved:  # resumed, it would log only the epochs still to run
        raise ValueError(
            f"{path} holds no per-step losses (written by an older version of ikd_lib): "
            f"delete its folder {path.parent} to run this run again from the start"
        )
    if "stopping" not in saved:  # its early stopping followed other rules (no epoch 0, no start guard)
        raise ValueError(
            f"{path} holds no state of the early-stopping rules (written by an older version of "
            f"ikd_lib): delete its folder {path.parent} to run this run again from the start"
        )
    load_trained_state(method, saved["model"])
    for name, opt in optimizers.items():
        opt.load_state_dict(saved["optimizers"][name])
    step_log = {k: v.cpu() for k, v in saved["step_log"].items()}  # map_location put it on the device
    return saved["progress"], saved["history"], saved["best_model"], step_log, saved["stopping"]


def _extend(step_log: dict[str, torch.Tensor], rows: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The run's per-step losses so far, then this epoch's."""
    if not rows or not step_log:
        return dict(rows or step_log)
    if rows.keys() != step_log.keys():
        raise RuntimeError(f"the named losses changed between epochs: {list(step_log)} then {list(rows)}")
    return {k: torch.cat([step_log[k], rows[k]]) for k in step_log}


def _train_epoch(
    model,
    method,
    optimizers,
    loader,
    teacher_states,
    augment,
    td,
    progress: dict,
    seed: int,
    epoch: int,
    rank: int,
    device,
) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """One pass over this rank's shard: (the epoch's mean training losses, its per-step losses
    name -> [steps] float32 on the CPU), both averaged over all ranks. Each step's losses stay
    on the device until the epoch ends, then one all-reduce of [steps, losses] averages them:
    no extra synchronisation per step. Rank 0's own rows would be the loss of 1/world of the
    batch; their average is the loss of the global batch, what an in-process run logs."""
    model.train()
    rows, names = [], None
    for i, (images, labels) in enumerate(loader):
        step, phase = progress["step"], phase_at(progress["step"], td)
        if augment is not None:  # on the CPU batch: the generator is a CPU one
            images = augment(images, replica_generator(seed, f"ddp.augment.epoch{epoch}.rank{rank}.step{i}"))
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        with autocast(device):
            with torch.no_grad():
                states = teacher_states(images)
            total, named = model({"inputs": images[None], "target": labels[None], **states}, phase)
        _check_finite(total, named, method, epoch, step, rank)
        for opt in optimizers.values():
            opt.zero_grad(set_to_none=True)
        total.backward()  # DDP averages the gradients over the ranks during backward
        for group in STEPS_BY_PHASE[phase]:
            if group in optimizers:
                optimizers[group].step()
        if names is None:
            names = list(named)
        elif list(named) != names:  # Objective computes every loss in every phase (see its docstring)
            raise RuntimeError(f"the named losses changed within an epoch: {names} then {list(named)}")
        rows.append(torch.stack([v.detach().float().reshape(-1)[0] for v in named.values()]))
        progress["step"] += 1
    if not rows:
        return {}, {}
    table = torch.stack(rows)  # [steps, losses]; every rank ran as many steps (equal shards)
    dist.all_reduce(table)
    table = (table / dist.get_world_size()).cpu()
    means = {f"train_{k}": float(v) for k, v in zip(names, table.double().mean(0))}
    return means, {k: table[:, j].clone() for j, k in enumerate(names)}


def train_ddp(
    method,
    teacher_states,
    train_set,
    valid_set,
    cfg,
    checkpoint_dir,
    seed: int,
    augment=None,
    device=None,
    progress: bool = True,
    num_workers: int = 4,
    metric=ACCURACY,
) -> DDPResult:
    """Train `method` (one replica, R = 1) with DDP on every rank of the process group (`setup()`).

    teacher_states(images) -> {"teacher_low", "teacher_high", "teacher_pred"}, each [1, B, ...];
    datasets yield (uint8 image [3, H, W], label); augment(images, generator) -> images, optional.
    cfg.batch_size is the global batch (split over the ranks), so a run means the same on any
    number of GPUs. A checkpoint in checkpoint_dir (readable by every rank) is resumed from its
    next epoch; a run that stopped early stays stopped, one capped by max_epochs goes on under a
    higher cap. At the end every rank holds the best epoch's state. num_workers: DataLoader
    processes per rank (JPEG decoding and resizing at 224 px need a few per GPU).

    Early stopping is core/stopping.py's, on `metric` (core/task.py; top-1 accuracy by default):
    a fresh run first evaluates the model as initialised (epoch 0, a candidate, and the start
    that cfg.start_guard compares with); the rules' state is in every checkpoint."""
    start = time.perf_counter()
    rank, world = setup()
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    method.to(device)
    optimizers = make_optimizers(method, cfg)
    td = getattr(method, "td", None)
    warmup_steps = td.warmup_steps if td else 0
    local_batch = max(1, cfg.batch_size_for(len(train_set)) // world)
    path = Path(checkpoint_dir) / CHECKPOINT
    # resume before DDP starts: all ranks read the same file (DDP then broadcasts rank 0's weights)
    resumed = _load_checkpoint(path, method, optimizers, seed, device)

    # forward_sync_buffers=False: no buffer changes in training (LayerNorm, no BatchNorm), so a
    # broadcast every step would buy nothing. find_unused_parameters=False: see Objective.
    model = DistributedDataParallel(
        Objective(method),
        device_ids=None if device.type == "cpu" else [device.index],
        forward_sync_buffers=False,
        find_unused_parameters=False,
    )
    if resumed is None:  # epoch 0: the model as initialised (rank 0's, which DDP has just broadcast)
        state, history, best, step_log = _fresh_progress(), [], trained_state(method, copy=True), {}
        rules = EarlyStopping.start(
            metric,
            per_example(method, valid_set, device, local_batch, num_workers, metric),
            cfg.patience,
            cfg.start_guard,
        )
    else:
        state, history, best, step_log, stopping = resumed
        rules = EarlyStopping.resumed(metric, stopping, cfg.patience, cfg.start_guard)
    resumed_from, wall_before = state["epoch"], state["wall_s"]
    # drop_last=True: no image repeated to even out the shards (at most world-1 left out per epoch)
    sampler = DistributedSampler(train_set, num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=True)
    loader = DataLoader(
        train_set,
        batch_size=local_batch,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
        persistent_workers=num_workers > 0,
    )
    bar = tqdm(
        total=cfg.max_epochs,
        initial=state["joint_epochs"],
        desc=f"DDP {method.name}",
        disable=not progress or rank != 0,
        leave=False,
    )
    while not rules.stopped and state["joint_epochs"] < cfg.max_epochs:
        epoch = state["epoch"] + 1
        torch.manual_seed(_derived_seed(seed, f"ddp.global.epoch{epoch}.rank{rank}"))  # dropout, workers
        if getattr(method, "noise", None) is not None:  # TD's "add noise"
            noise_seed = _derived_seed(seed, f"ddp.noise.epoch{epoch}.rank{rank}")
            method.noise = [torch.Generator().manual_seed(noise_seed)]  # one replica; drawn on the CPU
        sampler.set_epoch(epoch)
        train_losses, step_rows = _train_epoch(
            model, method, optimizers, loader, teacher_states, augment, td, state, seed, epoch, rank, device
        )
        step_log = _extend(step_log, step_rows)  # every rank holds it (all-reduced): rank 0 saves it

        # early stopping by core/stopping.py's rules, on the values of all ranks: every rank decides the same
        joint = int(state["step"] > warmup_steps)  # patience and max_epochs count after a warm-up
        values = per_example(method, valid_set, device, local_batch, num_workers, metric)
        if bool(rules.update(epoch, values, past_warmup=bool(joint))[0]):
            best = trained_state(method, copy=True)
        valid = float(rules.last_valid[0])
        state["joint_epochs"] += joint
        state.update(epoch=epoch, wall_s=wall_before + time.perf_counter() - start)
        history.append({"epoch": epoch, "valid_metric": valid, "wall_s": state["wall_s"], **train_losses})
        if rank == 0:  # written whole, then renamed: a crash never leaves half a checkpoint
            atomic_save(
                {
                    "model": trained_state(method),
                    "best_model": best,
                    "progress": state,
                    "history": history,
                    "stopping": rules.state_dict(with_start=True),  # best epoch, patience, epoch 0's values
                    "step_log": step_log,  # loss name -> [steps so far]: a resumed run's log is whole
                    "optimizers": {name: opt.state_dict() for name, opt in optimizers.items()},
                    "run": _run_identity(method, seed),
                    "train_config": asdict(cfg),
                    # the data order of epoch e is DistributedSampler(seed, world).set_epoch(e)
                    "sampler": {"seed": seed, "next_epoch": epoch + 1, "world_size": world, "drop_last": True},
                },
                path,
            )
        dist.barrier()  # no rank runs ahead of (or reads) a checkpoint that rank 0 has not finished
        bar.update(joint)
        bar.set_postfix(valid=f"{valid:.4f}", best=f"{float(rules.best_metric[0]):.4f}")
    bar.close()

    load_trained_state(method, best)  # every rank: the best epoch's student and E*/D*
    method.eval()
    return DDPResult(
        valid_metric=float(rules.best_metric[0]),
        best_epoch=int(rules.best_epoch[0]),
        epochs_run=state["epoch"],
        wall_s=wall_before + time.perf_counter() - start,
        checkpoint=str(path),
        resumed_from_epoch=resumed_from,
    )


# ---------------------------------------------------------------- the torchrun entry point
def _datasets(profile, name: str, rank: int):
    """(train, valid, test, n_classes). A profile with its own small ViT (smoke, cpu) uses the
    in-memory subsets of the cpu track (offline copies, no download); the paper profile the full
    datasets as uint8 tensors resized to its img_size (torchvision CIFAR, or ImageNet folders)."""
    if profile.vit.timm_name is None:
        from ..tasks import load_splits

        s = load_splits(profile, name)
        return (*(TensorDataset(p.x, p.y) for p in (s.train, s.valid, s.test)), len(s.classes))
    import torchvision
    from torchvision.transforms import v2

    size = profile.vit.img_size
    transform = v2.Compose([v2.PILToTensor(), v2.Resize((size, size), antialias=True)])
    if name == "imagenet":
        from ..data import imagenet_folder

        full, test = imagenet_folder()
        full.transform = test.transform = transform
    else:
        cls = {"cifar10": torchvision.datasets.CIFAR10, "cifar100": torchvision.datasets.CIFAR100}[name]
        root = cache_root() / "vision"
        if int(os.environ.get("LOCAL_RANK", rank)) == 0 and os.environ.get("IKD_OFFLINE") != "1":
            cls(root, train=True, download=True), cls(root, train=False, download=True)
        dist.barrier()  # the other ranks wait for the download
        full, test = (cls(root, train=t, transform=transform) for t in (True, False))
    train_idx, valid_idx = holdout(full.targets, profile.valid_per_class[name])
    return Subset(full, train_idx), Subset(full, valid_idx), test, len(full.classes)


def main(argv=None) -> DDPResult:
    """One (variant, dataset, seed, λ) run; rank 0 writes OUT/result.json and its per-step
    training losses OUT/steps.npz (loss name -> [steps], averaged over the ranks). The smoke profile uses
    a tiny *random* teacher and a random linear probe: it checks the machinery, not the method."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="paper", choices=("smoke", "paper"))
    parser.add_argument("--dataset", default="cifar10", choices=("cifar10", "cifar100", "tinyimagenet", "imagenet"))
    parser.add_argument("--variant", default="td", choices=[k for k in VARIANT_KEYS if k != "teacher"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weight", type=float, default=1.0, help="the distillation weight λ")
    parser.add_argument("--out", required=True, help="folder for result.json and the checkpoint")
    parser.add_argument("--probe", help="the teacher's linear probe, a torch file {'weight': [D, C], 'bias': [C]}")
    parser.add_argument("--epochs", type=int, help="override the profile's max_epochs")
    parser.add_argument("--workers", type=int, default=None, help="DataLoader processes per rank")
    args = parser.parse_args(argv)
    created = not dist.is_initialized()
    rank, _ = setup()
    profile = get_profile(args.profile)
    if profile.vit.timm_name:
        teacher, _ = load_pretrained_teacher(profile)
    else:  # random, not pre-trained: pre-training belongs to the cpu track's experiment
        vit = build_vit(profile.vit, profile.vit.teacher_depth, 0, seed=0)
        teacher = freeze(TappedViT(vit, profile.vit.low_block, 0))
    train_set, valid_set, test_set, n_classes = _datasets(profile, args.dataset, rank)
    variant = vision_variants(profile, 0.0)[args.variant]
    if args.variant == "td_noise":  # σ relative to the spread of t_l, as in experiment.py
        with torch.no_grad():
            some = torch.stack([train_set[i][0] for i in range(min(64, len(train_set)))])
            variant = replace(
                variant,
                td=replace(variant.td, noise_std=profile.noise_std * float(teacher.forward_low(some[None]).std())),
            )
    if args.probe:
        probe = torch.load(args.probe, map_location="cpu", weights_only=True)
    elif profile.vit.timm_name and variant.method in ("kd", "hybrid"):
        raise SystemExit(f"--variant {args.variant} distils the teacher's logits: pass --probe FILE")
    else:  # no method but kd and hybrid reads teacher_pred; the smoke profile's stands in for one
        g = replica_generator(0, "ddp.random_probe")
        probe = {"weight": torch.randn(teacher.width, n_classes, generator=g) * 0.02, "bias": torch.zeros(n_classes)}
    task_like = TaskLike(profile.temperature)
    student = student_from_teacher(teacher, profile.vit, n_classes, args.seed)
    if len(student.vit.blocks) != profile.vit.student_depth:  # a timm model built at its own depth
        raise RuntimeError(f"the student has {len(student.vit.blocks)} blocks, not {profile.vit.student_depth}")
    method = build_method(
        variant.method,
        student,
        TeacherUp(teacher) if variant.method != "student" else None,
        torch.tensor([args.weight]),
        task_like,
        variant.td,
        noise_seed=args.seed,
    )
    cfg = profile.student_train if args.epochs is None else replace(profile.student_train, max_epochs=args.epochs)
    workers = args.workers if args.workers is not None else (0 if profile.vit.timm_name is None else 8)
    result = train_ddp(
        method,
        teacher_states_fn(teacher, probe["weight"], probe["bias"]),
        train_set,
        valid_set,
        cfg,
        Path(args.out) / "checkpoint",
        args.seed,
        augment=crop_and_flip,
        num_workers=workers,
    )
    device = next(method.parameters()).device
    test = evaluate(method, test_set, device, max(1, cfg.batch_size // dist.get_world_size()), workers)
    if rank == 0:  # the step log first: a run with a result.json has both
        out = Path(args.out)
        write_step_log(out / STEPS, torch.load(result.checkpoint, map_location="cpu", weights_only=True)["step_log"])
        atomic_write_json(
            out / RESULT,
            {
                **asdict(result),
                "test_metric": test,
                "args": vars(args),
                "world_size": dist.get_world_size(),
                "step_log_file": STEPS,
                "provenance": provenance(),
            },
        )
    if created:
        dist.destroy_process_group()
    return result


if __name__ == "__main__":
    main()
