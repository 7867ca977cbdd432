"""What the notebooks call: pick a track, run what a table needs, write the table.

    exp = report.experiment("cpu")                       # MovieLens, the default profile
    table3 = report.table(exp, "table3")                 # runs or loads, then writes md/tex/csv
    report.show(table3)

Output folders: the default `cpu` profile writes to `tables/` and `figures/` (committed);
every other profile to `runs/<profile>/tables` and `runs/<profile>/figures`, so a smoke or
paper run never overwrites the committed tables.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path

from .core.store import REPO_ROOT, runs_dir
from .core.tables import build_table, expand, render_markdown, write_table

DEFAULT_PROFILE = "cpu"
COMMITTED_PROFILE = DEFAULT_PROFILE  # the profile whose tables and figures are committed
# The paper's published values, installed with the package (package-data in pyproject.toml)
PAPER_RESULTS = Path(__file__).resolve().parent / "paper_results.json"


@dataclass(frozen=True)
class Track:
    """How to build a track's experiment and which tables it owns (imported lazily)."""

    name: str
    module: str  # "ikd_lib.movielens"
    store_subdir: str  # where its results store lives inside runs/<profile>/

    def experiment(self, profile: str = DEFAULT_PROFILE, tasks=None, seeds=None, **kwargs):
        experiment_module = importlib.import_module(f"{self.module}.experiment")
        return experiment_module.make_experiment(profile, tasks=tasks, seeds=seeds, **kwargs)

    def tables(self) -> dict:
        return importlib.import_module(f"{self.module}.tables").TABLES


TRACKS = {
    "movielens": Track("movielens", "ikd_lib.movielens", ""),
    "vision": Track("vision", "ikd_lib.vision", "vision"),
}


def track_of(table_key: str) -> Track:
    for track in TRACKS.values():
        if table_key in track.tables():
            return track
    valid = [k for t in TRACKS.values() for k in t.tables()]
    raise ValueError(f"unknown table {table_key!r}; valid: {', '.join(valid)}")


def output_dirs(profile: str) -> tuple[Path, Path]:
    if profile == DEFAULT_PROFILE:
        return REPO_ROOT / "tables", REPO_ROOT / "figures"
    return runs_dir(profile) / "tables", runs_dir(profile) / "figures"


def paper_results_path() -> Path:
    """The file of published values read: env IKD_PAPER_RESULTS, else the packaged one."""
    return Path(os.environ.get("IKD_PAPER_RESULTS") or PAPER_RESULTS)


def paper_results() -> dict:
    """The paper's published values, for side-by-side display only. A missing or malformed
    file is an error that names it (core/paper.py, read_paper_values)."""
    from .core.paper import read_paper_values

    return read_paper_values(paper_results_path())


def experiment(profile: str = DEFAULT_PROFILE, track: str = "movielens", tasks=None, seeds=None, genres=None, **kwargs):
    """A track's experiment for a profile, optionally on fewer tasks (genres, datasets) or seeds."""
    from .core.config import check_choice

    check_choice("track", track, tuple(TRACKS))
    return TRACKS[track].experiment(profile, tasks=tasks or genres, seeds=seeds, **kwargs)


def table_variants(table_key: str, exp, variants=None) -> list[str]:
    """The variants a table needs; its TD row pools every TD variant this profile defines."""
    if variants:
        return list(variants)
    return expand(exp.tables[table_key].variants, exp.variants)


def table(exp, table_key: str, variants=None, write: bool = True):
    """Run (or load from the store) what the table needs, build it, write md/tex/csv."""
    if table_key not in exp.tables:
        raise ValueError(f"unknown table {table_key!r} for the {exp.track} track; valid: {', '.join(exp.tables)}")
    records = exp.run(table_variants(table_key, exp, variants), desc=table_key)
    built = build_table(exp.tables[table_key], records, exp.task_names)
    where = ""
    if write:
        where = f" -> {write_table(built, output_dirs(exp.profile.name)[0], paper_results())[0]}"
    run = exp.last_run
    print(
        f"{table_key}: {len(built.cells)} cells from {len(records)} runs; {run['computed']} of {run['stacks']} "
        f"stacks computed now, in {run['wall_s']:.0f} s{where}",
        flush=True,
    )
    return built


def describe_vision(exp) -> None:
    """Print what every ViT notebook states before its tables: the profile, the teacher and
    each dataset's linear probe (the Teacher row of Table 4)."""
    print(f"profile {exp.profile.name}: datasets {exp.profile.datasets}, seeds {exp.profile.seeds}")
    summary = exp.teacher_summary
    print(
        f"teacher {summary['config_hash']}: "
        + ", ".join(
            f"{k} {v}" for k, v in summary.items() if k in ("parameters", "n_images", "n_classes", "epochs", "source")
        )
    )
    for name in exp.profile.datasets:
        probe = exp.probe(name)
        print(
            f"linear probe on {name}: validation accuracy {probe['accuracy']['valid']:.4f}, "
            f"test {probe['accuracy']['test']:.4f} (L2 {probe['info']['l2']:g}, fitted on the training split only)"
        )


def show_selection(exp, table_key: str, built, task: str | None = None) -> None:
    """Display how each seed chose in one column of a built table (core/plots.plot_selection):
    the validation metric over every searched grid with each seed's choice, and the training of
    the chosen runs. `task`: a column (default: the first)."""
    import io

    from .core.config import check_choice
    from .core.plots import plot_selection

    task = task or exp.task_names[0]
    check_choice("task", task, exp.task_names)
    records = exp.run(table_variants(table_key, exp), desc=table_key)  # from the store
    metric = importlib.import_module(f"{TRACKS[exp.track].module}.figures").FIGURE_METRIC
    fig = plot_selection(built, records, task, metric, exp.store.root)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    try:
        from IPython.display import Image, display

        display(Image(data=buffer.getvalue()))
    except ImportError:
        print(f"(the selection figure of {table_key} · {task}: {len(buffer.getvalue()):,} bytes of PNG)")


def show(table) -> None:
    """Display a table in a notebook (plain print elsewhere)."""
    text = render_markdown(table, paper_results().get(table.spec.paper_key or ""))
    try:
        from IPython.display import Markdown, display

        display(Markdown(text))
    except ImportError:
        print(text)


def paper_tables(profile: str = DEFAULT_PROFILE) -> dict:
    """Every table with published values (5-9) as written to the profile's table folder (for
    `cpu`, the committed tables/): read back from its CSV, so the comparison agrees with the
    tables beside it whichever track ran last. A table without a CSV gives none ("not run");
    nothing is computed."""
    from .core.tables import read_csv

    tables_dir = output_dirs(profile)[0]
    tables = {}
    for track in TRACKS.values():
        for key, spec in track.tables().items():
            path = tables_dir / f"{key}.csv"
            if spec.paper_key and path.exists():
                tables[key] = read_csv(spec, path)
    return tables


def write_paper_vs_ours(profile: str = DEFAULT_PROFILE) -> Path:
    """tables/paper_vs_ours.md (or runs/<profile>/tables/…) from the table CSVs beside it and
    the paper's published values."""
    from .core.paper import write_paper_vs_ours as write

    return write(paper_tables(profile), paper_results(), output_dirs(profile)[0])
