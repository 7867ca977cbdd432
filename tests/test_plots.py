"""Figures from hand-made records and logs, and the figures notebook end to end on smoke."""

import time
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import nbformat
import numpy as np
import papermill as pm
import pytest

from ikd_lib.core import plots
from ikd_lib.core.config import TrainConfig
from ikd_lib.movielens import figures

ROOT = Path(__file__).resolve().parent.parent
TRAIN = TrainConfig(batch_size=100, min_batches_per_epoch=4)


def record(variant, genre, seed, test, valid=None, weight=1.0, weights=(1.0,), seeds=(0, 1, 2), n_train=1000):
    return {
        "variant": variant,
        "task": genre,
        "seed": seed,
        "distill_weight": weight,
        "test_metric": test,
        "valid_metric": test if valid is None else valid,
        "n_train": n_train,
        "profile": "handmade",
        "config_hash": f"{variant}-{genre}",
        "git_revision": "deadbeef",
        "log_file": f"logs/{variant}/{genre}.npz",
        "log_column": [(w, s) for w in weights for s in seeds].index((weight, seed)),
        "l2": 0.0,
        "config": {"train": asdict(TRAIN), "teacher_hash": "t", "data": "d"},
    }


def stack(variant, genre, tests, valid=None, **kw):
    """One record per seed; `tests`/`valid` per seed."""
    valid = valid or [None] * len(tests)
    return [record(variant, genre, s, t, v, **kw) for s, (t, v) in enumerate(zip(tests, valid))]


# ---------------------------------------------------------------- saving
def test_save_figure_writes_png_and_pdf(tmp_path):
    from matplotlib.figure import Figure

    fig = Figure()
    fig.subplots().plot([0, 1], [1, 0])
    paths = plots.save_figure(fig, tmp_path / "figs", "line")
    assert [p.name for p in paths] == ["line.png", "line.pdf"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths[1].read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["line.pdf", "line.png"]  # no temp files


# ---------------------------------------------------------------- loss components
def test_smooth_is_a_trailing_moving_average():
    x = np.array([0.0, 2.0, 4.0, 6.0])
    assert np.allclose(plots.smooth(x, 1), x)
    assert np.allclose(plots.smooth(x, 2), [0.0, 1.0, 3.0, 5.0])
    assert np.allclose(plots.smooth(np.full(10, 3.0), 4), 3.0)


def test_mean_over_averages_only_where_every_chosen_replica_was_trained():
    log = np.array([[1.0, 3.0, 100.0], [2.0, 5.0, 100.0], [2.0, np.nan, 100.0], [np.nan, np.nan, 100.0]])
    assert np.allclose(plots.mean_over(log, [0, 1]), [2.0, 3.5])  # ends when replica 1 stopped
    assert np.allclose(plots.mean_over(log, [0, 2]), [50.5, 51.0, 51.0])


def fake_log(steps, epochs, k_rounds, n_replicas):
    """Loss of replica r = r + 1 at every step, so the mean tells which replicas were averaged."""
    col = np.arange(1, n_replicas + 1, dtype=float)
    log = {
        "step/task": np.tile(col, (steps, 1)),
        "step/interact": np.tile(col, (steps, 1)) * (k_rounds > 0),
        "step/message": np.tile(col, (steps, 1)),
        "step/state": np.tile(col, (steps, 1)),
        "epoch/valid_metric": np.tile(col, (epochs, 1)),
    }
    for k in range(1, k_rounds + 1):
        log[f"step/interact_round{k}"] = np.tile(col, (steps, 1))
    return log


def test_loss_curves_average_the_seeds_of_the_weight_chosen_on_validation(tmp_path):
    # replicas: (w=1, s0), (w=1, s1), (w=3, s0), (w=3, s1); weight 3 has the lower validation RMSE
    recs = [
        record("td", "Drama", s, 1.0, valid=v, weight=w, weights=(1.0, 3.0), seeds=(0, 1))
        for w, v in ((1.0, 0.9), (3.0, 0.8))
        for s in (0, 1)
    ]
    path = tmp_path / "logs" / "td" / "Drama.npz"
    path.parent.mkdir(parents=True)
    np.savez(path, **fake_log(steps=20, epochs=2, k_rounds=2, n_replicas=4))
    curves = plots.loss_curves(recs, tmp_path)
    assert curves.weight == 3.0 and curves.seeds == [0, 1]
    assert np.allclose(curves.losses["task"], 3.5)  # mean of replicas 3 and 4 (values 3, 4)
    assert np.allclose(curves.valid_metric, 3.5)
    assert curves.steps_per_epoch == 10  # 1000 ratings, batches of 100


def test_chosen_replicas_are_read_from_their_own_stacks_logs(tmp_path):
    """A grown grid trains its new values in a stack of their own: seed 0's choice lives in one
    log (column 1), seed 1's in another (column 0), a shorter one, padded with NaN."""
    for name, steps in (("old", 6), ("new", 4)):
        np.savez(tmp_path / f"{name}.npz", **{"step/task": np.arange(steps * 2, dtype=float).reshape(steps, 2)})
    chosen = [{"log_file": "old.npz", "log_column": 1}, {"log_file": "new.npz", "log_column": 0}]
    log = plots.chosen_logs(tmp_path, chosen)["step/task"]
    assert log.shape == (6, 2)
    assert log[:, 0].tolist() == [1, 3, 5, 7, 9, 11]
    assert log[:4, 1].tolist() == [0, 2, 4, 6] and np.isnan(log[4:, 1]).all()


@pytest.mark.parametrize("k_rounds,n_lines", [(2, 5), (0, 3)])  # task, rounds..., MC, SC; K=0: no interact
def test_loss_components_figure_has_a_panel_per_genre(tmp_path, k_rounds, n_lines):
    genres = ("Drama", "Western")
    recs = [r for g in genres for r in stack("td", g, [1.0, 1.1, 1.2])]
    for g in genres:
        path = tmp_path / "logs" / "td" / f"{g}.npz"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **fake_log(steps=30, epochs=3, k_rounds=k_rounds, n_replicas=3))
    exp = SimpleNamespace(run=lambda variants, genres: recs, store=SimpleNamespace(root=tmp_path))
    fig = figures.plot_movielens_loss_components(exp, genres)
    panels, twins = fig.axes[:2], fig.axes[2:]  # the twin axes are added after the panels
    assert len(fig.axes) == 4
    assert [len(ax.get_lines()) for ax in panels] == [n_lines, n_lines]
    assert all(len(ax.get_lines()) == 1 for ax in twins)
    assert list(twins[0].get_lines()[0].get_xdata()) == [10, 20, 30]  # end of each epoch, in steps
    assert "Drama" in panels[0].get_title() and "1,000" in panels[0].get_title()
    assert "moving average" in panels[0].get_ylabel()
    assert all(p.stat().st_size > 0 for p in plots.save_figure(fig, tmp_path, "losses"))


