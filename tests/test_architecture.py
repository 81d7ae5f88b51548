"""The package boundaries of docs/architecture.md, read from the syntax tree.

Who may import whom (first-party and third-party), the layers inside the
application, no import circles anywhere, small public surfaces (``__all__``
is exactly what a package's ``__init__`` binds), tests of the domain packages
independent of the application, and functions short enough to read.
"""

from __future__ import annotations

import ast
import importlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = ("pacsbridge", "labeller", "trainer", "db", "scoring")
PACKAGES = (*DOMAIN, "simhospital", "pacslabel")
FIRST_PARTY = set(PACKAGES)

#: First-party packages each package may import (besides itself).
ALLOWED_FIRST_PARTY = {
    "pacsbridge": set(),
    "labeller": {"scoring"},
    "trainer": {"scoring"},
    "db": set(),
    "scoring": set(),
    "simhospital": {"pacsbridge"},
    "pacslabel": {"pacsbridge", "labeller", "trainer", "db", "scoring", "simhospital"},
}
#: Third-party distributions each domain package may import (the standard library aside).
ALLOWED_THIRD_PARTY = {
    # cv2, tesserocr, regex, PIL: the burned-in text screen (pacsbridge.deid.burned_in)
    "pacsbridge": {
        "pydicom",
        "pynetdicom",
        "highdicom",
        "numpy",
        "pypdf",
        "cv2",
        "tesserocr",
        "regex",
        "PIL",
    },
    "simhospital": {"pydicom", "pynetdicom", "numpy", "torch", "PIL"},
    "labeller": {"torch", "transformers", "tokenizers", "numpy", "matplotlib"},
    "trainer": {"torch", "torchvision", "sklearn", "numpy", "matplotlib"},
    "db": {"sqlalchemy", "alembic"},
    "scoring": {"numpy", "sklearn"},
}
#: The application's layers, lowest first: a module imports only from its own layer or below.
LAYERS = (
    (
        "pacslabel",
        "pacslabel.errors",
        "pacslabel.asgi",
        "pacslabel.files",
        "pacslabel.settings",
        "pacslabel.logs",
        "pacslabel.task",
        "pacslabel.progress",
    ),
    (
        "pacslabel.tls",
        "pacslabel.linkage",
        "pacslabel.vocabulary",
        "pacslabel.registry",
        "pacslabel.comparison",
        "pacslabel.annotations",
        "pacslabel.context",
    ),
    ("pacslabel.pipeline",),
    ("pacslabel.tools", "pacslabel.workbench"),
    ("pacslabel.cli",),
)
#: The only application modules that may load the simulated hospital (it ships for the
#: demo; the loop a hospital runs never imports it).
SIMULATION_USERS = {
    "pacslabel.tools.demo",
    "pacslabel.tools.experiment",
    "pacslabel.cli.simulate",
    "pacslabel.cli.gallery",
}
MAX_FUNCTION_LINES = 60
LONG_FUNCTION_MARK = "Long because"


def _modules() -> dict[str, Path]:
    """Every first-party module by dotted name (packages by their own name)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if all(part.isidentifier() for part in parts):  # migrations are not importable
                found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imported(path: Path) -> Iterator[tuple[str, list[str], int]]:
    """(module, names taken from it, line) of every absolute import, nested ones too."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, [alias.name for alias in node.names], node.lineno


def _targets(module: str, names: list[str]) -> set[str]:
    """The first-party modules an import statement depends on (a submodule named in a
    ``from`` import counts as itself, not as its package)."""
    if module.split(".")[0] not in FIRST_PARTY:
        return set()
    targets = {f"{module}.{name}" for name in names if f"{module}.{name}" in MODULES}
    if len(targets) < len(names) or not names:
        targets.add(module if module in MODULES else module.rpartition(".")[0])
    return targets


GRAPH = {
    name: {t for module, names, _ in _imported(path) for t in _targets(module, names)} - {name}
    for name, path in MODULES.items()
}


