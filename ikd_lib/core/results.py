"""From run records to table cells: choices on validation, mean ± standard error on test,
paired t-tests against TD. Knows no track: the metric's direction comes from the caller.

Every choice is made on the *validation* metric (mean over seeds) and never looks at test:
  - a method's distillation weight, from its grid;
  - a row that lists several variants (e.g. "2-3 iterations" = K=2 or K=3), per task;
  - the "TD" row: the TD variant with the best validation metric among those run.
"Best" is the lowest RMSE or the highest accuracy: `higher_is_better` says which.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass
class Cell:
    variant: str                 # the variant the numbers come from
    weight: float                # its distillation weight, chosen on validation
    seeds: list[int]
    test: list[float]            # test metric per seed
    valid: list[float]           # validation metric per seed
    records: list[dict]

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


def as_error(value: float, higher_is_better: bool) -> float:
    """A number to minimise, whatever the metric's direction."""
    return -value if higher_is_better else value


def index_records(records) -> dict[tuple[str, str], list[dict]]:
    """(variant, task) -> records."""
    table = defaultdict(list)
    for record in records:
        table[record["variant"], record["task"]].append(record)
    return table


def cell_for(records: list[dict], higher_is_better: bool = False) -> Cell:
    """Pick the distillation weight with the best mean validation metric; keep its seeds."""
    by_weight = defaultdict(list)
    for r in records:
        by_weight[r["distill_weight"]].append(r)
    weight = min(by_weight, key=lambda w: (as_error(np.mean([r["valid_metric"] for r in by_weight[w]]),
                                                    higher_is_better), w))
    chosen = sorted(by_weight[weight], key=lambda r: r["seed"])
    return Cell(variant=chosen[0]["variant"], weight=weight, seeds=[r["seed"] for r in chosen],
                test=[r["test_metric"] for r in chosen], valid=[r["valid_metric"] for r in chosen],
                records=chosen)


def best_cell(indexed, candidates, task: str, higher_is_better: bool = False) -> Cell | None:
    """Among candidate variants that were run for `task`, the one with the best validation metric."""
    cells = [cell_for(indexed[v, task], higher_is_better) for v in candidates if indexed.get((v, task))]
    return min(cells, key=lambda c: as_error(c.valid_mean, higher_is_better)) if cells else None


def paired_p_value(a: Cell, b: Cell) -> float:
    """Two-sided paired t-test over the seeds both cells share (same seed = same data order
    and initialisation); NaN when fewer than two pairs or the two cells are identical."""
    shared = sorted(set(a.seeds) & set(b.seeds))
    if len(shared) < 2:
        return float("nan")
    x = [a.test[a.seeds.index(s)] for s in shared]
    y = [b.test[b.seeds.index(s)] for s in shared]
    if np.allclose(x, y, rtol=0, atol=0):
        return float("nan")
    return float(stats.ttest_rel(x, y).pvalue)
