"""What the notebooks call: pick a track, run what a table needs, write the table.

    exp = report.experiment("cpu")                       # MovieLens, the default profile
    table3 = report.table(exp, "table3")                 # runs or loads, then writes md/tex/csv
    report.show(table3)

Output folders: the default `cpu` profile writes to `tables/` and `figures/` (committed);
every other profile to `runs/<profile>/tables` and `runs/<profile>/figures`, so a smoke or
paper run never overwrites the committed tables.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from .core.store import REPO_ROOT, runs_dir
from .core.tables import build_table, expand, render_markdown, write_table

DEFAULT_PROFILE = "cpu"
PAPER_RESULTS = REPO_ROOT.parent / "shared" / "paper_results.json"


def output_dirs(profile: str) -> tuple[Path, Path]:
    if profile == DEFAULT_PROFILE:
        return REPO_ROOT / "tables", REPO_ROOT / "figures"
    return runs_dir(profile) / "tables", runs_dir(profile) / "figures"


def paper_results() -> dict:
    """The paper's published values, for side-by-side display only (env IKD_PAPER_RESULTS)."""
    path = Path(os.environ.get("IKD_PAPER_RESULTS", PAPER_RESULTS))
    return json.loads(path.read_text()) if path.exists() else {}


def experiment(profile: str = DEFAULT_PROFILE, genres=None, seeds=None, data_dir=None, progress: bool = True):
    """The MovieLens experiment for a profile, optionally on fewer genres or seeds."""
    from .movielens.experiment import MovieLensExperiment
    from .movielens.profiles import get_profile
    overrides = {k: v for k, v in (("genres", genres), ("seeds", seeds)) if v}
    return MovieLensExperiment(get_profile(profile, **overrides), data_dir=data_dir, progress=progress)


def table_variants(table_key: str, exp, variants=None) -> list[str]:
    """The variants a table needs; its TD row pools every TD variant this profile defines."""
    if variants:
        return list(variants)
    return expand(exp.tables[table_key].variants, exp.variants)


def table(exp, table_key: str, variants=None, write: bool = True):
    """Run (or load from the store) what the table needs, build it, write md/tex/csv."""
    if table_key not in exp.tables:
        raise ValueError(f"unknown table {table_key!r} for the {exp.track} track; valid: {', '.join(exp.tables)}")
    records = exp.run(table_variants(table_key, exp, variants))
    built = build_table(exp.tables[table_key], records, exp.task_names)
    if write:
        write_table(built, output_dirs(exp.profile.name)[0], paper_results())
    return built


def show(table) -> None:
    """Display a table in a notebook (plain print elsewhere)."""
    text = render_markdown(table, paper_results().get(table.spec.paper_key or ""))
    try:
        from IPython.display import Markdown, display
        display(Markdown(text))
    except ImportError:
        print(text)