@pytest.mark.parametrize("package", PACKAGES)
def test_packages_import_only_what_the_design_allows(package: str) -> None:
    allowed_third = ALLOWED_THIRD_PARTY.get(package)
    for path in (ROOT / package).rglob("*.py"):
        for module, _, line in _imported(path):
            top = module.split(".")[0]
            where = f"{path.relative_to(ROOT)}:{line} imports {module}"
            if top in FIRST_PARTY:
                assert top == package or top in ALLOWED_FIRST_PARTY[package], where
            elif allowed_third is not None and top not in sys.stdlib_module_names:
                assert top in allowed_third, where


def test_simhospital_uses_only_the_public_api_of_pacsbridge() -> None:
    for path in (ROOT / "simhospital").rglob("*.py"):
        for module, names, line in _imported(path):
            if module.split(".")[0] != "pacsbridge":
                continue
            where = f"{path.relative_to(ROOT)}:{line} imports {module}"
            assert not any(part.startswith("_") for part in module.split(".")), where
            public = set(importlib.import_module(module).__all__)
            assert set(names) <= public, f"{where}: {sorted(set(names) - public)} not in __all__"


def _layer(module: str) -> int | None:
    """The layer of an application module: listed itself, or inside a listed subpackage."""
    for index, layer in enumerate(LAYERS):
        for name in layer:
            inside = name != "pacslabel" and module.startswith(name + ".")
            if module == name or inside:
                return index
    return None


def test_every_application_module_has_a_layer() -> None:
    unplaced = [m for m in MODULES if m.startswith("pacslabel") and _layer(m) is None]
    assert not unplaced, f"add these to LAYERS: {unplaced}"


def test_application_layers_import_only_downwards() -> None:
    for module, targets in GRAPH.items():
        own = _layer(module)
        if own is None:
            continue
        for target in targets:
            other = _layer(target)
            assert other is None or other <= own, f"{module} (layer {own}) imports {target}"


def test_only_the_demo_tools_load_the_simulated_hospital() -> None:
    for module, targets in GRAPH.items():
        if module.startswith("pacslabel") and module not in SIMULATION_USERS:
            assert not any(t.startswith("simhospital") for t in targets), module


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles_anywhere() -> None:
    assert _cycles(GRAPH) == []


def test_the_circle_finder_finds_a_circle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _bound_names(tree: ast.Module) -> set[str]:
    """Names a module binds at its top level (inside try/if blocks too)."""
    names: set[str] = set()
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Try | ast.If):
            pending += [*node.body, *node.orelse]
            if isinstance(node, ast.Try):
                pending += [s for handler in node.handlers for s in handler.body]
    return names


PACKAGE_INITS = sorted(m for m, p in MODULES.items() if p.name == "__init__.py")


@pytest.mark.parametrize("package", PACKAGE_INITS)
def test_all_is_exactly_the_public_names(package: str) -> None:
    tree = ast.parse(MODULES[package].read_text(encoding="utf-8"))
    public = {
        n
        for n in _bound_names(tree)
        if not n.startswith("_") or (n.startswith("__") and n.endswith("__") and n != "__all__")
    }
    module = importlib.import_module(package)
    listed = list(getattr(module, "__all__", []))
    assert len(listed) == len(set(listed)), "a name is listed twice"
    assert set(listed) == public
    for name in listed:
        assert hasattr(module, name), name


@pytest.mark.parametrize("package", [*DOMAIN, "simhospital"])
def test_tests_of_the_domain_packages_do_not_import_the_application(package: str) -> None:
    for path in (ROOT / "tests" / package).rglob("*.py"):
        for module, _, line in _imported(path):
            assert module.split(".")[0] != "pacslabel", f"{path.relative_to(ROOT)}:{line}"


