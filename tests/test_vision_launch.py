"""The paper profile's orchestrator at smoke scale on CPUs (ikd_lib/launch/: launched.py,
launchers.py; vision/paper/: experiment.py, run.py): a small grid through the `local` launcher
(torchrun, 2 gloo processes per run) on a tiny ImageFolder streamed from disk, its results
ingested as records (with their per-step losses), Tables 4, 6, 9 and the vision figures notebook
rendered from them; the plan and its GPU-hours; finished runs skipped; a run killed mid-way
resumed to the uninterrupted run's result; the `slurm` path through submitit's local executor; the
preflight's message without data or checkpoint; the GPU check at a tiny size on the CPU.

Each torchrun start costs ~10 s here (every process imports torch), so the grid runs all the
specs of a wave in one torchrun, as the launcher does at any scale.
"""

import ikd_lib  # noqa: F401  first: the floating-point pins, before torch

# isort: split

import contextlib
import io
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ikd_lib import report
from ikd_lib.core.config import TrainConfig, config_hash
from ikd_lib.core.store import REQUIRED_FIELDS
from ikd_lib.launch import spec as specs
from ikd_lib.launch.launchers import LocalLauncher, RunFailed, SlurmLauncher, SubmititRun
from ikd_lib.vision.paper.experiment import ENTRY, LaunchedVisionExperiment
from ikd_lib.vision.profiles import get_profile

ROOT = Path(__file__).resolve().parent.parent
CLASSES, TRAIN_PER_CLASS, VAL_PER_CLASS, VALID_PER_CLASS = 3, 12, 4, 2
N_TRAIN, N_VALID = CLASSES * (TRAIN_PER_CLASS - VALID_PER_CLASS), CLASSES * VALID_PER_CLASS  # 30, 6
RATES = {"student": 100.0, "kd": 50.0, "td": 20.0, "eval": 400.0, "teacher": 200.0}  # a made-up calibration
TABLE_ROWS = {
    "table4": ["Teacher (probe)", "Student", "KD", "FitNet", "FD", "Hybrid", "TD", "TD (default)"],
    "table6": ["No interaction", "1 iteration", "2 iterations", "TD"],
    "table9": ["No L_SC", "Add noise", "No noise", "TD"],
}


