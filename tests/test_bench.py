"""`make bench` runs end to end (smoke profile, few repeats) and reports ratios."""
from ikd_lib.movielens import bench


def test_bench_reports_ratios_and_the_stacked_vs_alone_comparison(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("IKD_RUNS_DIR", str(tmp_path))
    bench.main(["--profile", "smoke", "--repeats", "2", "--warmup", "1", "--no-wall", "--unstacked"])
    text = (tmp_path / "smoke" / "bench" / "bench.md").read_text()
    assert "| Drama | kd | 2 | 1024 |" in text and "| Western | td |" in text
    assert "× KD" in text and "Stacking lever" in text
    assert "Stacked against one-seed-at-a-time" in text and "| Student | Western |" in text
    rows = [line for line in text.splitlines() if line.startswith("| Drama | student |")]
    assert rows and rows[0].split("|")[6].strip() == "1.00"          # Student vs itself
