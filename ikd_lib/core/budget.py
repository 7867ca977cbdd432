"""The expected test metric of the validation-chosen configuration against the number of
configurations tried: Dodge et al., "Show Your Work: Improved Reporting of Experimental Results"
(EMNLP 2019), computed from the runs a table already has (no extra runs).

    curves = table_curves(MOVIELENS_TABLES["table3"], records, ("Drama", "Crime"))
    fig = plots.plot_budget_curves(curves, ("Drama", "Crime"), metric)

A reader sees whether a ranking holds at every budget or only once a method has tried its whole
grid (a method searched over more values can look better for that reason alone).

For one seed of one cell, N configurations (the options that seed chose among: λ, l2, variant),
each with a validation and a test value. Draw n of them uniformly with replacement and keep the
one the selection would keep (results.choice_key: the best validation, ties to the smaller λ, then
the smaller l2, then the first variant by name). Rank the N configurations by that order from the
one chosen last (i = 1) to the one chosen first (i = N, the table's choice for this seed). The kept
one is the i-th when all n draws fall among the first i but not all among the first i - 1:

    P_n(i) = (i/N)^n - ((i-1)/N)^n,        E_n[test] = sum over i of P_n(i) * test_i

n = 1 gives the mean test over the N configurations; as n grows P_n(N) -> 1 and E_n tends to the
test value of the validation-chosen configuration (what the table reports for this seed).
Ties on validation: Dodge et al.'s formula assumes distinct values; the selection's tie-break is a
strict order, so in every draw exactly one configuration is kept, the one cell_for would choose
among those drawn, and the ranking above is that order. A cell's curve is the mean of its seeds'.

Configurations are counted per row as the table chooses them: the TD row pools every TD variant
run (its N is variants x λ), and a choice a row inherits (a distilling method's l2, the Student's
per seed) is not counted again: it was the Student's search.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from .results import choice_key, index_records
from .tables import TableSpec, expand


def expected_test(records: list[dict], budgets, higher_is_better: bool = False) -> np.ndarray:
    """E_n[test] for each n in `budgets`, over one seed's configurations `records` (dicts with
    variant, distill_weight, l2, valid_metric, test_metric), by the closed form above.

    Worked example (RMSE, lower is better; in tests/test_budget.py): validation 0.90, 0.85, 0.88
    with test 0.91, 0.86, 0.87. Ranked from chosen last: i = 1 valid 0.90 (test 0.91), i = 2 valid
    0.88 (test 0.87), i = 3 valid 0.85 (test 0.86).
        n = 1: P = 1/3 each:                      (0.91 + 0.87 + 0.86) / 3        = 0.88
        n = 2: P = 1/9, 4/9 - 1/9, 1 - 4/9:       (0.91 + 3·0.87 + 5·0.86) / 9    = 7.82 / 9  = 0.868889
        n = 3: P = 1/27, 8/27 - 1/27, 1 - 8/27:   (0.91 + 7·0.87 + 19·0.86) / 27  = 23.34 / 27 = 0.864444
    and E_n -> 0.86, the test of the validation-best, as n grows."""
    if not records:
        raise ValueError("no configurations: a budget curve needs at least one run")
    configurations = [(r["variant"], r["distill_weight"], r.get("l2", 0.0)) for r in records]
    if len(set(configurations)) < len(configurations):
        repeated = sorted({c for c in configurations if configurations.count(c) > 1})
        raise ValueError(
            f"seed {records[0].get('seed')} has more than one run of {repeated} (variant, λ, l2): "
            "give one record per configuration and seed"
        )
    budgets = np.asarray(budgets, dtype=int)
    if budgets.size == 0 or budgets.min() < 1:
        raise ValueError(f"budgets are numbers of configurations tried, each at least 1, got {budgets.tolist()}")
    chosen_last_first = sorted(records, key=lambda r: choice_key(r, higher_is_better), reverse=True)
    tests = np.array([r["test_metric"] for r in chosen_last_first], dtype=float)
    n_configs = len(tests)
    rank = np.arange(1, n_configs + 1, dtype=float)
    n = budgets[:, None].astype(float)
    p = (rank / n_configs) ** n - ((rank - 1) / n_configs) ** n  # [budgets, N]; each row sums to 1
    return p @ tests


@dataclass
class BudgetCurve:
    """One cell's expected test metric against the number of configurations tried."""

    label: str  # the table row
    task: str
    seeds: list[int]
    n_configs: list[int]  # per seed: the configurations it chose among (N)
    budgets: np.ndarray  # n = 1, 2, ...
    per_seed: np.ndarray  # [seeds, budgets]: E_n[test] of each seed
    chosen_test: list[float]  # per seed: the test of the validation-chosen configuration (n -> infinity)

    @property
    def expected(self) -> np.ndarray:
        """The curve: the mean over seeds of E_n[test]."""
        return self.per_seed.mean(axis=0)


def cell_curve(
    records: list[dict], label: str = "", higher_is_better: bool = False, n_max: int | None = None
) -> BudgetCurve:
    """The budget curve of one cell: `records` are every run the cell chose among, for one task
    (any seeds). n runs from 1 to n_max (default: the largest N of its seeds)."""
    if not records:
        raise ValueError(f"{label or 'a cell'} has no runs: no budget curve")
    by_seed = defaultdict(list)
    for r in records:
        by_seed[r["seed"]].append(r)
    seeds = sorted(by_seed)
    n_configs = [len(by_seed[s]) for s in seeds]
    budgets = np.arange(1, (n_max or max(n_configs)) + 1)
    per_seed = np.stack([expected_test(by_seed[s], budgets, higher_is_better) for s in seeds])
    chosen = [min(by_seed[s], key=lambda r: choice_key(r, higher_is_better))["test_metric"] for s in seeds]
    return BudgetCurve(label, records[0]["task"], seeds, n_configs, budgets, per_seed, chosen)


def table_curves(spec: TableSpec, records, tasks, n_max: int | None = None) -> dict[tuple[str, str], BudgetCurve]:
    """(row label, task) -> the budget curve of every row the table shows that is a student (not a
    reference row such as the teacher, not a CSV-only row), from the records the table is built from
    (as in the store). A row's candidates are expanded as the table does ("td*": every TD variant run)."""
    indexed = index_records(records)
    available = {variant for variant, _ in indexed}
    curves = {}
    for task in tasks:
        for row in spec.rows:
            if row.reference or row.csv_only:
                continue
            runs = [r for v in expand(row.candidates, available) for r in indexed.get((v, task), [])]
            if runs:
                curves[row.label, task] = cell_curve(runs, row.label, spec.higher_is_better, n_max)
    return curves