def fake_imagefolder(root: Path, seed: int = 0) -> None:
    """train/ and val/ in ImageFolder layout: 32-px PNGs, class c brighter in channel c."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", TRAIN_PER_CLASS), ("val", VAL_PER_CLASS)):
        for c in range(CLASSES):
            folder = root / split / f"n{c:08d}"
            folder.mkdir(parents=True)
            for i in range(n):
                x = rng.integers(0, 180, (32, 32, 3), dtype=np.uint8)
                x[..., c] += 70
                Image.fromarray(x).save(folder / f"{i:03d}.png")


def tiny_profile():
    """The smoke ViT on the fake ImageFolder as "imagenet"; TD tries two λ, so its ablations inherit one."""
    return get_profile(
        "smoke",
        datasets=("imagenet",),
        seeds=(0,),
        valid_per_class={"imagenet": VALID_PER_CLASS},
        train_per_class=None,
        test_limit=None,
        distill_weights=(1.0,),
        td_weights=(1.0, 3.0),
        student_train=TrainConfig(
            lr=1e-3, batch_size=16, max_epochs=2, patience=2, optimizer="adamw", min_batches_per_epoch=1
        ),
    )


class CountingLauncher:
    """The local launcher, remembering which specs it was asked to run."""

    def __init__(self, inner):
        self.inner, self.name, self.per_run, self.launched = inner, inner.name, inner.per_run, []

    def run(self, spec_paths, stage="runs"):
        spec_paths = list(spec_paths)
        self.launched += [specs.load(p) for p in spec_paths]
        self.inner.run(spec_paths, stage)


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    root = tmp_path_factory.mktemp("launch")
    fake_imagefolder(root / "imagenet")
    (root / "calibration.json").write_text(json.dumps({"images_per_s": RATES, "device": "made up"}))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IKD_IMAGENET_DIR", str(root / "imagenet"))
        mp.setenv("IKD_RUNS_DIR", str(root / "runs"))
        mp.setenv("IKD_CALIBRATION", str(root / "calibration.json"))
        launcher = CountingLauncher(LocalLauncher(ENTRY, 2, log_dir=root / "logs"))
        exp = LaunchedVisionExperiment(tiny_profile(), store_root=root / "store", launcher=launcher, progress=False)
        printed, tables = io.StringIO(), {}
        with contextlib.redirect_stdout(printed):
            for key in TABLE_ROWS:
                tables[key] = report.table(exp, key)
        first = list(launcher.launched)
        again = exp.run()  # everything is in the store: nothing is launched
        yield {
            "root": root,
            "exp": exp,
            "plan": printed.getvalue(),
            "tables": tables,
            "launched": first,
            "launched_again": launcher.launched[len(first) :],
            "records": again,
            "env": dict(os.environ),
        }


def plan_rows(text: str) -> list[list[str]]:
    """The rows of the first plan printed: stage, what, dataset, runs, epochs, images, GPU-h, done."""
    lines = text.split("Plan of profile")[1].splitlines()[2:]
    return [line.split() for line in lines if line.split() and line.split()[0].isdigit()]


def test_plan_lists_the_stages_and_gpu_hours_by_the_documented_rule(grid):
    rows = plan_rows(grid["plan"])
    stages = {}
    for stage, what, *_ in rows:
        stages.setdefault(int(stage), []).append(what)
    assert stages == {
        0: ["probe"],
        1: ["student", "kd", "fitnet", "fd", "hybrid", "td"],
        2: ["td_k0", "td_k2", "td_no_sc", "td_noise"],
    }
    by_what = {r[1]: r for r in rows}
    assert by_what["td"][3] == "2" and by_what["td_k2"][3] == "1"  # λ grid of 2; an ablation inherits one
    # plan.py's rule: epochs x (n_train / r + n_valid / r_eval) + epoch 0's n_valid / r_eval; TD with K
    # rounds: 1/r_kd + K (1/r_td - 1/r_kd)
    start = N_VALID / RATES["eval"]
    student = (2 * (N_TRAIN / RATES["student"] + N_VALID / RATES["eval"]) + start) / 3600
    td_k2 = (
        2 * (N_TRAIN * (1 / RATES["kd"] + 2 * (1 / RATES["td"] - 1 / RATES["kd"])) + N_VALID / RATES["eval"]) + start
    ) / 3600
    assert float(by_what["student"][6]) == pytest.approx(student, abs=0.005)
    assert float(by_what["td_k2"][6]) == pytest.approx(td_k2, abs=0.005)
    assert by_what["student"][5] == str(N_TRAIN + N_VALID)
    assert "total: 12 runs, 12 to launch" in grid["plan"]


def test_every_run_is_launched_once_on_two_processes_and_ingested_as_a_record(grid):
    exp, launched = grid["exp"], grid["launched"]
    trained = [s for s in launched if s["kind"] == "train"]
    assert sorted(s["variant"] for s in trained) == sorted(
        ["student", "kd", "fitnet", "fd", "hybrid", "td", "td", "td_k0", "td_k2", "td_no_sc", "td_noise"]
    )
    assert [s["kind"] for s in launched].count("probe") == 1
    records = {(r["variant"], r["distill_weight"]): r for r in grid["records"]}
    for s in trained:
        result = specs.result(s)
        assert result["world_size"] == 2 and result["spec_hash"] == specs.spec_hash(s)
        record = records[s["variant"], s["weight"]]
        assert all(k in record for k in REQUIRED_FIELDS)
        assert record["valid_metric"] == result["valid_metric"] and record["test_metric"] == result["test_metric"]
        assert record["config_hash"] == config_hash(exp.run_config(exp.variants[s["variant"]], "imagenet"))
        assert record["n_train"] == N_TRAIN and record["profile"] == "smoke" and record["git_revision"]
        assert 0 <= record["test_metric"] <= 1
    teacher = records["teacher", 0.0]
    assert teacher["test_metric"] == exp.probe("imagenet")["accuracy"]["test"]


def test_every_record_has_its_runs_per_step_losses_in_the_stacks_log(grid):
    """The store's log of a launched stack holds step/<loss> [steps, replicas], as an in-process
    stack's (core/train.py): the record's column is its run's steps.npz, NaN after the run ended."""
    from ikd_lib.core.plots import replica_column

    trained = {(s["variant"], s["weight"]): s for s in grid["launched"] if s["kind"] == "train"}
    for record in grid["records"]:
        if record["variant"] == "teacher":
            assert record["log_file"] is None
            continue
        spec = trained[record["variant"], record["distill_weight"]]
        run_steps = specs.step_log(spec)
        assert run_steps and {"task"} <= run_steps.keys(), record["variant"]
        with np.load(grid["exp"].store.root / record["log_file"]) as log:
            steps = {k.removeprefix("step/"): log[k] for k in log.files if k.startswith("step/")}
        assert steps.keys() == run_steps.keys(), record["variant"]
        column = replica_column(record)
        for name, values in steps.items():
            assert values.shape == (record["steps_run"], record["stack_replicas"]), (record["variant"], name)
            mine = values[:, column]
            n = specs.result(spec)["steps_run"]
            assert np.array_equal(mine[:n], run_steps[name]) and np.isnan(mine[n:]).all(), (record["variant"], name)
            assert np.isfinite(mine[:n]).all() and n == 2 * 2  # 2 epochs of 2 steps per rank
    td = [r for r in grid["records"] if r["variant"] == "td"]
    assert len({r["log_file"] for r in td}) == 1 and td[0]["stack_replicas"] == 2  # λ 1 and 3: one log


