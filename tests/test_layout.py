"""The core knows no track: no module of ikd_lib/core imports ikd_lib.movielens, ikd_lib.vision
or the layer above them (report, verify, workshop) — read from the source, so a lazy import
inside a function is caught too."""
import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "ikd_lib" / "core"
ABOVE_THE_CORE = ("movielens", "vision", "report", "verify", "workshop")


def imported_modules(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):   # `from ..movielens import x`: module "movielens"
            names += [node.module] if node.module else [a.name for a in node.names]   # `from .. import vision`
    return names


def test_the_core_imports_no_track():
    modules = sorted(CORE.glob("*.py"))
    assert len(modules) > 10
    offenders = []
    for path in modules:
        for name in imported_modules(path):
            parts = name.replace("ikd_lib.", "").split(".")
            if parts[0] in ABOVE_THE_CORE:
                offenders.append(f"{path.name} imports {name}")
    assert not offenders, offenders


def test_the_check_sees_a_track_import(tmp_path):
    """The check itself can fail: a module that imports a track is named."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from ..movielens.data import load_movielens\n    import ikd_lib.vision\n")
    assert "movielens.data" in imported_modules(bad) and "ikd_lib.vision" in imported_modules(bad)
