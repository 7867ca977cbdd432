"""Searches that grow until they bracket, inside the experiment (core/experiment.py): a stack
whose seeds choose an edge of the profile's grid trains one more value beyond that edge, only
there, until every seed's choice is inside the grid, tied, or at the declared bound; the store
keeps every value, so loading again computes nothing and grows the same grid.

The runs here are not trained: a toy experiment writes each replica's validation value from a
hand-made curve, so every grown grid below is worked out by hand.
"""

from dataclasses import replace
from types import SimpleNamespace

import pytest

from ikd_lib.core.bracket import search
from ikd_lib.core.experiment import Experiment, Variant
from ikd_lib.core.results import cell_for
from ikd_lib.core.tables import Row, TableSpec, build_table, render_csv


def rmse_curve(best: dict):
    """Validation RMSE per seed: a V in log10 λ around that seed's best λ (lower is better)."""
    import math

    return lambda seed, weight, l2: 0.9 + 0.01 * abs(math.log10(weight) - math.log10(best[seed])) + 0.001 * l2


class CurveExperiment(Experiment):
    """KD on one task, three seeds; a replica's validation value is curve(seed, λ, l2)."""

    track = "toy"
    higher_is_better = False

    def __init__(self, root, curve, grid=(1.0, 10.0, 100.0), bounds=(1e-3, 1e4), l2s=(0.0,), l2_bounds=(1.0, 1.0)):
        profile = SimpleNamespace(
            name="toy",
            seeds=(0, 1, 2),
            tasks=("A",),
            distill_weights=grid,
            td_weights=grid,
            weight_bounds=bounds,
            l2_bounds=l2_bounds,
            search_step=10.0,
        )
        super().__init__(profile, root, progress=False, workers=1)
        self.variants = {"kd": Variant("kd", "KD", "kd")}
        self.curve, self.l2s, self.trained = curve, l2s, []

    def l2_grid(self, variant):
        return self.l2s

    def run_config(self, variant, task_name):
        return {
            "experiment": "toy",
            "profile": "toy",
            "variant": variant.key,
            "method": variant.method,
            "task": task_name,
            "teacher_hash": "none",
            "data": "toy curve",
        }

    def _compute(self, variant, task_name, config, key, missing):
        self.trained.append(sorted({r.weight for r, _ in missing}))
        for replica, path in missing:
            valid = self.curve(replica.seed, replica.weight, replica.l2)
            self.store.write(
                path,
                {
                    **{k: config[k] for k in ("experiment", "profile", "variant", "method", "task")},
                    "label": variant.label,
                    "seed": replica.seed,
                    "distill_weight": replica.weight,
                    "l2": replica.l2,
                    "config_hash": key,
                    "inherited": [],
                    "valid_metric": valid,
                    "test_metric": valid,
                    "config": config,
                    "git_revision": "toy",
                },
            )


def weights_of(records):
    return sorted({r["distill_weight"] for r in records})


def test_a_choice_at_the_upper_edge_grows_that_side_only_and_the_store_keeps_it(tmp_path):
    """Seeds' best λ: 10, 100, 1000. On {1, 10, 100}, seed 2 (best 1000) chooses 100, the upper
    edge, which is not the bound 1e4: the grid grows to 1000 (only that value is trained), where
    seed 2 now chooses 1000, again the edge: it grows to 10000, the bound; there seed 2 chooses
    1000, inside. Seed 0 chose 10, inside: the lower side never grows."""
    exp = CurveExperiment(tmp_path, rmse_curve({0: 10.0, 1: 100.0, 2: 1000.0}))
    records = exp.run_variant(exp.variants["kd"], "A")
    assert exp.trained == [[1.0, 10.0, 100.0], [1000.0], [10000.0]]
    assert weights_of(records) == [1.0, 10.0, 100.0, 1000.0, 10000.0]
    assert {s: r["distill_weight"] for s, r in ((r["seed"], r) for r in cell_for(records).records)} == {
        0: 10.0,
        1: 100.0,
        2: 1000.0,
    }
    assert all(r["search"] == {"distill_weight": {"bounds": [1e-3, 1e4], "step": 10.0}} for r in records)

    again = CurveExperiment(tmp_path, rmse_curve({0: 10.0, 1: 100.0, 2: 1000.0}))
    assert again.in_store(("kd", "A"))  # the grown grid counts as done
    with again.loading_only():
        assert weights_of(again.run_variant(again.variants["kd"], "A")) == weights_of(records)
    assert again.trained == []  # a second run computes nothing


