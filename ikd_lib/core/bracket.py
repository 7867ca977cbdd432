"""Does a searched grid bracket its per-seed choices? The rule that says whether a
hyperparameter's grid must grow, and a driver that grows it until it brackets. Pure functions:
no torch, no store; the caller runs whatever `search` asks to evaluate.

    b = bracket((1.0, 10.0, 100.0), valid, bounds=(1e-5, 1e6), step=10)
    b.next_grid, b.lower.why, b.upper.why, b.counts()

A grid is a strictly increasing tuple of positive values, spaced by a factor: growing a side
divides its smallest value (lower side) or multiplies its largest (upper side) by `step`, never
past the declared bound of that side; the bound itself is a valid grid value. Bounds are
positive: "no distillation" is a small positive λ, since division never reaches 0 (the profiles
refuse 0 in a grid too).

Each seed chooses on its own validation metric by the rule of results.cell_for (results.choice_key:
the best validation, ties to the smaller value). A seed's choice is, in this order of precedence:
  interior         not at an edge: a smaller and a larger value were searched, none better;
  at a bound       at an edge that is the declared bound of its side: nothing more to search;
  tied             at an edge whose validation equals exactly (==) that of its inner neighbour:
                   a flat stretch (e.g. every run restored its starting model) where the tie-break
                   took the smaller value; a tie, not a preference for the edge: it grows nothing;
  at an open edge  otherwise: the grid grows by one step on that side.
A one-value grid has both edges at that value: a choice there is at an open edge when either side
is open. The grid to search next grows on each side where any seed's choice is at an open edge,
and equals the grid searched when none is (the grid brackets its choices).

A joint grid, e.g. (λ, l2), is bracketed one axis at a time: axis_validation gives each seed's
validation along one axis with the other fixed at that seed's own choice.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .results import cell_for, choice_key

INTERIOR, AT_BOUND, TIED, OPEN_EDGE = "interior", "at a bound", "tied", "at an open edge"
KINDS = (INTERIOR, AT_BOUND, TIED, OPEN_EDGE)
AXES = ("distill_weight", "l2")  # the hyperparameters a record carries (results.py's names)

Validation = Mapping[int, Mapping[float, float]]  # seed -> grid value -> validation metric


# ---------------------------------------------------------------- the searched grid
def check_search(grid, bounds, step) -> None:
    """Refuse a grid, bounds or step that no search could grow, naming the fix."""
    grid = tuple(grid)
    if not grid:
        raise ValueError("an empty grid searches nothing: give at least one value")
    if any(not (math.isfinite(v) and v > 0) for v in grid):
        raise ValueError(
            f"grid values must be positive and finite, got {grid}: the grid is spaced by a factor, "
            "so use a small positive value (e.g. 1e-5) for 'almost none', not 0"
        )
    if any(a >= b for a, b in zip(grid, grid[1:])):
        raise ValueError(f"the grid must be increasing without repeats, got {grid}: pass tuple(sorted(set(grid)))")
    lo, hi = bounds
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo <= hi):
        raise ValueError(f"bounds must be (lo, hi) with 0 < lo <= hi, both finite, got {tuple(bounds)}")
    if grid[0] < lo:
        raise ValueError(
            f"the lower bound {lo:g} is inside the grid {grid} (its smallest value is {grid[0]:g}): "
            f"lower the bound to at most {grid[0]:g} or drop the grid values below {lo:g}"
        )
    if grid[-1] > hi:
        raise ValueError(
            f"the upper bound {hi:g} is inside the grid {grid} (its largest value is {grid[-1]:g}): "
            f"raise the bound to at least {grid[-1]:g} or drop the grid values above {hi:g}"
        )
    if not (math.isfinite(step) and step > 1):
        raise ValueError(
            f"step must be a factor above 1, got {step}: e.g. 10, so that the next value on a side "
            "is its edge / 10 or edge * 10"
        )


def next_value(edge: float, side: str, step: float, bound: float) -> float:
    """The value one step beyond `edge` on `side`, not past `bound`. Rounded to 12 significant
    digits: 1e-5 / 10 is 1.0000000000000002e-06 in binary, and a grown value should be the
    number a person would type in a profile, since it becomes part of a run's configuration."""
    value = float(f"{(edge / step if side == 'lower' else edge * step):.12g}")
    return max(value, bound) if side == "lower" else min(value, bound)