def _function_lengths(path: Path) -> Iterator[tuple[str, int, int, str]]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            docstring = ast.get_docstring(node) or ""
            first = node.body[0]
            skip = first.end_lineno - first.lineno + 1 if docstring and first.end_lineno else 0
            length = (node.end_lineno or node.lineno) - node.lineno + 1 - skip
            yield node.name, node.lineno, length, docstring


@pytest.mark.parametrize("package", ["pacslabel", "pacsbridge"])
def test_functions_are_short_or_say_why(package: str) -> None:
    long = [
        f"{path.relative_to(ROOT)}:{line} {name} ({length} lines)"
        for path in (ROOT / package).rglob("*.py")
        for name, line, length, docstring in _function_lengths(path)
        if length > MAX_FUNCTION_LINES and LONG_FUNCTION_MARK not in docstring
    ]
    assert not long, f"split them, or say in the docstring why not ({LONG_FUNCTION_MARK} …)"


#: Process-wide state library code must not change: pyplot's global figures and backend,
#: the global random generators, pynetdicom's configuration (outside the functions the
#: entry point calls), the main module (only the entry point, which owns the process).
GLOBAL_STATE = (
    "matplotlib.use(",
    "matplotlib.pyplot",
    "import pyplot",
    "np.random.seed(",
    "random.seed(",
    "_config.",
    'modules.get("__main__")',
    'modules["__main__"]',
)


def test_library_code_leaves_global_state_alone() -> None:
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            if path == ROOT / "pacsbridge" / "association.py":
                text = text.replace("_config.LOG_REQUEST_IDENTIFIERS", "")
                text = text.replace("_config.LOG_RESPONSE_IDENTIFIERS", "")
                text = text.replace("_config.STORE_RECV_CHUNKED_DATASET", "")
                text = text.replace("_config.STORE_SEND_CHUNKED_DATASET", "")
            if path == ROOT / "pacslabel" / "cli" / "main.py":  # the entry point owns the process
                text = text.replace('modules.get("__main__")', "")
            found = [pattern for pattern in GLOBAL_STATE if pattern in text]
            assert not found, f"{path.relative_to(ROOT)}: {found}"


def test_no_hub_downloads() -> None:
    for path in ROOT.glob("*/**/*.py"):
        if "tests" in path.parts or ".venv" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        assert "from_pretrained(" not in text or "local_files_only" in text, path
        assert "IMAGENET1K" not in text and 'weights="DEFAULT"' not in text, path


#: Where each package writes files whole or not at all, and the suffixes of its files
#: being written (the recovery after a kill deletes or spares them by suffix).
ATOMIC_WRITERS = {
    "pacsbridge/files.py": {"PARTIAL_SUFFIX": ".part", "WRITING_SUFFIX": ".writing"},
    "trainer/files.py": {"PARTIAL_SUFFIX": ".part"},
    "pacslabel/files.py": {"PARTIAL_SUFFIX": ".part"},
}
_TEMPORARY = re.compile(r"\.(part|tmp|temp|writing|partial|new)$")


def test_files_being_written_are_named_in_one_place_per_package() -> None:
    """Every suffix of a file being written is a named constant of its package's files
    module, and no other module spells one."""
    import pacsbridge
    import trainer
    from pacslabel import files

    assert pacsbridge.PARTIAL_SUFFIX == files.RECEIVING_SUFFIX
    assert pacsbridge.WRITING_SUFFIX == files.DEIDENTIFYING_SUFFIX
    assert trainer.PARTIAL_SUFFIX == files.TRAINING_SUFFIX
    for path in MODULES.values():
        relative = str(path.relative_to(ROOT))
        suffixes = set(ATOMIC_WRITERS.get(relative, {}).values())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and _TEMPORARY.search(node.value)
            ):
                assert node.value in suffixes, f"{relative}:{node.lineno} {node.value!r}"
    for relative, constants in ATOMIC_WRITERS.items():
        module = importlib.import_module(relative.removesuffix(".py").replace("/", "."))
        assert {k: getattr(module, k) for k in constants} == constants, relative
