"""`make site` (tools/make_site.py): the site builds offline from the committed tables and figures
and the notebooks executed at a profile, and every page a reader can reach is there.

Built once, as `make site` runs it, with one notebook executed at the smoke profile
(paper_vs_ours, which reads the store's tables and computes nothing) and the others without
outputs; then, in the built HTML: a page for every doc, every committed table (rendered, with its
caption) and every notebook; every committed figure on the figures page; every internal link and
anchor resolving to a file of the site; the revision and profile on every page; no script,
stylesheet, font or import from another host. What the pages look like in a browser:
tests/test_browser.py.
"""

import re
import subprocess
import sys
import time
from html import unescape
from pathlib import Path

import nbformat
import papermill as pm
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import make_site  # noqa: E402  (tools/ is no package)


@pytest.fixture(scope="module")
def site(tmp_path_factory, monkeypatch_module):
    tmp = tmp_path_factory.mktemp("site")
    executed = tmp / "notebooks"
    executed.mkdir()
    monkeypatch_module.setenv("IKD_RUNS_DIR", str(tmp / "runs"))
    pm.execute_notebook(
        str(ROOT / "notebooks" / "paper_vs_ours.ipynb"),
        str(executed / "paper_vs_ours.ipynb"),
        parameters={"profile": "smoke"},
        cwd=str(ROOT / "notebooks"),
        progress_bar=False,
    )
    out = tmp / "site"
    assert "1 executed notebooks" in build_site(executed, out)
    return out


def build_site(executed, out) -> str:
    """`make site` at the smoke profile from the executed notebooks in `executed`, into `out`, as
    the Makefile runs it (a process of its own: Sphinx patches docutils' globals); its output."""
    start = time.monotonic()
    built = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "make_site.py"),
            "--profile",
            "smoke",
            "--notebooks",
            str(executed),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    print(f"site built in {time.monotonic() - start:.0f} s: {built.stdout.strip()}")
    return built.stdout


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def text_of(html: str) -> str:
    """A page's text: tags dropped, entities decoded, whitespace made single spaces."""
    text = unescape(re.sub(r"<[^>]+>", "", html)).replace("\u2019", "'")  # Sphinx's smart quotes
    return " ".join(text.split())


def internal_links(html: str) -> list[str]:
    """Every href and src of a page that stays inside the site."""
    return [t for t in re.findall(r"""(?:href|src)=["']([^"']+)["']""", html) if not re.match(r"[a-z]+:|//|#|data:", t)]


def test_every_doc_table_figure_and_notebook_has_its_page(site):
    pages = make_site.pages(site)
    assert "README.html" in pages and (site / "index.html").exists()
    for md in (ROOT / "docs").glob("*.md"):
        assert f"docs/{md.stem}.html" in pages, md.name
    for md in (ROOT / "tables").glob("*.md"):
        html = (site / "tables" / f"{md.stem}.html").read_text()
        assert "<table" in html, f"{md.name}: no rendered table"
        caption = " ".join(re.sub(r"\*\*|`", "", md.read_text().split("\n\n")[1]).split()[:6])  # under the title
        assert caption in text_of(html), f"{md.name}: no caption ({caption})"
    figures = (site / "figures.html").read_text()
    for png in (ROOT / "figures").glob("*.png"):
        assert re.search(rf'<img[^>]*src="_images/{re.escape(png.name)}"', figures), png.name
        assert (site / "_images" / png.name).exists()
    assert sorted(make_site.toc_notebooks()) == sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb")), (
        "site/_toc.yml lists every notebook"
    )
    for name in make_site.toc_notebooks():
        assert f"notebooks/{name}.html" in pages, name
    executed = (site / "notebooks" / "paper_vs_ours.html").read_text()
    assert "Executed at profile" in executed and "<table" in executed
    assert "Not executed at profile" in (site / "notebooks" / "workshop.html").read_text()


def test_every_internal_link_and_anchor_resolves(site):
    broken = []
    for page in make_site.pages(site):
        html = (site / page).read_text()
        for link in internal_links(html):
            target, _, anchor = link.split("?")[0].partition("#")
            path = (site / page).parent / target if target else site / page
            if not path.exists():
                broken.append(f"{page}: {link}")
            elif anchor and path.suffix == ".html" and f'id="{anchor}"' not in path.read_text():
                broken.append(f"{page}: {link} (no such anchor)")
    assert not broken, "\n".join(broken)
    # the links the issue found broken elsewhere, and the README's into docs/ and tables/
    readme = (site / "README.html").read_text()
    assert 'href="docs/method.html"' in readme and 'href="docs/protocol.html#reading-a-table"' in readme
    assert 'href="../docs/method.html"' in (site / "notebooks" / "workshop.html").read_text()


def test_every_page_names_its_revision_and_profile_and_nothing_is_fetched(site):
    revision = make_site.git_revision()
    for page in make_site.pages(site):
        html = (site / page).read_text()
        assert revision in html and "profile <code>smoke</code>" in html, page
    assert make_site.remote_references(site) == []


def test_the_remote_check_sees_a_script_a_stylesheet_and_a_font(tmp_path):
    (tmp_path / "a.html").write_text(
        '<script src="https://cdn.example/mathjax.js"></script>\n'
        '<link rel="stylesheet" href="//fonts.example/css">\n<a href="https://ok.example">a link</a>'
    )
    (tmp_path / "b.css").write_text(
        "@import url('https://fonts.example/x.css');\n.x { background: url(http://e.example/i.png) }"
    )
    found = make_site.remote_references(tmp_path)
    assert len(found) == 4 and not any("ok.example" in f for f in found)


def test_a_notebook_without_outputs_says_how_to_get_them(tmp_path):
    (tmp_path / "notebooks").mkdir()
    assert make_site.stage_notebook("table3_movielens", "smoke", tmp_path / "none", tmp_path) is False
    nb = nbformat.read(tmp_path / "notebooks" / "table3_movielens.ipynb", as_version=4)
    assert nb.cells[0].source.startswith("# Table 3")  # the title stays the page's title
    assert "make tables PROFILE=smoke" in nb.cells[1].source