# ---------------------------------------------------------------- one grid: classify the choices
@dataclass(frozen=True)
class Side:
    """One side of a searched grid: its edge, its bound, whose choices sit at the edge and why
    the side grows or not."""

    name: str  # "lower" or "upper"
    edge: float  # the grid's smallest (lower) or largest (upper) value
    inner: float | None  # the edge's neighbour inside the grid (None for a one-value grid)
    bound: float  # the declared bound of this side
    seeds_open: tuple[int, ...]  # seeds whose choice is the edge, which is not the bound, untied
    seeds_tied: tuple[int, ...]  # seeds whose choice is the edge, tied with `inner`
    seeds_at_bound: tuple[int, ...]  # seeds whose choice is the edge, which is the bound
    grown_to: float | None  # the value the next grid adds on this side; None: not grown

    @property
    def why(self) -> str:
        """One sentence: whether this side grows, and why."""
        tied = f"{len(self.seeds_tied)} seed(s) tied with {self.inner:g} on a flat stretch" if self.seeds_tied else ""
        if self.grown_to is not None:
            return (
                f"{self.name} side grown to {self.grown_to:g}: {len(self.seeds_open)} seed(s) chose the open "
                f"edge {self.edge:g}" + (f" ({tied}: not counted)" if tied else "")
            )
        if self.seeds_at_bound:
            return (
                f"{self.name} side at its bound {self.bound:g}: {len(self.seeds_at_bound)} seed(s) chose it, "
                "nothing more to search"
            )
        if tied:
            return (
                f"{self.name} side not grown: {tied} at the edge {self.edge:g} "
                "(a tie broken by the smaller value, not a preference)"
            )
        return f"{self.name} side brackets: no seed chose the edge {self.edge:g}"


@dataclass(frozen=True)
class Bracket:
    """What one searched grid says about its per-seed choices, and the grid to search next."""

    grid: tuple[float, ...]  # the grid searched
    next_grid: tuple[float, ...]  # grown by one step on each side with a choice at an open edge
    choices: dict[int, float]  # seed -> its chosen value
    kinds: dict[int, str]  # seed -> INTERIOR, AT_BOUND, TIED or OPEN_EDGE
    lower: Side
    upper: Side

    def _count(self, kind: str) -> int:
        return sum(k == kind for k in self.kinds.values())

    @property
    def choices_interior(self) -> int:
        return self._count(INTERIOR)

    @property
    def choices_at_bound(self) -> int:
        return self._count(AT_BOUND)

    @property
    def choices_tied(self) -> int:
        return self._count(TIED)

    @property
    def choices_at_open_edge(self) -> int:
        return self._count(OPEN_EDGE)

    @property
    def bracketed(self) -> bool:
        """No choice at an open edge: the next grid is this one."""
        return self.choices_at_open_edge == 0

    @property
    def new_values(self) -> tuple[float, ...]:
        """The values the next grid adds (none when bracketed)."""
        return tuple(v for v in self.next_grid if v not in self.grid)

    def counts(self) -> dict[str, int]:
        """The four counts by their CSV names; they add up to the number of seeds."""
        return {
            "choices_interior": self.choices_interior,
            "choices_at_bound": self.choices_at_bound,
            "choices_tied": self.choices_tied,
            "choices_at_open_edge": self.choices_at_open_edge,
        }


