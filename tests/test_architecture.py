"""The package boundaries of ARCHITECTURE.md, and small public surfaces."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = ("pacsbridge", "labeller", "trainer", "db")
FIRST_PARTY = {*DOMAIN, "pacslabel"}
ALLOWED = {
    "pacsbridge": {"pacsbridge"},
    "labeller": {"labeller"},
    "trainer": {"trainer"},
    "db": {"db"},
    "pacslabel": FIRST_PARTY,
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & FIRST_PARTY


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_packages_import_only_what_the_design_allows(package: str) -> None:
    for path in (ROOT / package).rglob("*.py"):
        extra = _imports(path) - ALLOWED[package]
        assert not extra, f"{path.relative_to(ROOT)} imports {sorted(extra)}"


@pytest.mark.parametrize("package", [*DOMAIN, "pacsbridge.simulator"])
def test_public_names_exist_and_are_listed(package: str) -> None:
    module = importlib.import_module(package)
    names = module.__all__
    assert len(names) == len(set(names)), "a name is listed twice"
    for name in names:
        assert hasattr(module, name), name


def test_no_hub_downloads() -> None:
    for path in ROOT.glob("*/**/*.py"):
        if "tests" in path.parts or ".venv" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        assert "from_pretrained(" not in text or "local_files_only" in text, path
        assert "IMAGENET1K" not in text and 'weights="DEFAULT"' not in text, path
