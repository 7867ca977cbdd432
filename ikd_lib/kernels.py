"""`make verify-kernels`: does this machine compute the same bits as the reference machine,
operation by operation?

    python -m ikd_lib.kernels            # compare with kernels_reference.json (exit 1 on a difference)
    python -m ikd_lib.kernels --write    # record this machine's hashes as the reference

Each entry runs a piece of what the two tracks compute, under the pins (core/determinism.py),
on fixed synthetic inputs at the shapes the `cpu` profile uses (no data, no cached teacher):
one training step of each MovieLens method on a stack of 15 replicas and its evaluation (RMSE),
the ViT teacher's pre-training step (augmentation, cross-entropy, AdamW), a ViT student's TD and
KD steps, and the linear probe's L-BFGS fit. Every operation's output is hashed as it is
computed: each aten operation (through a TorchDispatchMode) and each product on the pinned
OpenBLAS kernels (core/blas.py). A machine whose bits differ is told the first operation that
differs in each entry (its name, shape and position), not a table cell hours later.
`make verify` prints this verdict first.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from contextlib import contextmanager
from pathlib import Path

import ikd_lib  # noqa: F401  (the pins, before torch)

# isort: split
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from .core import blas
from .core.config import TDConfig
from .core.determinism import pin_report
from .core.methods import build_method, freeze
from .core.optim import PinnedAdam
from .core.parallel import single_thread
from .core.train import make_optimizers

REFERENCE = Path(__file__).with_name("kernels_reference.json")
SKIPPED = (
    "aten.detach",
    "aten.view",
    "aten._unsafe_view",
    "aten.alias",
    "aten.t.",
    "aten.transpose",
    "aten.permute",
    "aten.expand",
    "aten.unsqueeze",
    "aten.squeeze",
    "aten.select",
    "aten.slice",
    "aten.split",
    "aten.unbind",
    "aten.lift_fresh",
    "aten.empty",
    "aten.zeros_like",
    "aten.ones_like",
    "aten.is_same_size",
    "aten._to_copy",
    "aten.clone",
    "aten.copy_",
    "aten.new_empty",
    "aten.zero_",
)


def _digest(t) -> str | None:
    if not isinstance(t, torch.Tensor) or t.device.type != "cpu" or t.is_sparse:
        return None
    return hashlib.sha256(t.detach().contiguous().numpy().tobytes()).hexdigest()[:12]


class Trace(TorchDispatchMode):
    """Every operation's output, hashed in the order computed: [(name, shape, hash)]."""

    def __init__(self):
        super().__init__()
        self.rows: list[tuple[str, str, str]] = []

    def add(self, name: str, out) -> None:
        for t in out if isinstance(out, (tuple, list)) else (out,):
            digest = _digest(t)
            if digest is not None:
                self.rows.append((name, "x".join(map(str, t.shape)), digest))

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = str(func)
        if not name.startswith(SKIPPED):
            self.add(name, out)
        return out


@contextmanager
def traced():
    """Trace aten operations and the pinned OpenBLAS products (which run in numpy)."""
    trace = Trace()
    blas.product_observer = lambda out: trace.add("openblas.matmul", out)
    try:
        with trace:
            yield trace
    finally:
        blas.product_observer = None


# ---------------------------------------------------------------- the entries
def _ratings(n_users=943, n_items=1682, n=12_000, seed=0):
    """A synthetic genre with MovieLens-100K's users and items (the students' shapes)."""
    from .workshop import toy_ratings

    return toy_ratings(n_users=n_users, n_items=n_items, n=n, seed=seed)