def test_growth_stops_at_the_declared_bound_and_says_so(tmp_path):
    """Seed 0's best λ is 1e-6, below the lower bound 1e-3: the grid grows 1 -> 0.1 -> 0.01 ->
    0.001 and stops there, with seed 0's choice counted at a bound (not at an open edge)."""
    exp = CurveExperiment(tmp_path, rmse_curve({0: 1e-6, 1: 10.0, 2: 10.0}))
    records = exp.run_variant(exp.variants["kd"], "A")
    assert exp.trained == [[1.0, 10.0, 100.0], [0.1], [0.01], [0.001]]
    spec = TableSpec("toy", "Toy", (Row("KD", ("kd",)),), "RMSE", False)
    table = build_table(spec, records, ("A",))
    searched = table.searches["KD", "A"]["distill_weight"]
    assert searched.grid == (0.001, 0.01, 0.1, 1.0, 10.0, 100.0) and searched.bounds == (1e-3, 1e4)
    assert searched.counts == {
        "choices_interior": 2,
        "choices_at_bound": 1,
        "choices_tied": 0,
        "choices_at_open_edge": 0,
    }
    row = render_csv(table).splitlines()[1].split(",")
    header = render_csv(table).splitlines()[0].split(",")
    cell = dict(zip(header, row))
    assert cell["distill_weight_grid"] == "0.001 0.01 0.1 1 10 100" and cell["distill_weight_bounds"] == "0.001 10000"
    assert (cell["choices_at_open_edge"], cell["choices_at_bound"], cell["choices_tied"]) == ("0", "1", "0")


def test_a_flat_stretch_grows_nothing(tmp_path):
    """Every λ restores the same start for seed 1 (validation equal everywhere): its choice, the
    smallest value, is a tie, and with the others inside, the grid stays the profile's."""
    best = {0: 10.0, 2: 10.0}
    exp = CurveExperiment(tmp_path, lambda seed, w, l2: 0.95 if seed == 1 else rmse_curve(best)(seed, w, l2))
    exp.run_variant(exp.variants["kd"], "A")
    assert exp.trained == [[1.0, 10.0, 100.0]]


def test_the_grown_choice_equals_a_plain_search_over_the_final_grid(tmp_path):
    """A joint (λ, l2) search that grows λ on both sides. Seed 0 (best λ 0.01) chooses 1, then
    0.1, then 0.01, each time the lower edge, so the lower side grows to 0.001, where 0.01 is
    inside; seed 2 (best 1e5) takes the upper side to its bound 1e4. Each seed's final choice
    equals the choice over a plain search of the final grid run at once, and bracket.search (the
    pure driver) ends at the same λ grid."""
    best = {0: 1e-2, 1: 10.0, 2: 1e4 * 10}
    curve = rmse_curve(best)
    grown = CurveExperiment(tmp_path / "grown", curve, l2s=(0.5, 1.0), l2_bounds=(0.5, 1.0))
    records = grown.run_variant(grown.variants["kd"], "A")
    final = tuple(weights_of(records))
    assert final == (0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)
    assert grown.trained == [[1.0, 10.0, 100.0], [0.1, 1000.0], [0.01, 10000.0], [0.001]]
    plain = CurveExperiment(tmp_path / "plain", curve, grid=final, l2s=(0.5, 1.0), l2_bounds=(0.5, 1.0))
    plain_records = plain.run_variant(plain.variants["kd"], "A")
    assert plain.trained == [list(final)]

    def choices(recs):
        return {r["seed"]: (r["distill_weight"], r["l2"]) for r in cell_for(recs).records}

    assert choices(records) == choices(plain_records)
    pure = search(
        (1.0, 10.0, 100.0), lambda values: {s: {v: curve(s, v, 0.5) for v in values} for s in best}, (1e-3, 1e4), 10.0
    )
    assert pure.grid == final and pure.evaluations == 4 and pure.stopped_at_bound == ("upper",)


