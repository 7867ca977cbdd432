"""ikd_lib.vision.paper.ddp on CPUs: 2 processes, gloo, torch's DistributedDataParallel.

One spawn of 2 processes runs every scenario (starting a process that imports torch costs
~10 s here), each process saves what it ends with, and the tests compare the files:
ranks agree bit for bit, only the student side learns, the per-step losses are the ranks' mean,
a resumed run equals an uninterrupted one, its per-step losses too (also when the best epoch is
not the last; another run's checkpoint is refused), a NaN on one rank stops both, the "separate"
schedule's phases keep DDP's reducer fed, and main() runs the smoke profile with a frozen teacher.
"""

import ikd_lib  # noqa: F401  first: the floating-point pins, before torch

# isort: split

import functools
import json
import os
import socket
from dataclasses import asdict, replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.multiprocessing as mp

from ikd_lib.core.config import TDConfig, TrainConfig
from ikd_lib.vision import data as vd

WORLD = 2
CFG = TrainConfig(
    lr=1e-3, batch_size=16, max_epochs=2, patience=5, weight_decay=0.05, optimizer="adamw", min_batches_per_epoch=1
)  # 64 images: 4 steps of 8 images per rank and epoch
HAS_CIFAR10 = (Path(os.environ.get("IKD_IMAGE_DATA_DIR") or vd.DEFAULT_DATA_DIR) / "cifar10_train.npz").is_file()


class RedOrNot(torch.utils.data.Dataset):
    """uint8 [3, 32, 32] noise images; label 1 makes the red channel brighter (learnable)."""

    def __init__(self, n: int, seed: int):
        g = torch.Generator().manual_seed(seed)
        self.y = torch.randint(0, 2, (n,), generator=g)
        self.x = torch.randint(0, 200, (n, 3, 32, 32), generator=g, dtype=torch.uint8)
        self.x[:, 0] += (55 * self.y).to(torch.uint8)[:, None, None]

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], int(self.y[i])


def build(nan_on_rank: int | None = None, weight: float = 1.0):
    """TD (K = 1) on the smoke ViT, a tiny random frozen teacher and a random probe; the same
    weights in every process (all drawn from fixed seeds)."""
    from ikd_lib.core import losses
    from ikd_lib.core.methods import build_method, freeze
    from ikd_lib.vision.models import TappedViT, TeacherUp, build_vit, student_from_teacher
    from ikd_lib.vision.paper.ddp import teacher_states_fn
    from ikd_lib.vision.profiles import PROFILES

    vit = PROFILES["smoke"].vit
    teacher = freeze(TappedViT(build_vit(vit, vit.teacher_depth, 0, seed=0), vit.low_block, 0))
    student = student_from_teacher(teacher, vit, 2, seed=0)
    task_like = SimpleNamespace(
        task_loss=losses.class_cross_entropy, kd_loss=functools.partial(losses.kd_classes, temperature=4.0)
    )
    method = build_method("td", student, TeacherUp(teacher), torch.tensor([weight]), task_like, TDConfig(message_dim=8))
    g = torch.Generator().manual_seed(7)
    states = teacher_states_fn(teacher, torch.randn(teacher.width, 2, generator=g) * 0.1, torch.zeros(2))
    if nan_on_rank is not None and int(os.environ["RANK"]) == nan_on_rank:
        clean = states
        states = lambda images: {**clean(images), "teacher_low": clean(images)["teacher_low"] * float("nan")}
    return method, teacher, states