def movielens_entries() -> dict:
    from .movielens.models import FrozenTeacher, RatingModel
    from .movielens.profiles import get_profile
    from .movielens.tasks import attach_teacher, rating_task

    profile = get_profile("cpu")
    task = rating_task("synthetic", _ratings(), 943, 1682)
    teacher = freeze(
        RatingModel(
            profile.teacher, 943, 1682, (0, 1, 2, 3, 4), task.rating_offset, "teacher", interactions=task.train.inputs
        )
    )
    attach_teacher(task, teacher)
    seeds = tuple(s % 5 for s in range(15))
    index = torch.tensor(seeds)
    cfg = profile.student_train
    order = torch.stack(
        [torch.randperm(len(task.train), generator=torch.Generator().manual_seed(s)) for s in range(15)]
    )
    entries = {}
    for name, td in (("kd", None), ("fitnet", None), ("hybrid", None), ("td", TDConfig(noise_std=0.1))):

        def step(name=name, td=td):
            student = RatingModel(
                profile.student, 943, 1682, seeds, task.rating_offset, "student", interactions=task.train.inputs, l2=3.0
            )
            method = build_method(
                name,
                student,
                FrozenTeacher(teacher, index),
                torch.tensor([1.0, 10.0, 100.0] * 5),
                task,
                td,
                noise_seed=1,
            )
            optimizers = make_optimizers(method, cfg)
            batch = task.batch("train", order[:, : cfg.batch_size_for(len(task.train))], index, method.teacher_states)
            total = method.objective(method.forward_train(batch)[1])
            total.sum().backward()
            for opt in optimizers.values():
                opt.step()
            method.eval()
            return task.evaluate(method, "valid")

        entries[f"movielens {name}: a training step of 15 replicas, then RMSE"] = step
    return entries