def test_bounds_that_cut_into_the_grid_are_refused_before_any_run(tmp_path):
    exp = CurveExperiment(tmp_path, rmse_curve({0: 1.0, 1: 1.0, 2: 1.0}), bounds=(2.0, 1e4))
    with pytest.raises(ValueError, match="kd's distill_weight search in profile 'toy'.*lower bound 2 is inside"):
        exp.run(["kd"])
    assert exp.trained == []


def test_td_plus_kd_grows_its_mu_per_genre_and_a_worker_knows_the_grown_variants(tmp_path, monkeypatch):
    """The reviewers' TD + KD is a family of variants, one per μ; its row picks μ per seed. On
    the smoke profile's one-value grid {1} with bounds 0.1 to 10, seed 0 (best μ 10) and seed 1
    (best μ 0.1) both sit at that value, an open edge on both sides: the grid grows to
    {0.1, 1, 10}, both bounds, where each seed chooses its bound. Loading it again computes
    nothing; a worker process is built knowing the two grown variants."""
    import math

    from ikd_lib.movielens.reviewers import make_reviewers_experiment

    def fake_compute(self, variant, task_name, config, key, missing):
        best = {0: 10.0, 1: 0.1}
        for replica, path in missing:
            mu = getattr(variant, "kd_weight", 0.0)
            valid = 0.9 + (0.01 * abs(math.log10(mu / best[replica.seed])) if variant.method == "td_kd" else 0.0)
            self.store.write(
                path,
                {
                    **{k: config[k] for k in ("experiment", "profile", "variant", "method", "task")},
                    "label": variant.label,
                    "seed": replica.seed,
                    "distill_weight": replica.weight,
                    "l2": replica.l2,
                    "config_hash": key,
                    "inherited": self.inherited(variant),
                    "valid_metric": valid,
                    "test_metric": valid,
                    "config": config,
                    "git_revision": "toy",
                },
            )
        computed.append((variant.key, len(missing)))

    computed = []
    monkeypatch.setattr("ikd_lib.core.experiment.Experiment._compute", fake_compute)
    kwargs = {"genres": ["Western"], "store_root": tmp_path, "progress": False, "workers": 1}
    exp = make_reviewers_experiment("smoke", **kwargs)
    exp.profile = replace(exp.profile, weight_bounds=(0.1, 10.0))  # smoke's grids never grow
    found = exp.family_search("plus_kd", "Western")
    assert found.grid == (0.1, 1.0, 10.0) and found.evaluations == 2
    assert set(found.stopped_at_bound) == {"lower", "upper"}
    assert found.last.choices == {0: 10.0, 1: 0.1} and found.counts()["choices_at_bound"] == 2
    assert {"plus_kd0.1", "plus_kd10"} <= {key for key, _ in computed}
    assert exp.worker_factory().keywords["grown"] == (("plus_kd", 0.1), ("plus_kd", 10.0))

    computed.clear()
    again = make_reviewers_experiment("smoke", **kwargs)
    again.profile = exp.profile
    with again.loading_only():
        assert again.family_search("plus_kd", "Western").grid == (0.1, 1.0, 10.0)
    assert computed == []