def _worker(rank: int, port: int, out: str) -> None:
    import torch.distributed as dist

    from ikd_lib.vision.paper import ddp
    from ikd_lib.vision.teacher import augment

    os.environ.update(
        RANK=str(rank), WORLD_SIZE=str(WORLD), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    assert ddp.setup("gloo") == (rank, WORLD)
    out = Path(out)
    train, valid = RedOrNot(64, seed=0), RedOrNot(32, seed=1)
    run = functools.partial(
        ddp.train_ddp, train_set=train, valid_set=valid, seed=0, augment=augment, progress=False, num_workers=0
    )
    teacher_state = lambda teacher: {k: v.clone() for k, v in teacher.state_dict().items()}
    results = {}

    # A: 2 epochs without a break; each rank's own losses per step recorded as they are computed
    method, teacher, states = build()
    torch.save(
        {"trained": ddp.trained_state(method, copy=True), "teacher": teacher_state(teacher)}, out / f"init{rank}.pt"
    )
    real_forward, own_losses = ddp.Objective.forward, []

    def recording_forward(self, batch, phase="joint"):
        total, named = real_forward(self, batch, phase)
        own_losses.append({k: v.detach().float().reshape(-1)[0].clone() for k, v in named.items()})
        return total, named

    ddp.Objective.forward = recording_forward
    results["A"] = asdict(run(method, states, cfg=CFG, checkpoint_dir=out / "A"))
    ddp.Objective.forward = real_forward
    torch.save(own_losses, out / f"A_own_losses{rank}.pt")
    torch.save({"trained": ddp.trained_state(method), "teacher": teacher_state(teacher)}, out / f"A{rank}.pt")

    # B: 1 epoch, then fresh objects (as after a restart) resume from the checkpoint to epoch 2
    method, _, states = build()
    results["B1"] = asdict(run(method, states, cfg=replace(CFG, max_epochs=1), checkpoint_dir=out / "B"))
    method, _, states = build()
    results["B2"] = asdict(run(method, states, cfg=CFG, checkpoint_dir=out / "B"))
    torch.save({"trained": ddp.trained_state(method)}, out / f"B{rank}.pt")
    try:  # another λ must not resume B's checkpoint
        run(build(weight=3.0)[0], states, cfg=CFG, checkpoint_dir=out / "B")
        results["B_other_run"] = "resumed"
    except ValueError as e:
        results["B_other_run"] = str(e)

    # C: the teacher's states are NaN on rank 1 only; both ranks must stop
    method, _, states = build(nan_on_rank=1)
    try:
        run(method, states, cfg=CFG, checkpoint_dir=out / "C")
        results["C"] = "no error"
    except FloatingPointError as e:
        results["C"] = str(e)

    # E: the "separate" schedule's phases under DDP with find_unused_parameters=False: every
    # trained parameter gets a gradient in every phase (zero where the phase leaves it out),
    # else the reducer would fail at the next forward
    method, _, states = build()
    method.td = replace(method.td, schedule="separate")
    model = torch.nn.parallel.DistributedDataParallel(ddp.Objective(method), find_unused_parameters=False)
    images, labels = train.x[8 * rank : 8 * rank + 8], train.y[8 * rank : 8 * rank + 8]
    batch = {"inputs": images[None], "target": labels[None], **states(images)}
    results["E"] = {}
    for phase in ("student", "comm", "joint", "joint"):
        model.zero_grad(set_to_none=True)
        model(batch, phase)[0].backward()
        grads = {k: p.grad for k, p in method.named_parameters() if p.requires_grad}
        results["E"][phase] = {
            "all": all(g is not None for g in grads.values()),
            "comm_zero": all(not g.any() for k, g in grads.items() if k.startswith("comm.")),
            "head_zero": not grads["student.vit.head.weight"].any(),
        }

    # F, G: the best epoch is not the last. Validation accuracy is scripted (the start 0.5, then
    # 0.7, 0.6, 0.5 on every rank), so epoch 1 is the best: 3 epochs at once (F) against 2 epochs
    # and a resume to 3 (G; the resumed run evaluates no start: it is in the checkpoint)
    real_per_example = ddp.per_example

    def scripted(accuracies):
        values = iter([(torch.arange(10) < round(10 * a)).float()[None] for a in accuracies])
        return lambda *args, **kwargs: next(values)

    three = replace(CFG, max_epochs=3)
    for key, values, cfg, folder in (
        ("F", [0.5, 0.7, 0.6, 0.5], three, "F"),
        ("G1", [0.5, 0.7, 0.6], CFG, "G"),
        ("G2", [0.5], three, "G"),
    ):
        ddp.per_example = scripted(values)
        method, _, states = build()
        results[key] = asdict(run(method, states, cfg=cfg, checkpoint_dir=out / folder))
        torch.save({"trained": ddp.trained_state(method)}, out / f"{key}{rank}.pt")
    ddp.per_example = real_per_example

    # D: the torchrun entry point on the smoke profile (offline CIFAR-10 subset, random teacher);
    # the teacher it builds must be frozen before anything (the student's copy of it) uses it
    if HAS_CIFAR10:
        real_student_from_teacher, seen = ddp.student_from_teacher, {}

        def student_from_teacher(teacher, *args, **kwargs):
            seen["teacher_frozen"] = not any(m.training for m in teacher.modules()) and not any(
                p.requires_grad for p in teacher.parameters()
            )
            return real_student_from_teacher(teacher, *args, **kwargs)

        ddp.student_from_teacher = student_from_teacher
        results["D"] = asdict(
            ddp.main(
                [
                    "--profile",
                    "smoke",
                    "--dataset",
                    "cifar10",
                    "--variant",
                    "td",
                    "--seed",
                    "0",
                    "--epochs",
                    "1",
                    "--out",
                    str(out / "D"),
                ]
            )
        )
        results["D_teacher_frozen"] = seen.get("teacher_frozen")
        ddp.student_from_teacher = real_student_from_teacher
    (out / f"results{rank}.json").write_text(json.dumps(results))
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    with socket.socket() as s:  # a free port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.start_processes(_worker, args=(port, str(out)), nprocs=WORLD, start_method="spawn")
    load = lambda name: torch.load(out / name, weights_only=True)
    return SimpleNamespace(
        out=out, load=load, results=[json.loads((out / f"results{r}.json").read_text()) for r in range(WORLD)]
    )


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_ranks_end_bit_identical_and_only_the_student_side_learns(runs):
    final = [runs.load(f"A{r}.pt") for r in range(WORLD)]
    init = [runs.load(f"init{r}.pt") for r in range(WORLD)]
    assert_same(final[0]["trained"], final[1]["trained"])
    trained = final[0]["trained"]
    assert any(k.startswith("student.vit.blocks.") for k in trained)
    assert {"comm.encode_student.weight", "comm.decode_teacher.weight"} <= trained.keys()
    assert not any(k.startswith("teacher.") for k in trained)  # frozen: neither trained nor saved
    # every student and E*/D* weight moved (AdamW with decay moves each one)
    for k, v in trained.items():
        if k != "distill_weight":
            assert not torch.equal(v, init[0]["trained"][k]), k
    for r in range(WORLD):  # the frozen teacher is bit for bit what it was
        assert_same(final[r]["teacher"], init[r]["teacher"])
    a = runs.results[0]["A"]
    assert a == runs.results[1]["A"] | {"wall_s": a["wall_s"]}  # the same decisions on both ranks
    assert a["epochs_run"] == 2 and a["resumed_from_epoch"] == 0 and 0 <= a["valid_metric"] <= 1


def test_checkpoint_holds_what_resume_needs(runs):
    path = runs.out / "A" / "checkpoint.pt"
    assert path.is_file() and not list(path.parent.glob("*.tmp"))
    saved = torch.load(path, weights_only=True)
    assert saved["progress"]["epoch"] == 2 and saved["sampler"]["next_epoch"] == 3
    assert [h["epoch"] for h in saved["history"]] == [1, 2] and "train_interact" in saved["history"][0]
    assert set(saved["optimizers"]) == {"student", "aux"}
    rules = saved["stopping"]  # core/stopping.py's state, with epoch 0's per-example values (32 images)
    assert rules["start_values"].shape == (1, 32) and set(rules["start_values"].unique().tolist()) <= {0.0, 1.0}
    best_epoch, best = int(rules["best_epoch"][0]), -float(rules["best_error"][0])  # accuracy: error = -accuracy
    start = float(rules["start_values"].mean())
    assert best == runs.results[0]["A"]["valid_metric"] and best_epoch == runs.results[0]["A"]["best_epoch"]
    assert best == (saved["history"][best_epoch - 1]["valid_metric"] if best_epoch else start)
    assert_same(saved["best_model"], runs.load("A0.pt")["trained"])  # the best epoch was restored


def test_step_log_holds_every_step_averaged_over_the_ranks(runs):
    """The checkpoint's per-step losses: one row per training step (2 epochs of 4 steps), each
    the mean of the two ranks' own losses at that step (the loss of the global batch), and the
    history's epoch means are the means of those rows."""
    saved = torch.load(runs.out / "A" / "checkpoint.pt", weights_only=True)
    step_log = saved["step_log"]
    own = [runs.load(f"A_own_losses{r}.pt") for r in range(WORLD)]
    assert len(own[0]) == len(own[1]) == 8
    assert list(step_log) == list(own[0][0]) and {"task", "interact"} <= step_log.keys()
    for name, values in step_log.items():
        assert values.dtype == torch.float32 and values.shape == (8,)
        per_rank = torch.stack([torch.stack([row[name] for row in own[r]]) for r in range(WORLD)])
        assert torch.allclose(values, per_rank.mean(0), rtol=1e-6, atol=0), name
        for epoch in (1, 2):
            mean = float(values[4 * (epoch - 1) : 4 * epoch].double().mean())
            assert saved["history"][epoch - 1][f"train_{name}"] == pytest.approx(mean, rel=1e-6), name
    # rank 0's own losses are not what is logged: the ranks saw different images
    rank0 = torch.stack([row["task"] for row in own[0]])
    assert not torch.allclose(step_log["task"], rank0, rtol=1e-4)


def test_resume_continues_and_equals_an_uninterrupted_run(runs):
    for r in range(WORLD):
        b1, b2 = runs.results[r]["B1"], runs.results[r]["B2"]
        assert b1["epochs_run"] == 1 and b1["resumed_from_epoch"] == 0
        assert b2["epochs_run"] == 2 and b2["resumed_from_epoch"] == 1
        assert b2["valid_metric"] == runs.results[r]["A"]["valid_metric"]
        assert b2["best_epoch"] == runs.results[r]["A"]["best_epoch"]
        # bit for bit: every random draw is a function of (seed, epoch, rank, step), the
        # optimiser state is saved whole, and an all-reduce of 2 ranks sums in one order
        assert_same(runs.load(f"B{r}.pt")["trained"], runs.load(f"A{r}.pt")["trained"])
    assert "belongs to another run" in runs.results[0]["B_other_run"]
    a, b = (torch.load(runs.out / x / "checkpoint.pt", weights_only=True) for x in "AB")
    assert_same(a["model"], b["model"])  # the last epoch's weights too, not only the best ones
    for group in ("student", "aux"):
        for i, state in a["optimizers"][group]["state"].items():
            assert_same(state, b["optimizers"][group]["state"][i])
    assert [h["epoch"] for h in b["history"]] == [1, 2]
    assert [h["valid_metric"] for h in b["history"]] == [h["valid_metric"] for h in a["history"]]
    # the per-step losses: epoch 1's rows came from the checkpoint, epoch 2's were run after it
    assert a["step_log"].keys() == b["step_log"].keys() and len(a["step_log"]["task"]) == 8
    assert_same(a["step_log"], b["step_log"])


def test_a_checkpoint_without_step_log_is_refused_not_resumed_with_a_partial_log(runs, tmp_path):
    from ikd_lib.core.train import make_optimizers
    from ikd_lib.vision.paper import ddp

    saved = torch.load(runs.out / "A" / "checkpoint.pt", weights_only=True)
    del saved["step_log"]  # as an older version of ikd_lib wrote it
    torch.save(saved, tmp_path / "checkpoint.pt")
    method = build()[0]
    with pytest.raises(ValueError, match="holds no per-step losses .* delete its folder"):
        ddp._load_checkpoint(tmp_path / "checkpoint.pt", method, make_optimizers(method, CFG), 0, "cpu")


def test_resume_restores_a_best_epoch_that_is_not_the_last(runs):
    """Validation 0.7, 0.6, 0.5 after a start of 0.5: the best epoch is 1 of 3. A run resumed after epoch 2 must
    keep epoch 1 as its best (from the checkpoint) and end with its weights, as the
    uninterrupted run does; neither ends with the last epoch's weights."""
    for r in range(WORLD):
        f, g1, g2 = (runs.results[r][k] for k in ("F", "G1", "G2"))
        assert g1["epochs_run"] == 2 and g2["resumed_from_epoch"] == 2
        assert f["epochs_run"] == g2["epochs_run"] == 3
        assert f["best_epoch"] == g2["best_epoch"] == 1 and f["valid_metric"] == g2["valid_metric"] == pytest.approx(
            0.7
        )
        assert_same(runs.load(f"G2{r}.pt")["trained"], runs.load(f"F{r}.pt")["trained"])
        assert_same(runs.load(f"G1{r}.pt")["trained"], runs.load(f"F{r}.pt")["trained"])  # epoch 1's, both
    f, g = (torch.load(runs.out / x / "checkpoint.pt", weights_only=True)["step_log"] for x in "FG")
    assert len(f["task"]) == 12 and not torch.isnan(f["task"]).any()
    assert_same(f, g)  # a resume after epoch 2 of 3: the same 12 rows
    last = torch.load(runs.out / "F" / "checkpoint.pt", weights_only=True)["model"]
    best = runs.load("F0.pt")["trained"]
    assert any(not torch.equal(last[k], best[k]) for k in best if k != "distill_weight")


def test_nan_on_one_rank_stops_every_rank(runs):
    rank0, rank1 = (runs.results[r]["C"] for r in range(WORLD))
    assert "step 0 (epoch 1)" in rank1 and "DDP rank 1" in rank1 and "state=nan" in rank1
    assert "step 0 (epoch 1)" in rank0 and "another DDP rank" in rank0


def test_separate_schedule_phases_keep_every_gradient(runs):
    for r in range(WORLD):
        e = runs.results[r]["E"]
        assert all(e[phase]["all"] for phase in e)
        assert e["student"]["comm_zero"] and not e["student"]["head_zero"]  # the student alone
        assert e["comm"]["head_zero"] and not e["comm"]["comm_zero"]  # E*, D* (the head: task loss only)
        assert not e["joint"]["comm_zero"] and not e["joint"]["head_zero"]


@pytest.mark.skipif(not HAS_CIFAR10, reason="offline CIFAR-10 copy not found")
def test_main_runs_the_smoke_profile(runs):
    result = json.loads((runs.out / "D" / "result.json").read_text())
    assert result["epochs_run"] == 1 and result["world_size"] == WORLD
    assert 0 <= result["valid_metric"] <= 1 and 0 <= result["test_metric"] <= 1
    assert Path(result["checkpoint"]).is_file()
    from ikd_lib.launch.spec import read_step_log

    steps = read_step_log(runs.out / "D" / result["step_log_file"])
    saved = torch.load(result["checkpoint"], weights_only=True)
    assert steps.keys() == saved["step_log"].keys() and "interact" in steps
    for name, values in steps.items():  # one value per training step, as the checkpoint holds
        assert len(values) == saved["progress"]["step"] > 0
        assert (values == saved["step_log"][name].numpy()).all(), name
    assert runs.results[0]["D"]["valid_metric"] == runs.results[1]["D"]["valid_metric"] == result["valid_metric"]
    assert runs.results[0]["D_teacher_frozen"] is True and runs.results[1]["D_teacher_frozen"] is True
