"""`make site`: the companion as a static HTML site (Jupyter Book 1), built offline.

    python tools/make_site.py --profile smoke        # -> runs/smoke/site/index.html

The pages are staged in runs/<profile>/site_build/src in the repository's own layout, so every
relative link of the README, the docs and the notebooks (../docs/method.md) resolves as it does
in a clone: README.md (the front page), docs/*.md, each committed table (tables/<name>.md, its
caption included, with its .csv and .tex to download), figures/ (one page, every PNG), and the
notebooks executed by `make tables` (runs/<profile>/notebooks/<name>.ipynb). A notebook not
executed at this profile is shown without outputs, with a note that says how to get them.
Nothing is executed here. Afterwards the built pages are checked: no script, stylesheet or font
from another host (the site is read offline), and every page carries the revision and profile.
"""

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "site"  # _config.yml and _toc.yml, committed
# a reference that makes the browser fetch from another host when the page is shown
REMOTE = re.compile(
    r"""<script[^>]*\bsrc=["']?(?:https?:)?//|<link[^>]*\bhref=["']?(?:https?:)?//|"""
    r"""@import\s+(?:url\()?["']?(?:https?:)?//|url\(["']?(?:https?:)?//""",
    re.I,
)


def git_revision() -> str:
    """Short commit of the checkout, '+dirty' when tracked files have uncommitted changes."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short=10", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return rev + ("+dirty" if dirty else "")


def toc_notebooks() -> list[str]:
    """The notebook names the table of contents lists (notebooks/<name>)."""
    return re.findall(r"file:\s*notebooks/(\S+)", (SITE / "_toc.yml").read_text())


def note_cell(text: str):
    return nbformat.v4.new_markdown_cell(f"```{{note}}\n{text}\n```")


def stage_notebook(name: str, profile: str, executed_dir: Path, out: Path) -> bool:
    """The executed notebook when there is one, else the committed one with a note; True if executed."""
    executed = executed_dir / f"{name}.ipynb"
    nb = nbformat.read(executed if executed.exists() else ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    if executed.exists():
        by = "make site" if name == "workshop" else "make tables"  # make tables runs no workshop
        where = (
            f"by `{by} PROFILE={profile}` (`runs/{profile}/notebooks/{name}.ipynb`)"
            if executed_dir.resolve() == (ROOT / "runs" / profile / "notebooks").resolve()
            else f"(`{executed}`)"
        )
        note = f"Executed at profile `{profile}` {where}; the source is `notebooks/{name}.py`."
    else:
        note = (
            f"Not executed at profile `{profile}` in this build, so the cells are shown without outputs: "
            f"`make tables PROFILE={profile}` executes it, then `make site PROFILE={profile}` shows its outputs."
        )
    nb.cells.insert(1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0, note_cell(note))
    nbformat.write(nb, out / "notebooks" / f"{name}.ipynb")
    return executed.exists()


def stage_tables(out: Path) -> None:
    """Each tables/<name>.md as a page (its own heading and caption), with its other formats to download."""
    (out / "tables").mkdir()
    for md in sorted((ROOT / "tables").glob("*.md")):
        text = md.read_text()
        others = [md.with_suffix(ext) for ext in (".csv", ".tex") if md.with_suffix(ext).exists()]
        for other in others:
            shutil.copy2(other, out / "tables" / other.name)
        if others:
            links = " · ".join(f"[{p.name}]({p.name})" for p in others)
            text = text.rstrip("\n") + f"\n\nThe same table as {links} (download).\n"
        (out / "tables" / md.name).write_text(text)


def stage_figures(out: Path) -> None:
    """figures.md: every committed figure (the PNG shown, the PDF to download)."""
    shutil.copytree(ROOT / "figures", out / "figures")
    lines = [
        "# Figures",
        "",
        "Every figure in the repository's `figures/` (made at profile `cpu` by `make tables`: "
        "the figure notebooks and the reviewers' study).",
        "",
    ]
    for png in sorted((ROOT / "figures").glob("*.png")):
        lines += [f"## {png.stem}", "", f"![{png.stem}](figures/{png.name})", ""]
        if png.with_suffix(".pdf").exists():
            lines += [f"As PDF: [{png.stem}.pdf](figures/{png.stem}.pdf).", ""]
    (out / "figures.md").write_text("\n".join(lines))


def stage(profile: str, executed_dir: Path, out: Path) -> dict:
    """Lay out the pages in out/ as the repository lays them out; returns what went in."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copy2(ROOT / "README.md", out / "README.md")
    (out / "docs").mkdir()
    for md in sorted((ROOT / "docs").glob("*.md")):
        # a Mermaid diagram renders on the repository's web page; the site would need Mermaid's
        # script (fetched, or a package to pin) to draw it, so it shows the diagram's text instead
        (out / "docs" / md.name).write_text(md.read_text().replace("```mermaid\n", "```text\n"))
    stage_tables(out)
    stage_figures(out)
    (out / "notebooks").mkdir()
    executed = [name for name in toc_notebooks() if stage_notebook(name, profile, executed_dir, out)]
    revision = git_revision()
    folder = executed_dir.resolve()
    folder = folder.relative_to(ROOT).as_posix() if folder.is_relative_to(ROOT) else folder.as_posix()
    notebooks = (
        f"{len(executed)} of {len(toc_notebooks())} executed, {folder}"
        if executed
        else f"none executed: run make tables PROFILE={profile}"
    )
    config = (SITE / "_config.yml").read_text()
    config = config.replace("{revision}", revision).replace("{profile}", profile).replace("{notebooks}", notebooks)
    (out / "_config.yml").write_text(config)
    shutil.copy2(SITE / "_toc.yml", out / "_toc.yml")
    return {"revision": revision, "executed": executed}