def choose(valid_of_seed: Mapping[float, float], higher_is_better: bool = False) -> float:
    """The value a seed chooses: results.choice_key's rule (cell_for's), here on one axis, where
    its tie-break is the smaller value."""
    records = [
        {"valid_metric": v, "distill_weight": value, "l2": 0.0, "variant": ""} for value, v in valid_of_seed.items()
    ]
    return min(records, key=lambda r: choice_key(r, higher_is_better))["distill_weight"]


def _check_validation(grid: tuple[float, ...], valid: Validation) -> None:
    if not valid:
        raise ValueError("no seed's validation values were given: nothing to choose from")
    for seed, line in valid.items():
        missing = [v for v in grid if v not in line]
        if missing:
            raise ValueError(
                f"seed {seed} has no validation value at {', '.join(f'{v:g}' for v in missing)} "
                f"(the grid is {grid}): evaluate every grid value for every seed first"
            )
        extra = [v for v in line if v not in grid]
        if extra:
            raise ValueError(
                f"seed {seed} has validation values off the grid {grid}, at "
                f"{', '.join(f'{v:g}' for v in sorted(extra))}: pass the grid that was searched"
            )
        if any(math.isnan(line[v]) for v in grid):
            raise ValueError(f"seed {seed} has a NaN validation value on the grid {grid}: a choice needs numbers")


def bracket(
    grid, valid: Validation, bounds: tuple[float, float], step: float, higher_is_better: bool = False
) -> Bracket:
    """Classify each seed's choice on `grid` (see the module docstring) and give the grid to
    search next. valid: seed -> {grid value: validation metric}, every grid value for every seed."""
    grid = tuple(grid)
    check_search(grid, bounds, step)
    _check_validation(grid, valid)
    choices = {seed: choose(line, higher_is_better) for seed, line in valid.items()}
    sides = {}
    for name, edge_index, inner_index, bound in (("lower", 0, 1, bounds[0]), ("upper", -1, -2, bounds[1])):
        edge = grid[edge_index]
        inner = grid[inner_index] if len(grid) > 1 else None
        at_edge = tuple(seed for seed, c in choices.items() if c == edge)
        if edge == bound:
            at_bound, tied, open_ = at_edge, (), ()
        else:
            at_bound = ()
            tied = tuple(s for s in at_edge if inner is not None and valid[s][edge] == valid[s][inner])
            open_ = tuple(s for s in at_edge if s not in tied)
        sides[name] = Side(
            name, edge, inner, bound, open_, tied, at_bound, next_value(edge, name, step, bound) if open_ else None
        )
    lower, upper = sides["lower"], sides["upper"]
    next_grid = (
        ((lower.grown_to,) if lower.grown_to is not None else ())
        + grid
        + ((upper.grown_to,) if upper.grown_to is not None else ())
    )
    kinds = {seed: _kind(seed, lower, upper) for seed in choices}
    return Bracket(grid, next_grid, choices, kinds, lower, upper)


def _kind(seed: int, *sides: Side) -> str:
    """A seed's kind from the sides it sits on (two for a one-value grid): open wins, since one
    open side is enough to grow; then at a bound, then tied; on no side, interior."""
    for kind, field in ((OPEN_EDGE, "seeds_open"), (AT_BOUND, "seeds_at_bound"), (TIED, "seeds_tied")):
        if any(seed in getattr(side, field) for side in sides):
            return kind
    return INTERIOR