def test_the_records_of_the_grown_values_are_the_studys_per_genre(tmp_path, monkeypatch):
    """grown_records: the records of every family's values beyond the profile's grid on a genre:
    μ grew to 0.1 and 10 (as above); η's grid stays (its validation is flat: a tie)."""
    import math

    from ikd_lib.movielens.reviewers import make_reviewers_experiment

    def fake_compute(self, variant, task_name, config, key, missing):
        best = {0: 10.0, 1: 0.1}
        for replica, path in missing:
            mu = getattr(variant, "kd_weight", 0.0)
            valid = 0.9 + (0.01 * abs(math.log10(mu / best[replica.seed])) if variant.method == "td_kd" else 0.0)
            self.store.write(
                path,
                {
                    **{k: config[k] for k in ("experiment", "profile", "variant", "method", "task")},
                    "label": variant.label,
                    "seed": replica.seed,
                    "distill_weight": replica.weight,
                    "l2": replica.l2,
                    "config_hash": key,
                    "inherited": self.inherited(variant),
                    "valid_metric": valid,
                    "test_metric": valid,
                    "config": config,
                    "git_revision": "toy",
                },
            )
        computed.append((variant.key, len(missing)))

    computed = []
    monkeypatch.setattr("ikd_lib.core.experiment.Experiment._compute", fake_compute)
    kwargs = {"genres": ["Western"], "store_root": tmp_path, "progress": False, "workers": 1}
    exp = make_reviewers_experiment("smoke", **kwargs)
    exp.profile = replace(exp.profile, weight_bounds=(0.1, 10.0))  # smoke's grids never grow
    grown = exp.grown_records("Western")
    assert sorted((r["variant"], r["seed"]) for r in grown) == [
        ("plus_kd0.1", 0),
        ("plus_kd0.1", 1),
        ("plus_kd10", 0),
        ("plus_kd10", 1),
    ]
    assert exp.family_search("thaw", "Western").grid == (1e-4, 1e-3)


def test_verify_with_fewer_seeds_starts_each_search_from_the_committed_grid(tmp_path):
    """`make verify SEEDS=0` regenerates one seed: grown for it alone, a search could stop before
    the grid the committed table searched with every seed, and that seed could choose otherwise.
    So each single-variant row's searched grid (the CSV's distill_weight_grid, l2_grid) is where
    its search starts; inherited and pooled rows are left alone. The reviewers' CSV names its
    grids per row ("λ: 1 10; L2: inherited"), TD + KD's μ and the learning teacher's η included."""
    from ikd_lib.core.tables import TD_POOL
    from ikd_lib.verify import start_from_committed, start_study_from_committed

    spec = TableSpec("t", "T", (Row("KD", ("kd",)), Row("Student", ("student",)), Row("TD", TD_POOL)), "RMSE", False)
    exp = SimpleNamespace(tables={"t": spec}, task_names=("Drama",), start_grids={}, family_start={})
    rows = {
        ("KD", "Drama"): {"distill_weight_grid": "0.1 1 10 100", "l2_grid": "inherited"},
        ("Student", "Drama"): {"distill_weight_grid": "", "l2_grid": "0.03 0.3 3"},
        ("TD", "Drama"): {"distill_weight_grid": "inherited", "l2_grid": "inherited"},
    }
    assert start_from_committed(exp, "t", rows) == 2
    assert exp.start_grids == {
        ("kd", "Drama", "distill_weight"): (0.1, 1.0, 10.0, 100.0),
        ("student", "Drama", "l2"): (0.03, 0.3, 3.0),
    }

    study = tmp_path / "reviewers.csv"
    study.write_text(
        "section,row,task,searched\n"
        "control_rmse,One-way control,Drama,λ: 0.01 0.1 1 10; L2: inherited\n"
        "plus_kd_rmse,TD + KD,Drama,μ: 1 10 100 1000\n"
        'learns_rmse,"TD, teacher learns",Drama,η: 1e-05 0.0001 0.001\n'
        "control_difference,TD − control,Drama,\n"
    )
    exp.start_grids.clear()
    assert start_study_from_committed(exp, study) == 3
    assert exp.start_grids == {("oneway", "Drama", "distill_weight"): (0.01, 0.1, 1.0, 10.0)}
    assert exp.family_start == {
        ("plus_kd", "Drama"): (1.0, 10.0, 100.0, 1000.0),
        ("thaw", "Drama"): (1e-05, 0.0001, 0.001),
    }
