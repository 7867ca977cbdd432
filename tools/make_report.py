"""`make report`: one static HTML page with every table and figure, viewable without Jupyter.

    python tools/make_report.py runs/cpu/notebooks runs/cpu/report.html

The executed notebooks of `make tables` (in their order) are joined into one notebook, the
code cells hidden, and converted with nbconvert.
"""

import sys
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter

ORDER = (
    "table3_movielens",
    "table5_iterations",
    "table7_consistency",
    "table8_noise_schedule",
    "movielens_figures",
    "table4_vit",
    "table6_vit_iterations",
    "table9_vit_noise",
    "vision_figures",
    "paper_vs_ours",
)


def main(folder: str, out: str) -> None:
    folder = Path(folder)
    found = [folder / f"{name}.ipynb" for name in ORDER if (folder / f"{name}.ipynb").exists()]
    if not found:
        sys.exit(f"no executed notebooks in {folder}: run `make tables` first")
    merged = nbformat.v4.new_notebook()
    for path in found:
        merged.cells += nbformat.read(path, as_version=4).cells
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(merged)
    Path(out).write_text(body)
    print(f"{out}: {len(found)} notebooks ({', '.join(p.stem for p in found)})")


if __name__ == "__main__":
    main(*sys.argv[1:3])
