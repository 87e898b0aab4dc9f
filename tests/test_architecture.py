"""The house: cattle's packages form layers and imports only go downward (README, "Architecture"). A module may
import its own package and the packages below it, never one above; the core imports nothing but the core."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

# bottom to top; "core" is every module directly in cattle/
LAYERS = ("core", "secrets", "vault", "database", "manifests", "providers", "bootstrap", "audit", "dr", "report")
PACKAGE = REPO / "cattle"


def layer_of(module: str) -> str:
    """cattle.x -> core; cattle.pkg.x -> pkg."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()) else "core"


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every cattle module the file imports, wherever the import stands."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "cattle":
            if node.module == "cattle":
                found += [(node.lineno, f"cattle.{alias.name}") for alias in node.names]
            elif (PACKAGE / node.module.split(".")[1]).is_dir() and node.module.count(".") == 1:
                found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "cattle"]
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def upward_imports(root: Path = PACKAGE) -> list[str]:
    wrong = []
    for path in sorted(root.rglob("*.py")):
        mine = layer_of(module_name(path))
        for line, imported in imports_of(path):
            theirs = layer_of(imported)
            if LAYERS.index(theirs) > LAYERS.index(mine):
                wrong.append(f"{path.relative_to(REPO)}:{line}: {mine} imports {imported} ({theirs} is above it)")
    return wrong


def test_every_package_is_a_layer_with_a_docstring() -> None:
    packages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    assert set(packages) == set(LAYERS) - {"core"}
    for name in packages:
        assert ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text())), name


def test_imports_only_go_downward() -> None:
    assert upward_imports() == []


def test_the_rule_sees_an_upward_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Planted: the core (env) importing the rebuild."""
    fake = tmp_path / "cattle"
    (fake / "bootstrap").mkdir(parents=True)
    (fake / "bootstrap" / "__init__.py").write_text('"""x"""\n')
    (fake / "env.py").write_text("def load() -> None:\n    from cattle.bootstrap import rebuild\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    assert upward_imports(fake) == ["cattle/env.py:2: core imports cattle.bootstrap.rebuild (bootstrap is above it)"]


def test_the_core_is_small() -> None:
    core = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")
    assert len(core) <= 14, core


def test_no_test_waits_against_a_wall_clock_budget() -> None:
    """A deadline inside a test fails it on a busy machine; tests wait with tests.waiting.until instead."""
    import re

    pattern = re.compile(r"(deadline|limit)\s*=\s*time\.(monotonic|time)\(\)\s*\+")
    offenders = [f"{path.name}:{number}" for path in sorted((REPO / "tests").rglob("*.py"))
                 for number, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert offenders == []


@pytest.mark.parametrize("path", sorted((REPO / "bench").glob("*_bench.py")), ids=lambda p: p.name)
def test_every_benchmark_imports(path: Path) -> None:
    """Benchmarks run by hand, not in CI: at least their imports must follow the code they measure."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(importlib.util.module_from_spec(spec))  # defines main(); runs nothing
