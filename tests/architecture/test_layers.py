"""The layers point one way: the import contract in ``pyproject.toml`` holds, and it would
catch an upward import; no package reaches for another package's private names."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, check=False
    )


@pytest.mark.system  # lint-imports in a subprocess
def test_the_import_contract_holds():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.system
def test_the_import_contract_fails_on_an_upward_import(tmp_path):
    """A throwaway copy of the package where the domain imports the demo: the contract
    must break and name the import."""
    shutil.copytree(ROOT / "pipeline", tmp_path / "pipeline")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    order = tmp_path / "pipeline" / "domain" / "order.py"
    order.write_text(order.read_text() + "\nimport pipeline.demo  # an upward import\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "pipeline.domain.order -> pipeline.demo" in result.stdout


def _package(module: str) -> str:
    """``pipeline.local.runtime`` -> ``pipeline.local``; a top-level module is its own."""
    parts = module.split(".")
    return ".".join(parts[:2])


def test_no_package_imports_another_packages_private_names():
    offences = []
    for path in sorted((ROOT / "pipeline").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith(
                "pipeline"
            ):
                continue
            if _package(node.module or "") == _package(module):
                continue
            for alias in node.names:
                if alias.name.startswith("_"):
                    offences.append(f"{module}: from {node.module} import {alias.name}")
    assert not offences