def vision_entries() -> dict:
    from . import vision  # noqa: F401
    from .vision.data import ImageSplit
    from .vision.models import TappedViT, TeacherUp, build_vit, student_from_teacher
    from .vision.profiles import get_profile
    from .vision.tasks import ImageSplits, attach_teacher, image_task
    from .vision.teacher import PROBE_L2S, augment

    profile = get_profile("cpu")
    cfg = profile.vit
    g = torch.Generator().manual_seed(0)
    size = cfg.img_size

    def images(n):
        return torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)

    split = lambda n: ImageSplit(images(n), torch.randint(0, 10, (n,), generator=g), torch.arange(n))  # noqa: E731
    splits = ImageSplits("synthetic", tuple(map(str, range(10))), split(256), split(64), split(64), "synthetic")
    vit = build_vit(cfg, cfg.teacher_depth, 130, seed=0)
    batch_size = profile.pretrain.batch_size

    def pretrain_step():
        model = TappedViT(vit, cfg.low_block, 0)
        optimiser = PinnedAdam(
            vit.parameters(), lr=profile.pretrain.lr, weight_decay=profile.pretrain.weight_decay, decoupled=True
        )
        batch = augment(splits.train.x[:batch_size], torch.Generator().manual_seed(1))
        loss = F.cross_entropy(model(batch)[0][0], torch.randint(0, 130, (len(batch),), generator=g))
        loss.backward()
        optimiser.step()
        return loss

    def probe_fit():
        """teacher.fit_probe's optimiser and loss at one L2, for 20 iterations (not 4 x 300)."""
        x = torch.randn(256, cfg.width, generator=torch.Generator().manual_seed(2))
        y = torch.randint(0, 10, (256,), generator=torch.Generator().manual_seed(3))
        weight = torch.zeros(cfg.width, 10, requires_grad=True)
        bias = torch.zeros(10, requires_grad=True)
        opt = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=20, history_size=20, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = F.cross_entropy(x @ weight + bias, y) + PROBE_L2S[1] * weight.pow(2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        return weight

    teacher = freeze(TappedViT(build_vit(cfg, cfg.teacher_depth, 130, seed=0), cfg.low_block, 0))
    task = image_task(splits, profile.temperature)
    attach_teacher(task, teacher, torch.randn(cfg.width, 10, generator=g) * 0.1, torch.zeros(10))

    def student_step(name, td=None):
        def step():
            student = student_from_teacher(teacher, cfg, 10, seed=0)
            method = build_method(name, student, TeacherUp(teacher), torch.tensor([1.0]), task, td, noise_seed=1)
            optimizers = make_optimizers(method, profile.student_train)
            rows = torch.arange(profile.student_train.batch_size)[None]
            batch = task.batch("train", rows, torch.zeros(1, dtype=torch.long), method.teacher_states)
            method.objective(method.forward_train(batch)[1]).sum().backward()
            for opt in optimizers.values():
                opt.step()
            method.eval()
            return task.evaluate(method, "valid")

        return step

    return {
        "vit teacher: a pre-training step (augmentation, cross-entropy, AdamW)": pretrain_step,
        "vit probe: the L-BFGS fit (strong Wolfe line search)": probe_fit,
        "vit kd: a student's training step, then accuracy": student_step("kd"),
        "vit td: a student's training step (noise on), then accuracy": student_step(
            "td", TDConfig(noise_std=0.1, message_dim=16)
        ),
    }


def fingerprint() -> dict[str, list[tuple[str, str, str]]]:
    """Entry -> its operations (name, shape, hash), as computed on this machine."""
    out = {}
    with single_thread():
        entries = {**movielens_entries(), **vision_entries()}
        for name, run in entries.items():
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                with traced() as trace:
                    run()
            out[name] = trace.rows
    return out


def compare(mine: dict, reference: dict) -> list[str]:
    """One line per entry: identical, or its first differing operation."""
    lines = []
    for name, ops in reference.items():
        here = mine.get(name)
        if here is None:
            lines.append(f"MISSING  {name}")
            continue
        first = next((i for i, (a, b) in enumerate(zip(here, ops)) if a != b), None)
        if first is None and len(here) == len(ops):
            lines.append(f"same     {name} ({len(ops)} operations)")
            continue
        if first is None:
            lines.append(f"DIFFERS  {name}: {len(here)} operations here, {len(ops)} in the reference")
            continue
        op, shape, _ = ops[first]
        what = f"{op} [{shape}]" if here[first][:2] == (op, shape) else f"{op} [{shape}] (here: {here[first][0]})"
        lines.append(f"DIFFERS  {name}: first at operation {first + 1} of {len(ops)}: {what}")
    return lines


def encode(entries: dict) -> dict:
    """The reference file's compact form: operation names listed once; per entry one string of
    "name-index:shape:hash" words (a hash's first 8 hex digits name a difference well enough)."""
    names = sorted({op for rows in entries.values() for op, _, _ in rows})
    index = {n: i for i, n in enumerate(names)}
    return {
        "names": names,
        "entries": {
            entry: " ".join(f"{index[op]}:{shape}:{h[:8]}" for op, shape, h in rows) for entry, rows in entries.items()
        },
    }


def decode(stored: dict) -> dict:
    names = stored["names"]
    return {
        entry: [(names[int(i)], shape, h) for i, shape, h in (word.split(":") for word in words.split())]
        for entry, words in stored["entries"].items()
    }


def check(verbose: bool = True) -> bool:
    """Compare this machine with the committed reference; print the verdict; True when equal."""
    reference = json.loads(REFERENCE.read_text())
    lines = compare(decode(encode(fingerprint())), decode(reference))
    ok = all(line.startswith("same") for line in lines)
    if verbose:
        pins = pin_report()
        print(
            f"make verify-kernels: this machine {pins['cpu']} (probe {pins['probe']}); "
            f"reference {reference['machine']['cpu']} (probe {reference['machine']['probe']})"
        )
        print("\n".join("  " + line for line in lines))
        print(
            "kernels: "
            + (
                "every operation computes the reference's bits"
                if ok
                else "this machine computes other bits for the operations named above "
                "(docs/reproducibility.md says what to do)"
            )
        )
    return ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="record this machine's hashes as the reference")
    args = parser.parse_args(argv)
    if args.write:
        pins = pin_report()
        entries = fingerprint()
        REFERENCE.write_text(
            json.dumps(
                {
                    "machine": {
                        "cpu": pins["cpu"],
                        "probe": pins["probe"],
                        "torch": torch.__version__,
                        "numpy": np.__version__,
                    },
                    **encode(entries),
                },
                indent=0,
            )
            + "\n"
        )
        print(f"wrote {REFERENCE}: {sum(len(v) for v in entries.values())} operations in {len(entries)} entries")
        return 0
    return 0 if check() else 1


if __name__ == "__main__":
    sys.exit(main())