# ---------------------------------------------------------------- a joint grid, one axis at a time
def axis_validation(records, axis: str, higher_is_better: bool = False) -> dict[int, dict[float, float]]:
    """Per seed, the validation metric along one hyperparameter (`axis`: "distill_weight" or
    "l2") with everything else (the other hyperparameter, the variant) fixed at that seed's own
    choice, which is cell_for's over all of the seed's records. records: one cell's records, as
    in the store. Bracketing each axis this way checks the joint choice: on the line through it,
    no searched value was better (ties to the smaller value, as cell_for breaks them).
    Bracket only an axis the cell searched: an inherited value (a distilling method's l2, the
    Student's per seed) gives each seed a one-value line, which bracket() would read as an open
    edge (or refuse as off the grid where the seeds' values differ); it is the Student's search
    that brackets it."""
    if axis not in AXES:
        raise ValueError(f"unknown axis {axis!r}; valid: {', '.join(AXES)}")
    fixed_keys = ("variant",) + tuple(a for a in AXES if a != axis)
    out = {}
    for chosen in cell_for(records, higher_is_better).records:
        line = {}
        for r in records:
            if r["seed"] == chosen["seed"] and all(r.get(k, 0.0) == chosen.get(k, 0.0) for k in fixed_keys):
                value = r.get(axis, 0.0)
                if value in line:
                    raise ValueError(
                        f"seed {r['seed']} has two records at {axis} = {value:g} with the same "
                        f"{', '.join(fixed_keys)}: one record per configuration and seed"
                    )
                line[value] = r["valid_metric"]
        out[chosen["seed"]] = line
    return out


# ---------------------------------------------------------------- the driver
@dataclass(frozen=True)
class Search:
    """Where a grid search that grows until it brackets ended."""

    grid: tuple[float, ...]  # the final grid: every value evaluated for every seed
    valid: dict[int, dict[float, float]]  # seed -> value -> validation metric over the final grid
    last: Bracket  # the final grid's classification (bracketed)
    evaluations: int  # calls of evaluate: the first grid, then one per growth
    stopped_at_bound: tuple[str, ...]  # the sides ("lower", "upper") whose bound some seed chose
    message: str

    def counts(self) -> dict[str, int]:
        return self.last.counts()


def search(
    grid,
    evaluate: Callable[[tuple[float, ...]], Validation],
    bounds: tuple[float, float],
    step: float,
    higher_is_better: bool = False,
) -> Search:
    """Evaluate `grid`, then grow it one step on each side where a seed's choice is at an open
    edge, evaluating only the new values, until no choice is: every choice is interior, tied, or
    at a declared bound. evaluate(values) -> seed -> {value: validation metric} for exactly those
    values and the same seeds every time. Ends, since each growth moves an edge towards its bound
    and a bound, once reached, is never open."""
    grid = tuple(grid)
    check_search(grid, bounds, step)
    valid = _evaluated(evaluate, grid, {})
    evaluations = 1
    while not (current := bracket(grid, valid, bounds, step, higher_is_better)).bracketed:
        valid = _evaluated(evaluate, current.new_values, valid)
        evaluations += 1
        grid = current.next_grid
    at_bound = tuple(side.name for side in (current.lower, current.upper) if side.seeds_at_bound)
    return Search(grid, valid, current, evaluations, at_bound, _message(current, evaluations))


def _evaluated(evaluate, values: tuple[float, ...], valid: dict) -> dict:
    """`valid` with evaluate(values) merged in, after checking it answered what was asked."""
    new = evaluate(values)
    if valid and set(new) != set(valid):
        raise ValueError(
            f"evaluate returned seeds {sorted(new)} for {values}, but {sorted(valid)} before: "
            "every call must answer for the same seeds"
        )
    merged = {}
    for seed, line in new.items():
        if set(line) != set(values):
            raise ValueError(
                f"evaluate({values}) returned seed {seed}'s values at {tuple(sorted(line))}: "
                "it must return exactly the values asked for"
            )
        merged[seed] = {**valid.get(seed, {}), **line}
    return merged


def _message(last: Bracket, evaluations: int) -> str:
    counts = ", ".join(
        f"{n} {kind}"
        for kind, n in zip(
            KINDS, (last.choices_interior, last.choices_at_bound, last.choices_tied, last.choices_at_open_edge)
        )
        if n
    )
    text = f"grid {' '.join(f'{v:g}' for v in last.grid)} after {evaluations} evaluation(s); choices: {counts}"
    bounds = [side for side in (last.lower, last.upper) if side.seeds_at_bound]
    if bounds:
        text += "; stopped at a bound: " + "; ".join(side.why for side in bounds)
    return text
