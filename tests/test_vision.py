"""The ViT track: taps through timm, the student copied from the teacher, the frozen teacher,
the linear probe, the smoke experiment end to end, and clear errors offline."""

import copy
import functools

import pytest
import torch

from ikd_lib.core import losses
from ikd_lib.core.config import TDConfig, TrainConfig
from ikd_lib.core.methods import build_method, freeze
from ikd_lib.core.task import ACCURACY, Split, Task
from ikd_lib.core.train import train_stack
from ikd_lib.vision.models import TappedViT, TeacherUp, build_vit, student_from_teacher
from ikd_lib.vision.profiles import PAPER_VIT, PROFILES, SMOKE_VIT
from ikd_lib.vision.teacher import fit_probe, load_pretrained_teacher

CFG = SMOKE_VIT


@pytest.fixture(scope="module")
def teacher():
    return freeze(TappedViT(build_vit(CFG, CFG.teacher_depth, 130, seed=0), CFG.low_block, 0))


def images(n, size=32, seed=0):
    return torch.randint(0, 256, (n, 3, size, size), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def test_taps_have_the_right_shapes_for_a_tiny_vit(teacher):
    student = student_from_teacher(teacher, CFG, 10, seed=0)
    tokens = (CFG.img_size // CFG.patch_size) ** 2 + 1
    pred, states = student(images(5)[None])
    assert pred.shape == (1, 5, 10)
    assert states["low"].shape == states["high"].shape == (1, 5, tokens, CFG.width)
    t_low = teacher.forward_low(images(5)[None])
    assert t_low.shape == (1, 5, tokens, CFG.width)
    assert TeacherUp(teacher).up(t_low).shape == (1, 5, tokens, CFG.width)


def test_taps_of_the_paper_model_built_with_random_weights():
    """ViT-B/16 at 224 px, built by timm from its config only (no download)."""
    vit = build_vit(PAPER_VIT, PAPER_VIT.teacher_depth, 0, seed=0, pretrained=False)
    model = TappedViT(vit, PAPER_VIT.low_block, 0)
    assert len(vit.blocks) == 12 and model.width == 768
    with torch.no_grad():
        low = model.forward_low(images(1, 224)[None])
        high = model.forward_up(low)
    assert low.shape == high.shape == (1, 1, 197, 768)  # 14 x 14 patches + the class token
    student = build_vit(PAPER_VIT, PAPER_VIT.student_depth, 10, seed=0)
    assert len(student.blocks) == 4  # the paper's 4-block student


def test_the_student_starts_with_the_teachers_first_blocks(teacher):
    student = student_from_teacher(teacher, CFG, 10, seed=3)
    for i in range(CFG.student_depth):
        for (name, a), (_, b) in zip(
            student.vit.blocks[i].state_dict().items(), teacher.vit.blocks[i].state_dict().items()
        ):
            assert torch.equal(a, b), f"block {i}: {name}"
    for name in ("cls_token", "pos_embed"):
        assert torch.equal(getattr(student.vit, name), getattr(teacher.vit, name))
    assert torch.equal(student.vit.patch_embed.proj.weight, teacher.vit.patch_embed.proj.weight)
    assert student.vit.head.out_features == 10
    other = student_from_teacher(teacher, CFG, 10, seed=4)
    assert not torch.equal(student.vit.head.weight, other.vit.head.weight)  # the seed draws the new head


def tiny_task(teacher, n=64):
    x = images(n)
    y = (x.float().mean((1, 2, 3)) > 127).long()  # a learnable rule: bright or dark
    parts = {name: Split(inputs=x, target=y) for name in ("train", "valid", "test")}
    task = Task(
        name="tiny",
        metric=ACCURACY,
        task_loss=losses.class_cross_entropy,
        kd_loss=functools.partial(losses.kd_classes, temperature=4.0),
        eval_chunk=64,
        **parts,
    )
    with torch.no_grad():
        low = teacher.forward_low(x[None])
        task.train.teacher = {"low": low, "high": teacher.forward_up(low), "pred": torch.randn(1, n, 2)}
    return task


def test_teacher_stays_bit_identical_and_gradients_pass_through_it(teacher):
    before = copy.deepcopy(teacher.state_dict())
    task = tiny_task(teacher)
    student = student_from_teacher(teacher, CFG, 2, seed=0)
    method = build_method(
        "td", student, TeacherUp(teacher), torch.tensor([1.0]), task, TDConfig(k_rounds=2, message_dim=4, noise_std=0.1)
    )
    result = train_stack(
        method,
        task,
        TrainConfig(lr=1e-3, batch_size=16, max_epochs=2, optimizer="adamw", min_batches_per_epoch=1),
        (0,),
        teacher_index=torch.zeros(1, dtype=torch.long),
        td=method.td,
        progress=False,
    )
    for key, value in teacher.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert all(p.grad is None for p in teacher.parameters())
    assert not teacher.training
    assert (result.step_log["interact"] > 0).all()
    # D_h learns only through h_up(D_h(q)): gradients pass through the frozen teacher's blocks
    method.zero_grad()
    batch = task.batch("train", torch.arange(8)[None], torch.zeros(1, dtype=torch.long))
    _, named, _ = method.forward_train(batch)
    named["interact"].sum().backward()
    assert method.comm.decode_teacher.weight.grad.abs().sum() > 0


def test_the_probe_is_fitted_on_the_training_split_only(monkeypatch):
    import ikd_lib.vision.teacher as vision_teacher

    g = torch.Generator().manual_seed(0)
    train_x, valid_x = torch.randn(200, 6, generator=g), torch.randn(60, 6, generator=g)
    train_y, valid_y = (train_x[:, 0] > 0).long(), (valid_x[:, 0] > 0).long()
    w, b, info = fit_probe(train_x, train_y, valid_x, valid_y, 2)
    assert info["valid_accuracy"] > 0.9
    # validation only chooses the L2: with one L2 on the grid there is nothing to choose, so
    # other validation images and labels (nothing like the first) must give the same weights
    monkeypatch.setattr(vision_teacher, "PROBE_L2S", (1e-2,))
    w1, b1, _ = fit_probe(train_x, train_y, valid_x, valid_y, 2)
    w2, b2, _ = fit_probe(train_x, train_y, 3 * valid_x[:20] + 1, 1 - valid_y[:20], 2)
    assert torch.equal(w1, w2) and torch.equal(b1, b2)
    monkeypatch.undo()
    # and other *training* labels change the weights
    w3, _, _ = fit_probe(train_x, 1 - train_y, valid_x, valid_y, 2)
    assert not torch.allclose(w, w3)


def test_paper_teacher_offline_without_a_file_names_both_ways(monkeypatch):
    monkeypatch.delenv("IKD_VIT_CHECKPOINT", raising=False)
    with pytest.raises(FileNotFoundError, match=r"(?s)IKD_VIT_CHECKPOINT.*go online"):
        load_pretrained_teacher(PROFILES["paper"], offline=True)


def test_smoke_experiment_runs_every_table_end_to_end(tmp_path):
    from ikd_lib import report
    from ikd_lib.core.tables import render_markdown

    exp = report.experiment(
        "smoke", track="vision", cache_dir=tmp_path / "cache", store_root=tmp_path / "store", progress=False, workers=1
    )
    assert exp.teacher_summary["n_classes"] == 130  # the pooled head: 10 + 100 + 20
    for key in ("table4", "table6", "table9"):
        table = report.table(exp, key, write=False)
        md = render_markdown(table)
        assert "higher is better" in md and "CIFAR-10" in md and "–" not in md.split("## ")[0]
    records = exp.stored()
    assert {r["metric"] for r in records} == {"top-1 accuracy"} and all(r["higher_is_better"] for r in records)
    probe = [r for r in records if r["variant"] == "teacher"]
    assert len({r["test_metric"] for r in probe}) == 1  # one teacher: the same probe for every seed