def test_the_vision_figures_notebook_renders_from_the_launched_runs(grid, monkeypatch):
    """notebooks/vision_figures.py's code, cell by cell in this process, on the grid's experiment
    (papermill's kernel could not be handed it): accuracy against K, and the loss components
    drawn from the ingested per-step losses."""
    import jupytext

    notebook = jupytext.read(ROOT / "notebooks" / "vision_figures.py")
    monkeypatch.setattr(report, "experiment", lambda *args, **kwargs: grid["exp"])
    namespace = {}
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in notebook.cells:
            if cell.cell_type == "code":
                exec(compile(cell.source, "vision_figures.py", "exec"), namespace)
    figures_dir = grid["root"] / "runs" / "smoke" / "figures"
    for name in ("vit_accuracy_vs_k", "vit_loss_components", "budget_table4"):
        for ext in ("png", "pdf"):
            assert (figures_dir / f"{name}.{ext}").stat().st_size > 0, (name, ext)
    loss_axes = namespace["fig"].axes[0]  # the last figure: the loss components on imagenet
    curves = {line.get_label(): line.get_ydata() for line in loss_axes.get_lines()}
    assert any("task" in label for label in curves) and any("interact" in label for label in curves)
    assert all(len(y) == 4 and np.isfinite(y).all() for y in curves.values())  # 2 epochs of 2 steps


def test_ablations_keep_the_lambda_td_chose_for_their_seed(grid):
    td = [r for r in grid["records"] if r["variant"] == "td"]
    chosen = grid["exp"].chosen("td", "imagenet").choice_of(0)["distill_weight"]
    assert chosen in {r["distill_weight"] for r in td if r["valid_metric"] == max(x["valid_metric"] for x in td)}
    for variant in ("td_k0", "td_k2", "td_no_sc", "td_noise"):
        (record,) = [r for r in grid["records"] if r["variant"] == variant]
        assert record["distill_weight"] == chosen, variant


def test_tables_4_6_9_render_from_the_launched_runs(grid):
    tables_dir = grid["root"] / "runs" / "smoke" / "tables"
    for key, labels in TABLE_ROWS.items():
        text = (tables_dir / f"{key}.md").read_text()
        for label in labels:
            row = [line for line in text.splitlines() if line.startswith(f"| {label} |")]
            assert row and any(c.isdigit() for c in row[0]), (key, label)


def test_finished_runs_are_not_launched_again(grid):
    assert grid["launched_again"] == []