# ---------------------------------------------------------------- RMSE against K
def k_records(genres):
    recs = []
    for i, g in enumerate(genres):
        for k, variant in plots.K_VARIANTS.items():
            recs += stack(variant, g, [1.0 + i + 0.01 * k + 0.001 * s for s in range(3)])
        recs += stack("student", g, [1.05 + i] * 3)
    return recs


def test_rmse_vs_k_has_four_k_per_genre_with_their_own_axes():
    genres = ["Drama", "Action", "Crime", "Horror", "Western"]
    fig = figures.plot_rmse_vs_k(k_records(genres), genres)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == len(genres)  # 2 x 4 grid, 3 hidden
    for i, ax in enumerate(visible):
        k_line = ax.get_lines()[0]
        assert list(k_line.get_xdata()) == [0, 1, 2, 3]
        assert np.allclose(k_line.get_ydata(), [1.001 + i + 0.01 * k for k in range(4)])
        assert ax.get_ylim()[0] > i  # its own y axis, not shared
        assert genres[i] in ax.get_title()


def test_rmse_vs_k_leaves_a_gap_for_a_k_not_run():
    recs = [r for r in k_records(["Drama"]) if r["variant"] != "td_k2"]
    ydata = np.asarray(figures.plot_rmse_vs_k(recs, ["Drama"]).axes[0].get_lines()[0].get_ydata(), dtype=float)
    assert np.isnan(ydata[2]) and not np.isnan(ydata[[0, 1, 3]]).any()


