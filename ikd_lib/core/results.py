"""From run records to table cells: choices on validation, mean ± standard error on test,
paired t-tests against TD. Knows no track: the metric's direction comes from the caller.

Every choice is made on the *validation* metric and never looks at test:
  - a method's distillation weight λ (and a model's regularisation strength l2);
  - a row that lists several variants (e.g. "2-3 iterations" = K=2 or K=3);
  - the "TD" row: the TD variant with the best validation metric among those run.
"Best" is the lowest RMSE or the highest accuracy: `higher_is_better` says which.

Selection (`SELECTIONS`):
  - "per_seed" (default, nested): each seed makes its own choice on its own validation
    metric, so the spread over seeds — the ± of a cell — includes the choice itself;
  - "pooled": one choice per cell, by the mean validation metric over seeds.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from scipy import stats

SELECTIONS = ("per_seed", "pooled")


@dataclass
class Cell:
    seeds: list[int]
    records: list[dict]  # the chosen record of each seed, in seed order

    @property
    def test(self) -> list[float]:
        return [r["test_metric"] for r in self.records]

    @property
    def valid(self) -> list[float]:
        return [r["valid_metric"] for r in self.records]

    @property
    def variants(self) -> list[str]:
        return [r["variant"] for r in self.records]

    @property
    def weights(self) -> list[float]:
        return [r["distill_weight"] for r in self.records]

    @property
    def l2s(self) -> list[float]:
        return [r.get("l2", 0.0) for r in self.records]

    @property
    def variant(self) -> str:
        """The chosen variant when every seed chose the same one, else the choices joined."""
        return _one_or_all(self.variants)

    @property
    def weight(self) -> float | str:
        return _one_or_all(self.weights)

    @property
    def mean(self) -> float:
        return float(np.mean(self.test))

    @property
    def se(self) -> float:
        """Standard error of the mean over seeds (0 for a single seed)."""
        n = len(self.test)
        return float(np.std(self.test, ddof=1) / math.sqrt(n)) if n > 1 else 0.0

    @property
    def valid_mean(self) -> float:
        return float(np.mean(self.valid))

    def choice_of(self, seed: int) -> dict:
        return self.records[self.seeds.index(seed)]


def _one_or_all(values):
    return (
        values[0] if len(set(values)) == 1 else "/".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)
    )


def as_error(value: float, higher_is_better: bool) -> float:
    """A number to minimise, whatever the metric's direction."""
    return -value if higher_is_better else value


def index_records(records) -> dict[tuple[str, str], list[dict]]:
    """(variant, task) -> records."""
    table = defaultdict(list)
    for record in records:
        table[record["variant"], record["task"]].append(record)
    return table


def _tie_break(record) -> tuple:
    """Equal validation: the smaller weight, the smaller l2, the first variant by name."""
    return record["distill_weight"], record.get("l2", 0.0), record["variant"]


def choice_key(record, higher_is_better: bool = False) -> tuple:
    """What a seed's choice minimises: the validation error, then the tie-break. The one rule
    of a per-seed choice, shared by cell_for, the grid brackets (bracket.py) and the budget
    curves (budget.py): the record with the smallest key is the one chosen."""
    return (as_error(record["valid_metric"], higher_is_better),) + _tie_break(record)


def cell_for(records: list[dict], higher_is_better: bool = False, selection: str = "per_seed") -> Cell:
    """The chosen record of each seed among `records` (one or more variants, any weights)."""
    if selection not in SELECTIONS:
        raise ValueError(f"unknown selection {selection!r}; valid: {', '.join(SELECTIONS)}")
    by_seed = defaultdict(list)
    for r in records:
        by_seed[r["seed"]].append(r)
    if selection == "pooled":
        # one (variant, weight, l2) for every seed: the best mean validation over seeds
        groups = defaultdict(list)
        for r in records:
            groups[r["variant"], r["distill_weight"], r.get("l2", 0.0)].append(r)
        best = min(
            groups,
            key=lambda g: (
                as_error(np.mean([r["valid_metric"] for r in groups[g]]), higher_is_better),
                g[1],
                g[2],
                g[0],
            ),
        )
        chosen = sorted(groups[best], key=lambda r: r["seed"])
    else:
        chosen = [min(by_seed[s], key=lambda r: choice_key(r, higher_is_better)) for s in sorted(by_seed)]
    return Cell(seeds=[r["seed"] for r in chosen], records=chosen)


def best_cell(
    indexed, candidates, task: str, higher_is_better: bool = False, selection: str = "per_seed"
) -> Cell | None:
    """Among candidate variants run for `task`: per seed its best record (nested), or the
    variant whose pooled cell has the best mean validation metric (pooled)."""
    present = [v for v in candidates if indexed.get((v, task))]
    if not present:
        return None
    if selection == "per_seed":
        return cell_for([r for v in present for r in indexed[v, task]], higher_is_better, selection)
    cells = [cell_for(indexed[v, task], higher_is_better, selection) for v in present]
    return min(cells, key=lambda c: as_error(c.valid_mean, higher_is_better))


def choices_differ_between_seeds(cell: Cell) -> bool:
    """Did the seeds choose different weights, l2 or variants?"""
    return len({_tie_break(r) for r in cell.records}) > 1


def paired_p_value(a: Cell, b: Cell) -> float:
    """Two-sided paired t-test over the seeds both cells share (same seed = same data order
    and initialisation); NaN when fewer than two pairs or the two cells are identical."""
    shared = sorted(set(a.seeds) & set(b.seeds))
    if len(shared) < 2:
        return float("nan")
    return paired_p([a.choice_of(s)["test_metric"] for s in shared], [b.choice_of(s)["test_metric"] for s in shared])


def paired_p(x, y) -> float:
    """Two-sided paired t-test of two equally long lists of per-seed values; NaN when fewer than
    two pairs or the lists are identical."""
    if len(x) != len(y):
        raise ValueError(f"a paired test needs one value per seed on both sides, got {len(x)} and {len(y)}")
    if len(x) < 2 or np.allclose(x, y, rtol=0, atol=0):
        return float("nan")
    return float(stats.ttest_rel(x, y).pvalue)


def holm_adjusted(p_values: dict) -> dict:
    """Holm's step-down adjusted p-values (Holm 1979) for a family of tests: key -> p in, key ->
    adjusted p out, for every finite p (a NaN p is no test: it is neither in the family nor in
    the result). With the m finite p-values sorted, p_(1) <= ... <= p_(m):

        adjusted p_(k) = max over j <= k of min(1, (m - j + 1) * p_(j))

    so "adjusted p < α" is "p_(j) < α / (m - j + 1) for every j <= k": the step-down rule, which
    keeps the chance of any false "differs" in the family at most α. The running maximum makes
    equal p-values get equal adjusted values whatever order they are sorted in, and an adjusted
    p is never below its own p (a comparison that survives Holm also passes uncorrected)."""
    tested = sorted(((p, key) for key, p in p_values.items() if not math.isnan(p)), key=lambda pk: pk[0])
    m = len(tested)
    adjusted, running = {}, 0.0
    for j, (p, key) in enumerate(tested, start=1):
        running = max(running, min(1.0, (m - j + 1) * p))
        adjusted[key] = running
    return adjusted
