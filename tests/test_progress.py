"""The progress line: stacks done, the share of the expected work (each stack weighted by its
expected cost, stacks already in the store counted as done), elapsed time, and no guessed time left."""

from ikd_lib.core import progress


def test_the_line_weights_stacks_by_their_expected_cost(monkeypatch, capsys):
    monkeypatch.setenv("IKD_PROGRESS", "lines")
    monkeypatch.setattr(progress, "LINE_EVERY_S", 0.0)
    costs = {("kd", "Drama"): 1.0, ("td", "Drama"): 6.0, ("student", "Drama"): 1.0}
    p = progress.Progress("table5", costs, done={("student", "Drama")})  # 1 of 8 already in the store
    p.advance(("kd", "Drama"))
    p.advance(("kd", "Drama"))  # a job reported twice counts once
    p.advance(("td", "Drama"))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert "2/3 stacks" in lines[0] and "last kd · Drama" in lines[0] and "25% of the expected work" in lines[0]
    assert "3/3 stacks" in lines[1] and "100% of the expected work" in lines[1]
    assert all("elapsed" in line and "left" not in line for line in lines)
    p.close()