# ---------------------------------------------------------------- gain against density
def gain_records():
    """Drama (dense): TD better than everything. Western (sparse): TD worse than the baseline
    chosen on validation (KD), although FD has the better test RMSE."""
    recs = []
    for genre, n, td, student, kd, fd in (
        ("Drama", 30000, [0.90, 0.91, 0.92], [0.93, 0.95, 0.93], [0.92, 0.93, 0.94], [0.95, 0.95, 0.95]),
        ("Western", 1500, [1.00, 1.02, 1.04], [1.10, 1.10, 1.10], [0.98, 1.00, 1.02], [0.90, 0.90, 0.90]),
    ):
        recs += stack("td", genre, td, n_train=n) + stack("student", genre, student, n_train=n)
        recs += stack("kd", genre, kd, valid=[0.5] * 3, n_train=n)  # best on validation
        recs += stack("fd", genre, fd, valid=[0.6] * 3, n_train=n)
    return recs


@pytest.mark.filterwarnings("ignore:Precision loss")  # build_table's t-test on constant differences
def test_gain_is_positive_when_td_is_better_and_uses_the_baseline_chosen_on_validation():
    gains = figures.td_gains(gain_records(), ["Drama", "Western"])
    student, baseline = ({g.genre: g for g in gains[k]} for k in ("Student", "best baseline"))
    assert student["Drama"].mean == pytest.approx(np.mean([0.03, 0.04, 0.01]))
    assert student["Drama"].se == pytest.approx(np.std([0.03, 0.04, 0.01], ddof=1) / np.sqrt(3))
    assert student["Western"].mean == pytest.approx(0.08)
    assert baseline["Drama"].against == "KD" and baseline["Drama"].mean == pytest.approx(0.02)
    assert baseline["Western"].against == "KD"  # not FD, the better on test
    assert baseline["Western"].mean == pytest.approx(-0.02)  # TD worse: negative
    assert baseline["Western"].se == pytest.approx(0.0, abs=1e-12)  # a constant paired difference
    assert student["Western"].n_train == 1500


@pytest.mark.filterwarnings("ignore:Precision loss")
def test_gain_figure_is_log_scaled_and_names_the_genres(tmp_path):
    fig = figures.plot_gain_vs_density(gain_records(), ["Drama", "Western"])
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    texts = [t.get_text() for t in ax.texts]
    assert {"Drama", "Western", "vs KD"} <= set(texts)
    assert len(ax.containers) == 2  # two error-bar series
    assert all(p.stat().st_size > 1000 for p in plots.save_figure(fig, tmp_path, "gain"))


# ---------------------------------------------------------------- the notebook
def test_figures_notebook_runs_on_smoke_profile(smoke_dirs, monkeypatch):
    monkeypatch.setenv("IKD_RUNS_DIR", str(smoke_dirs))
    # a made-up sample in the published format, so the test does not depend on the published numbers
    monkeypatch.setenv("IKD_PAPER_RESULTS", str(Path(__file__).parent / "data" / "paper_results_sample.json"))
    started = time.time()
    out = smoke_dirs / "notebooks" / "movielens_figures.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(
        str(ROOT / "notebooks" / "movielens_figures.ipynb"),
        str(out),
        parameters={"profile": "smoke"},
        cwd=str(ROOT / "notebooks"),
        progress_bar=False,
    )
    figures = smoke_dirs / "smoke" / "figures"
    for name in ("loss_components", "rmse_vs_k", "gain_vs_density", "budget_table3"):
        assert (figures / f"{name}.png").stat().st_size > 10_000
        assert (figures / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
        # the committed cpu figures are never written by a smoke run
        committed = ROOT / "figures" / f"{name}.png"
        assert not committed.exists() or committed.stat().st_mtime < started
    executed = nbformat.read(out, as_version=4)
    images = [o for c in executed.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 4  # each figure is shown


def test_vit_figures_name_the_imagenet_stand_in_for_what_it_is():
    from ikd_lib.vision import figures as vision_figures

    records = [
        r
        for k, variant in enumerate(("td_k0", "td", "td_k2"))
        for r in stack(variant, "tinyimagenet", [0.3 + k / 100] * 3)
    ]
    fig = vision_figures.plot_accuracy_vs_k(records, ["tinyimagenet"])
    title = fig.axes[0].get_title()
    assert "Tiny-ImageNet-20" in title and "(ImageNet stand-in)" in title and "tinyimagenet" not in title