def remote_references(html_dir: Path) -> list[str]:
    """Every reference in the built pages and stylesheets that a browser would fetch from another host."""
    found = []
    for path in sorted([*html_dir.rglob("*.html"), *html_dir.rglob("*.css")]):
        for match in REMOTE.finditer(path.read_text(errors="replace")):
            found.append(f"{path.relative_to(html_dir)}: {match.group(0)}")
    return found


def pages(html_dir: Path) -> list[str]:
    """The site's pages (relative paths), without the theme's templates and the redirect."""
    return sorted(
        p.relative_to(html_dir).as_posix()
        for p in html_dir.rglob("*.html")
        if not p.relative_to(html_dir).parts[0].startswith("_") and p.name != "index.html"
    )


def build(profile: str, executed_dir: Path, out_dir: Path) -> dict:
    """Stage, build with Jupyter Book (warnings are errors: a broken link fails), check; returns a summary."""
    from jupyter_book.sphinx import build_sphinx  # here: importing it takes seconds

    work = out_dir.parent / "site_build"
    src = work / "src"
    staged = stage(profile, executed_dir, src)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    status = build_sphinx(
        src,
        out_dir,
        noconfig=True,
        path_config=str(src / "_config.yml"),
        doctreedir=work / "doctrees",
        freshenv=True,
        warningiserror=True,
        keep_going=True,
        quiet=True,
        confoverrides={"latex_individualpages": False},
    )  # its CLI always sets it
    if status != 0:
        raise SystemExit(f"the site did not build cleanly (Sphinx status {status}): see the warnings above")
    # the front page under the name a browser and a web server look for (as `jupyter-book build` writes it)
    (out_dir / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=README.html" />\n')
    remote = remote_references(out_dir)
    if remote:
        raise SystemExit("the site would fetch from another host:\n" + "\n".join(remote))
    unmarked = [page for page in pages(out_dir) if staged["revision"] not in (out_dir / page).read_text()]
    if unmarked:
        raise SystemExit(f"pages without the revision {staged['revision']}: {unmarked}")
    return staged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--notebooks", help="folder of executed notebooks (default runs/<profile>/notebooks)")
    parser.add_argument("--out", help="the site's folder (default runs/<profile>/site)")
    args = parser.parse_args()
    executed_dir = Path(args.notebooks or ROOT / "runs" / args.profile / "notebooks")
    out_dir = Path(args.out or ROOT / "runs" / args.profile / "site").resolve()
    staged = build(args.profile, executed_dir, out_dir)
    missing = sorted(set(toc_notebooks()) - set(staged["executed"]))
    print(
        f"{out_dir / 'index.html'}: git {staged['revision']}, profile {args.profile}, "
        f"{len(staged['executed'])} executed notebooks"
        + (f" (without outputs: {', '.join(missing)})" if missing else "")
    )


if __name__ == "__main__":
    sys.exit(main())