def test_a_killed_run_resumes_from_its_checkpoint_to_the_uninterrupted_result(grid, tmp_path):
    (reference,) = [s for s in grid["launched"] if s.get("variant") == "td" and s["weight"] == 1.0]
    spec = {**reference, "out": str(tmp_path / "td")}
    path = specs.write(spec)
    launcher = LocalLauncher(ENTRY, 2, log_dir=tmp_path / "logs")
    env = {
        **os.environ,
        **{k: v for k, v in grid["env"].items() if k.startswith("IKD_")},
        "IKD_FAULT_KILL_AT_STEP": "3",
    }  # 2 steps per epoch and rank: killed inside epoch 2
    killed = subprocess.run(launcher.command([path]), env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode != 0 and not specs.finished(spec)
    assert torch.load(tmp_path / "td" / "checkpoint" / "checkpoint.pt", weights_only=True)["progress"]["epoch"] == 1
    launcher.run([path])  # the same command again
    resumed, uninterrupted = specs.result(spec), specs.result(reference)
    assert resumed["resumed_from_epoch"] == 1 and uninterrupted["resumed_from_epoch"] == 0
    for key in ("valid_metric", "test_metric", "best_epoch", "epochs_run", "steps_run"):
        assert resumed[key] == uninterrupted[key], key
    assert [h["valid_metric"] for h in resumed["history"]] == [h["valid_metric"] for h in uninterrupted["history"]]
    a, b = (torch.load(Path(r["checkpoint"]), weights_only=True)["model"] for r in (resumed, uninterrupted))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    a, b = specs.step_log(spec), specs.step_log(reference)  # epoch 1's rows from the checkpoint
    assert a.keys() == b.keys() and all(len(a[k]) == 4 and np.array_equal(a[k], b[k]) for k in a)


def test_the_slurm_path_runs_through_submitits_local_executor(grid, tmp_path):
    (reference,) = [s for s in grid["launched"] if s.get("variant") == "student"]
    spec = {**reference, "out": str(tmp_path / "student")}
    launcher = SlurmLauncher(ENTRY, tmp_path / "submitit", gpus=2, executor="local", time_min=10)
    with pytest.MonkeyPatch.context() as mp:
        for k, v in grid["env"].items():
            if k.startswith("IKD_"):
                mp.setenv(k, v)
        launcher.run([specs.write(spec)], stage="wave1")
    result = specs.result(spec)
    assert result["world_size"] == 2
    assert result["valid_metric"] == specs.result(reference)["valid_metric"]
    assert result["test_metric"] == specs.result(reference)["test_metric"]
    # a preempted job is requeued with the same spec (which resumes from its checkpoint)
    again = SubmititRun(specs.SPEC, ENTRY).checkpoint()
    assert isinstance(again.function, SubmititRun) and again.function.spec_path == specs.SPEC
    assert again.function.entry == ENTRY == "ikd_lib.vision.paper.run"


def test_a_failed_run_names_its_log_and_how_to_resume(tmp_path):
    spec = {
        "kind": "train",
        "variant": "td",
        "dataset": "imagenet",
        "seed": 0,
        "weight": 1.0,
        "out": str(tmp_path / "broken"),
    }  # fields missing: the run raises at once
    with pytest.raises(RunFailed, match="run the same command again"):
        LocalLauncher(ENTRY, 1, log_dir=tmp_path / "logs").run([specs.write(spec)], stage="broken")
    assert list((tmp_path / "logs").glob("broken-group0.log"))


def test_paper_profile_without_data_or_checkpoint_stops_within_seconds(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("IKD_IMAGENET_DIR", "IKD_VIT_CHECKPOINT")}
    env |= {"IKD_CACHE_DIR": str(tmp_path / "cache"), "HF_HOME": str(tmp_path / "hf"), "IKD_OFFLINE": "1"}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "ikd_lib.vision.paper.preflight", "--profile", "paper"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and time.perf_counter() - start < 60
    for needed in (
        "cifar10:",
        "cifar100:",
        "IKD_IMAGENET_DIR is unset",
        "image-net.org",
        "IKD_VIT_CHECKPOINT",
        "make paper-data",
    ):
        assert needed in done.stderr, needed


def test_the_gpu_check_measures_and_writes_a_calibration_at_a_tiny_size(tmp_path):
    from ikd_lib.launch.plan import load_calibration
    from ikd_lib.vision.paper import gpu_check

    out = tmp_path / "calibration.json"
    calibration = gpu_check.main(["--tiny", "--steps", "2", "--warmup", "1", "--batch", "8", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert set(saved["images_per_s"]) == {"student", "kd", "td", "eval", "teacher"}
    assert all(v > 0 for v in saved["images_per_s"].values())
    assert saved["td_over_kd_step_time"] == pytest.approx(saved["images_per_s"]["kd"] / saved["images_per_s"]["td"])
    assert saved["batch"] == 8 and saved["weights"] == "random" and calibration["device"] == saved["device"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IKD_CALIBRATION", str(out))
        assert load_calibration(tiny_profile().vit, "vision")["images_per_s"] == saved["images_per_s"]


def test_holdout_keeps_the_last_images_of_each_class_and_refuses_an_empty_class():
    from ikd_lib.vision.paper.stream import holdout

    train, valid = holdout([0, 1, 0, 1, 0, 1], 1)
    assert valid == [4, 5] and train == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="valid_per_class=3 must be in 1..2"):
        holdout([0, 1, 0, 1, 0, 1], 3)


def test_the_paper_profiles_captions_say_what_it_runs_from_its_settings():
    """At a profile with a pre-trained checkpoint the tables' protocol and note describe that
    profile (docs/paper_scale.md: timm's ViT-B/16 from IKD_VIT_CHECKPOINT, 224 px, the full
    datasets), read from its settings: another resolution or depth changes the words."""
    from ikd_lib.vision.profiles import PAPER_VIT
    from ikd_lib.vision.tables import TABLES, tables_for

    paper = tables_for(get_profile("paper"))
    assert paper.keys() == TABLES.keys()
    for key, spec in paper.items():
        assert spec.rows == TABLES[key].rows and spec.paper_key == TABLES[key].paper_key
        text = f"{spec.protocol} {spec.note}"
        for needed in (
            "`vit_base_patch16_224.augreg_in21k` (12 blocks of width 768, 16-px patches)",
            "the file that IKD_VIT_CHECKPOINT names",
            "resized to 224 px",
            "first 4 blocks",
            "the full CIFAR-10, CIFAR-100 and ImageNet",
            "500 for CIFAR-10, 50 for CIFAR-100, 10 for ImageNet",
            "a hold-out of each training split",
            "ILSVRC-2012 validation set",
        ):
            assert needed in text, (key, needed)
        for stand_in in ("stand-in", "Tiny-ImageNet", "32 px", "cpu profile", "training subset"):
            assert stand_in not in text, (key, stand_in)
    other = get_profile("paper", datasets=("cifar100",), vit=replace(PAPER_VIT, img_size=384, student_depth=6))
    note = tables_for(other)["table4"].note
    assert "resized to 384 px" in note and "first 6 blocks" in note and "the full CIFAR-100:" in note
    assert "ImageNet" not in note  # no ImageNet column: no word on its test split
    assert "first 6 blocks" in tables_for(other)["table4"].protocol


def test_the_cpu_and_smoke_captions_are_the_committed_tables_words():
    from ikd_lib.vision.tables import TABLES, tables_for

    assert tables_for(get_profile("cpu")) is TABLES and tables_for(get_profile("smoke")) is TABLES
    for key, spec in TABLES.items():
        committed = (ROOT / "tables" / f"{key}.md").read_text()
        assert f"; {spec.protocol} Distillation weights λ" in committed, key
        assert f"p < 0.05. {spec.note} Provenance: profile `cpu`" in committed, key


def test_a_paper_profile_experiment_renders_its_tables_with_the_paper_captions(tmp_path, monkeypatch):
    from ikd_lib.vision.tables import tables_for

    fake_imagefolder(tmp_path / "imagenet")
    (tmp_path / "model.safetensors").write_bytes(b"not read: only named")
    monkeypatch.setenv("IKD_IMAGENET_DIR", str(tmp_path / "imagenet"))
    monkeypatch.setenv("IKD_VIT_CHECKPOINT", str(tmp_path / "model.safetensors"))
    profile = get_profile("paper", datasets=("imagenet",))
    exp = LaunchedVisionExperiment(profile, store_root=tmp_path / "store", progress=False)
    assert exp.tables == tables_for(profile)
    assert "IKD_VIT_CHECKPOINT" in exp.tables["table4"].note and "224 px" in exp.tables["table9"].note


def test_a_result_without_its_step_log_names_the_folder_to_delete(tmp_path):
    spec = {
        "kind": "train",
        "variant": "td",
        "dataset": "imagenet",
        "seed": 0,
        "weight": 1.0,
        "out": str(tmp_path / "run"),
    }
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / specs.RESULT).write_text(json.dumps({"spec_hash": specs.spec_hash(spec)}))
    with pytest.raises(FileNotFoundError, match=r"steps.npz is missing .* delete the folder .*run and launch again"):
        specs.step_log(spec)
