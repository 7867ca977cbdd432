"""What a person sees, in a real browser: the notebooks in JupyterLab and the built site.

A headless Chromium (Debian's /usr/bin/chromium, driven by Playwright: no browser download) on
`jupyter lab` as `make lab` starts it (the environment's jupyter, the repository as its root, the
project's settings from jupyter/ installed in .venv/etc/jupyter), on a free port of 127.0.0.1
with a token of the test's own:

- the workshop opens with the "Python (ikd)" kernel selected and nothing over it (no dialog, no
  news prompt), the file browser lists each notebook once, its link to ../docs/method.md opens;
  Run All (with the smoke parameters of tests/test_workshop.py) ends with every cell executed,
  no error, warning or traceback in any output, and its figures displayed;
- the same for Table 3 at the smoke profile (one genre), its rendered table displayed;
- the site (tools/make_site.py) built from the committed tables and figures and the two notebooks
  executed here: its front page and the workshop's page show their tables and figures, and the
  browser fetches nothing from another host (the site's pages and links: tests/test_site.py).

The lab serves a copy of notebooks/ and docs/ (so a save or an autosave never touches the
committed notebooks, which are kept without outputs); the kernels import ikd_lib from this
checkout and use its caches, with a results store of their own. Screenshots go to runs/browser/
for a person to look at. Without a Chromium the tests are skipped, saying how to get one.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import jupytext
import nbformat
import pytest

from test_site import build_site

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("IKD_CHROMIUM", "/usr/bin/chromium"))
SHOTS = ROOT / "runs" / "browser"
TOKEN = "ikd-browser-test"
WORKSHOP = {
    "profile": "smoke",
    "genre": "Sci-Fi",
    "epochs": 5,
    "exercise_epochs": 2,
    "solutions": True,
}  # as test_workshop.py
TABLE3 = {"profile": "smoke", "genres": ["Western"]}
RUN_ALL_TIMEOUT_S = 480
SHOWN = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook in the tab shown (lab reopens the others)

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"no Chromium at {CHROMIUM}: `apt-get install chromium` (Debian, as root; .ci/run does it) "
    "or IKD_CHROMIUM=<path to a Chromium>",
)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra: `make test` installs it")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_parameters(name: str, folder: Path, parameters: dict) -> None:
    """Give the copied pair notebooks/<name>.{ipynb,py} a cell of parameters after its parameters
    cell, as papermill injects one; both files, the text last (jupytext reads inputs from it)."""
    nb = nbformat.read(folder / f"{name}.ipynb", as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    source = "# the browser test's parameters\n" + "\n".join(f"{k} = {v!r}" for k, v in parameters.items())
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(source))
    jupytext.write(nb, folder / f"{name}.ipynb")
    jupytext.write(nb, folder / f"{name}.py", fmt="py:percent")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The folder the lab serves (notebooks/ and docs/ copied, parameters set) and its results store."""
    tmp = tmp_path_factory.mktemp("browser")
    root = tmp / "repo"
    shutil.copytree(ROOT / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copytree(ROOT / "docs", root / "docs")
    with_parameters("workshop", root / "notebooks", WORKSHOP)
    with_parameters("table3_movielens", root / "notebooks", TABLE3)
    SHOTS.mkdir(parents=True, exist_ok=True)
    return root, tmp / "runs"


@pytest.fixture(scope="module")
def lab(served, tmp_path_factory):
    """`jupyter lab` as `make lab` starts it, on a free local port; its base URL."""
    root, runs = served
    jupyter = Path(sys.executable).parent / "jupyter"
    installed = Path(sys.prefix) / "etc" / "jupyter"
    for source in (ROOT / "jupyter").rglob("*.*"):
        copy = installed / source.relative_to(ROOT / "jupyter")
        assert copy.exists() and copy.read_bytes() == source.read_bytes(), (
            f"{copy} is not jupyter/'s: `make data` (or make lab, make test) installs the project's JupyterLab settings"
        )
    tmp = tmp_path_factory.mktemp("lab")
    port = free_port()
    env = {
        **os.environ,
        "IKD_RUNS_DIR": str(runs),
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
        "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
    }
    command = [
        str(jupyter),
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={TOKEN}",
        f"--ServerApp.root_dir={root}",
        # a person's own JupyterLab settings and workspaces stay out of the test, and it writes none
        f"--LabApp.user_settings_dir={tmp / 'settings'}",
        f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
    ]
    if os.geteuid() == 0:  # CI runs as root; a participant's laptop does not
        command.append("--allow-root")
    with open(tmp / "lab.log", "w") as log:  # closed once the server has stopped
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=5)
                    break
                except OSError:
                    assert server.poll() is None and time.monotonic() < deadline, (
                        f"jupyter lab did not start: {(tmp / 'lab.log').read_text()[-3000:]}"
                    )
                    time.sleep(0.5)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        # Chromium's sandbox cannot start as root (CI); a user's run keeps it
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox"] if os.geteuid() == 0 else []
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    yield context.new_page()
    context.close()


