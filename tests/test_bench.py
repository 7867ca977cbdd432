"""`make bench` runs end to end (smoke profile, few repeats) and reports ratios."""

import pytest

from ikd_lib.movielens import bench


def test_bench_reports_ratios_and_the_stacked_vs_alone_comparison(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("IKD_RUNS_DIR", str(tmp_path))
    bench.main(["--profile", "smoke", "--repeats", "2", "--warmup", "1", "--no-wall", "--unstacked"])
    text = (tmp_path / "smoke" / "bench" / "bench.md").read_text()
    assert "| Drama | kd | 2 | 1024 |" in text and "| Western | td |" in text
    assert "× KD" in text and "Stacking lever" in text
    assert "Stacked against one-seed-at-a-time" in text and "| Student | Western |" in text
    # each ratio is that row's step time over the Student's (× Student) and KD's (× KD) step
    # time of the same genre, as printed (2 decimals: a tolerance of rounding)
    for genre in ("Drama", "Western"):
        rows = {
            cols[2]: cols
            for line in text.splitlines()
            if line.startswith(f"| {genre} | ")
            for cols in [[c.strip() for c in line.split("|")]]
            if len(cols) == 10
        }
        assert {"student", "kd", "td"} <= set(rows), rows
        ms = {variant: float(cols[5]) for variant, cols in rows.items()}
        for variant, cols in rows.items():
            for column, base in ((6, "student"), (7, "kd")):
                expected = ms[variant] / ms[base]
                assert float(cols[column]) == pytest.approx(expected, rel=0.02, abs=0.011), (genre, variant, base)
        assert ms["td"] != ms["student"]  # distinct steps, so the ratios say something


def test_vision_bench_says_whether_validation_accuracy_levelled_off(tmp_path):
    """A run still climbing at the end is counted; one that has flattened is not."""
    from types import SimpleNamespace

    import numpy as np

    from ikd_lib.vision.bench import levelling

    curves = {"flat": [0.50, 0.60, 0.61, 0.60, 0.61], "climbing": [0.30, 0.40, 0.50, 0.60, 0.70]}
    records = []
    for name, valid in curves.items():
        np.savez(tmp_path / f"{name}.npz", **{"epoch/valid_metric": np.array(valid)[:, None]})
        records.append(
            {"log_file": f"{name}.npz", "task": "cifar10", "distill_weight": 1.0, "l2": 0.0, "seed": 0, "log_column": 0}
        )
    records.append({"log_file": None, "task": "cifar10"})  # an evaluated row (the probe): skipped
    exp = SimpleNamespace(
        store=SimpleNamespace(root=tmp_path),
        splits={"cifar10": SimpleNamespace(valid=SimpleNamespace(y=np.zeros(400)))},
    )
    out = levelling(exp, records)
    assert out["runs"] == 2 and out["best_at_last_epoch"] == 1
    assert out["gain_over_1se"] == out["gain_over_2se"] == 1  # climbing: +0.20 = 8.7 SE of 0.70 on 400 images


def test_training_time_counts_each_stack_once_and_how_busy_the_workers_were():
    records = [
        {"variant": v, "task": t, "stack_wall_s": s}
        for v, t, s in (("td", "Drama", 30.0), ("td", "Western", 10.0), ("kd", "Drama", 20.0))
        for _seed in range(5)
    ]  # five replicas of each stack carry the same stack time
    out = bench.training_time(records, workers=2, pool_s=40.0)
    assert out["training_s"] == 60.0 and out["training_by_variant"] == {"td": 40.0, "kd": 20.0}
    assert out["busy"] == 0.75
