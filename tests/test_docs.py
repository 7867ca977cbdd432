"""A clone stands on its own: the README is a short front page that links to docs/, every
relative link in the README and docs/ resolves inside the repository, and no tracked file
names a path outside it except the documented, optional offline image folder."""

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# paths that lead out of a clone: the sibling folder of the development machines, its absolute path
OUTSIDE = re.compile(r"\.\./shared|/work/|shared/METHOD|shared/paper_results")
IMAGE_FOLDER = "../shared/data"  # IKD_IMAGE_DATA_DIR's default: optional, documented, used only if there


def tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    files = []
    for name in names:
        path = ROOT / name
        if (
            path.suffix in {".png", ".pdf"} or not path.is_file() or path == Path(__file__).resolve()
        ):  # this file names them
            continue
        files.append(path)
    return files


def test_the_readme_is_a_short_front_page_linking_the_method():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    assert "(docs/method.md)" in readme and "make tables" in readme and "make test" in readme


def relative_links(path: Path) -> list[str]:
    return [
        target.split("#")[0]
        for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text())
        if not re.match(r"[a-z]+:", target) and not target.startswith("#")
    ]


@pytest.mark.parametrize(
    "page", ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))]
)
def test_every_relative_link_resolves_inside_the_repository(page):
    path = ROOT / page
    for target in relative_links(path):
        resolved = (path.parent / target).resolve()
        assert resolved.exists(), f"{page} links to {target}, which does not exist"
        assert ROOT in resolved.parents or resolved == ROOT, f"{page} links outside the repository: {target}"


def test_no_tracked_file_names_a_path_outside_the_repository():
    offenders = []
    for path in tracked_text_files():
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line.replace(IMAGE_FOLDER, "")):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert not offenders, "\n".join(offenders)


def test_the_check_sees_an_outside_path():
    assert OUTSIDE.search("the full specification is `../shared/METHOD.md`")
    assert OUTSIDE.search("(`/work/shared/METHOD.md` on the course machines)")
    assert not OUTSIDE.search(f"default `{IMAGE_FOLDER}`".replace(IMAGE_FOLDER, ""))