def open_notebook(page, lab: str, name: str) -> None:
    """Open notebooks/<name>.ipynb and wait for its kernel; check what a person sees first."""
    page.goto(f"{lab}/lab/tree/notebooks/{name}.ipynb?reset&token={TOKEN}")  # reset: only this notebook open
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=90_000)
    page.locator(".jp-StatusBar-Widget", has_text="Python (ikd) | Idle").first.wait_for(timeout=90_000)
    assert page.locator(f"{SHOWN} .jp-Toolbar-kernelName").inner_text() == "Python (ikd)"
    page.wait_for_timeout(2000)  # a prompt or dialog would have appeared by now
    assert page.locator(".jp-Dialog").count() == 0, page.locator(".jp-Dialog").all_inner_texts()
    toasts = page.locator(".Toastify__toast").all_inner_texts()
    assert not toasts, f"a notification over the notebook: {toasts}"
    assert page.get_by_text("Jupyter news").count() == 0


def run_all(page, name: str) -> list[str]:
    """Run > Run All Cells; wait until every code cell has its execution count; the prompts."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    script = (
        f"() => [...document.querySelectorAll('{SHOWN} .jp-CodeCell .jp-InputPrompt')].map(e => e.textContent.trim())"
    )
    deadline = time.monotonic() + RUN_ALL_TIMEOUT_S
    while True:
        prompts = page.evaluate(script)
        if prompts and all(re.fullmatch(r"\[\d+\]:", p) for p in prompts):
            return prompts
        assert time.monotonic() < deadline, f"{name}: Run All not finished after {RUN_ALL_TIMEOUT_S} s: {prompts}"
        page.wait_for_timeout(1000)


def assert_clean_outputs(page, name: str) -> None:
    """No error output; nothing on stderr that says error, warning or traceback."""
    panel = page.locator(f"{SHOWN}")
    assert panel.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']").count() == 0
    for text in panel.locator("[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts():
        assert not re.search(r"error|warning|traceback", text, re.I), f"{name}: {text[:500]}"


def displayed_images(page, scope: str) -> int:
    """How many images under the selector are loaded and drawn (a broken one has no natural size)."""
    return page.evaluate(
        f"() => [...document.querySelectorAll({scope!r})].filter(i => i.complete && i.naturalWidth > 0).length"
    )


def save(page, path: Path) -> None:
    """Ctrl+S, as a participant saves; waits until the file on disk holds the outputs."""
    page.locator(f"{SHOWN} .jp-Notebook").click(position={"x": 5, "y": 5})
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + 30
    while not any(c.get("outputs") for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"):
        assert time.monotonic() < deadline, f"{path} was not saved with its outputs"
        time.sleep(0.5)


def test_workshop_opens_runs_and_shows_its_figures_in_jupyterlab(lab, served, page):
    root, _ = served
    open_notebook(page, lab, "workshop")
    listed = page.locator(".jp-DirListing-itemName").all_inner_texts()
    assert sorted(listed) == sorted(p.name for p in (root / "notebooks").glob("*.ipynb")), (
        f"the file browser should list notebooks/ with each notebook once: {listed}"
    )
    page.screenshot(path=SHOTS / "lab_workshop_opened.png")

    # the introduction's link to the method opens it (the repository is served, not notebooks/ alone)
    page.locator(".jp-RenderedMarkdown a", has_text="docs/method.md").first.click()
    page.locator(".lm-TabBar-tabLabel", has_text="method.md").first.wait_for(timeout=30_000)
    page.screenshot(path=SHOTS / "lab_workshop_method_link.png")
    page.locator(".lm-TabBar-tabLabel", has_text="workshop.ipynb").first.click()

    start = time.monotonic()
    prompts = run_all(page, "workshop")
    print(f"workshop: Run All in the browser {time.monotonic() - start:.0f} s, {len(prompts)} code cells")
    assert_clean_outputs(page, "workshop")
    figures = page.locator(f"{SHOWN} .jp-OutputArea-output img")
    assert figures.count() >= 9  # as test_workshop.py counts them: bars, messages, PCA, curves, solutions
    figures.nth(figures.count() // 2).scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    assert displayed_images(page, f"{SHOWN} .jp-OutputArea-output img") == figures.count()
    page.screenshot(path=SHOTS / "lab_workshop_figure.png")
    figures.last.evaluate("img => img.scrollIntoView({block: 'center'})")
    page.wait_for_timeout(1000)  # the cells scrolled to are painted (content-visibility) before the shot
    page.screenshot(path=SHOTS / "lab_workshop_end.png")
    save(page, root / "notebooks" / "workshop.ipynb")  # the site test shows it


def test_table3_notebook_runs_and_renders_its_table_in_jupyterlab(lab, served, page):
    root, _ = served
    open_notebook(page, lab, "table3_movielens")
    run_all(page, "table3_movielens")
    assert_clean_outputs(page, "table3_movielens")
    tables = page.locator(f"{SHOWN} .jp-OutputArea-output table")
    assert tables.count() >= 1
    assert any("Western" in t and "TD" in t for t in tables.all_inner_texts())
    tables.first.scroll_into_view_if_needed()
    page.screenshot(path=SHOTS / "lab_table3.png")
    save(page, root / "notebooks" / "table3_movielens.ipynb")


@pytest.fixture(scope="module")
def site(served, tmp_path_factory):
    """The site built from the committed tables and figures and the notebooks executed in the lab
    (saved there; run by papermill when this test runs alone); its folder."""
    import papermill as pm

    root, runs = served
    executed = tmp_path_factory.mktemp("executed")
    for name, parameters in (("workshop", WORKSHOP), ("table3_movielens", TABLE3)):
        notebook = root / "notebooks" / f"{name}.ipynb"
        if not any(c.get("outputs") for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code"):
            os.environ["IKD_RUNS_DIR"], saved = str(runs), os.environ.get("IKD_RUNS_DIR")
            try:
                pm.execute_notebook(
                    str(ROOT / "notebooks" / f"{name}.ipynb"),
                    str(notebook),
                    parameters=parameters,
                    cwd=str(ROOT / "notebooks"),
                    progress_bar=False,
                )
            finally:
                os.environ.pop("IKD_RUNS_DIR") if saved is None else os.environ.update(IKD_RUNS_DIR=saved)
        shutil.copy2(notebook, executed / notebook.name)
    out = tmp_path_factory.mktemp("site") / "site"
    assert "2 executed notebooks" in build_site(executed, out)
    table3 = (out / "notebooks" / "table3_movielens.html").read_text()  # the notebook's rendered table
    assert re.search(r"<table.*?Western.*?</table>", table3, re.S), "table3_movielens.html: no table of Western"
    return out


def test_site_front_page_and_a_notebook_page_show_tables_and_figures(site, page):
    out = site
    fetched = []
    page.on("request", lambda request: fetched.append(request.url))
    page.goto((out / "index.html").as_uri())
    page.wait_for_url("**/README.html")
    page.wait_for_load_state("load")
    assert page.locator("article table").count() >= 1
    assert displayed_images(page, "article img") >= 1  # gain_vs_density.png
    page.screenshot(path=SHOTS / "site_front_page.png", full_page=True)
    page.get_by_role("link", name=re.compile("method.md")).first.click()  # README -> docs/method.md
    page.wait_for_url("**/docs/method.html")

    page.goto((out / "notebooks" / "workshop.html").as_uri())
    page.wait_for_load_state("load")
    assert page.locator("article .cell_output table").count() >= 1
    assert displayed_images(page, "article .cell_output img") >= 9
    page.locator("article .cell_output img").nth(3).scroll_into_view_if_needed()
    page.screenshot(path=SHOTS / "site_workshop.png")
    page.goto((out / "notebooks" / "table3_movielens.html").as_uri())
    assert any("Western" in t for t in page.locator("article .cell_output table").all_inner_texts())
    page.screenshot(path=SHOTS / "site_table3.png", full_page=True)
    outside = [url for url in fetched if not url.startswith("file://")]
    assert not outside, f"the site fetched from another host: {outside}"
