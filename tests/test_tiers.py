"""The test tiers hold: a test that reaches a slow resource does it through a fixture of
``FIXTURE_TIERS`` (tests/conftest.py), so its tier is derived and ``make test-fast``
never runs it by mistake. Read from the syntax tree of every test module.

What counts as reaching a slow resource (outside tests/integration/, which is a tier
of its own): a new interpreter (``sys.executable``), the whole loop (``run_once``,
``run_demo``, ``simulated_run``), a training through the product (``train_model``, the
``demo`` or ``experiment`` commands), a browser (``webdriver``), Orthanc
(``start_orthanc``) or a PostgreSQL connection of a test's own (``psycopg.connect``).
"""

from __future__ import annotations

import ast
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import FIXTURE_TIERS, Interpreter, tiers_of

TESTS = Path(__file__).resolve().parent
CALLS = {"run_once", "run_demo", "simulated_run", "train_model", "start_orthanc"}
ATTRIBUTES = {("sys", "executable")}
CALLED = {("webdriver", "Chrome"), ("psycopg", "connect")}
COMMANDS = {"demo", "experiment"}
"""Commands that simulate an archive and train on it."""


@dataclass
class _Function:
    name: str
    where: str
    params: set[str]
    reaches: list[str] = field(default_factory=list)
    calls: set[str] = field(default_factory=set)
    fixture: bool = False


def _is_fixture(node: ast.FunctionDef) -> bool:
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Attribute) and target.attr == "fixture":
            return True
    return False


def _command_words(call: ast.Call) -> set[str]:
    """The string literals of a ``main([...])`` call's list."""
    words = set()
    for argument in call.args:
        if isinstance(argument, ast.List):
            for item in argument.elts:
                if isinstance(item, ast.Constant) and isinstance(item.value, str):
                    words.add(item.value)
    return words


def _reached(node: ast.AST) -> tuple[list[str], set[str]]:
    """(the slow resources ``node`` reaches itself, the names it calls)."""
    reaches, calls = [], set()
    for inner in ast.walk(node):
        if (
            isinstance(inner, ast.Attribute)
            and isinstance(inner.value, ast.Name)
            and (inner.value.id, inner.attr) in ATTRIBUTES
        ):
            reaches.append(f"{inner.value.id}.{inner.attr}")
        if isinstance(inner, ast.Call):
            func = inner.func
            if (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and (func.value.id, func.attr) in CALLED
            ):
                reaches.append(f"{func.value.id}.{func.attr}()")
            name = inner.func.id if isinstance(inner.func, ast.Name) else None
            if isinstance(inner.func, ast.Attribute):
                name = inner.func.attr
            if name in CALLS:
                reaches.append(f"{name}()")
            if name == "main" and COMMANDS & _command_words(inner):
                reaches.append(f"main([{', '.join(sorted(COMMANDS & _command_words(inner)))}])")
            if name:
                calls.add(name)
    return reaches, calls


def _functions(path: Path) -> Iterator[_Function]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            reaches, calls = _reached(node)
            params = {a.arg for a in [*node.args.args, *node.args.kwonlyargs]}
            where = f"{path.name}:{node.lineno}"
            yield _Function(node.name, where, params, reaches, calls, _is_fixture(node))


def _modules() -> Iterator[Path]:
    for path in sorted(TESTS.rglob("*.py")):
        inside = path.relative_to(TESTS).parts
        if inside[0] in ("integration", "support") or path.name == "conftest.py":
            continue  # its own tier; helpers reached only through fixtures and tests
        yield path


def _slow_fixtures(module: Path) -> set[str]:
    """The fixtures that make a test of ``module`` slow: those of the table, and every
    fixture it can see (its own, its folders' conftest.py) that uses one."""
    visible = [
        module,
        *(
            folder / "conftest.py"
            for folder in module.parents
            if TESTS in [folder, *folder.parents]
        ),
    ]
    fixtures: dict[str, _Function] = {}
    for path in reversed(visible):  # nearer definitions override farther ones
        if path.is_file():
            fixtures.update({f.name: f for f in _functions(path) if f.fixture})
    slow = {name for name, tiers in FIXTURE_TIERS.items() if {"slow", "integration"} & set(tiers)}
    grew = True
    while grew:
        grew = False
        for fixture in fixtures.values():
            if fixture.name not in slow and fixture.params & slow:
                slow.add(fixture.name)
                grew = True
    return slow


def _untiered(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        slow = _slow_fixtures(path)
        functions = {f.name: f for f in _functions(path)}
        for function in functions.values():
            if function.fixture and function.name in FIXTURE_TIERS:
                continue
            if not (function.name.startswith("test_") or function.fixture):
                continue
            reaches = list(function.reaches)
            for called in function.calls & set(functions):  # helpers of the module
                if not functions[called].fixture:
                    reaches += [f"{r} in {called}" for r in functions[called].reaches]
            if reaches and not function.params & slow:
                found.append(f"{function.where} {function.name}: {', '.join(reaches)}")
    return found


def test_slow_resources_are_reached_only_through_their_fixtures() -> None:
    untiered = _untiered(list(_modules()))
    assert not untiered, (
        "these reach a slow resource without a fixture of FIXTURE_TIERS (tests/conftest.py), "
        "so make test-fast would run them:\n" + "\n".join(untiered)
    )


def test_the_checker_finds_a_test_that_starts_an_interpreter_by_hand(tmp_path: Path) -> None:
    module = tmp_path / "test_probe.py"
    module.write_text(
        "import subprocess, sys\n\n\ndef _helper():\n"
        "    subprocess.run([sys.executable, '-c', 'pass'])\n\n\n"
        "def test_probe(tmp_path):\n    _helper()\n",
        encoding="utf-8",
    )
    found = _untiered([module])
    assert any("test_probe: sys.executable in _helper" in line for line in found), found


def test_marks_follow_from_fixtures_path_and_parameters(request: pytest.FixtureRequest) -> None:
    """The derivation itself, on this test and on made-up collected items."""
    assert tiers_of(request.node) == set()

    @dataclass
    class Item:
        path: Path
        fixturenames: list[str]
        callspec: object | None = None

    @dataclass
    class Spec:
        params: dict[str, object]

    assert tiers_of(Item(TESTS / "integration" / "t.py", [])) == {"integration"}  # type: ignore[arg-type]
    assert tiers_of(Item(TESTS / "app" / "t.py", ["orthanc"])) == {"integration", "orthanc"}  # type: ignore[arg-type]
    assert tiers_of(Item(TESTS / "app" / "t.py", ["new_interpreter"])) == {"slow"}  # type: ignore[arg-type]
    pg = Item(TESTS / "db" / "t.py", ["database_url"], Spec({"database_url": "postgresql"}))
    assert tiers_of(pg) == {"postgres"}  # type: ignore[arg-type]
    assert Interpreter().pacslabel("x")[1:] == ["-m", "pacslabel.cli", "x"]


def test_a_module_fixture_is_built_by_one_worker(
    new_interpreter: Interpreter, tmp_path: Path
) -> None:
    """``make test`` relies on pytest-xdist's loadgroup keeping the tests of one costly
    module fixture (per parameter) on one worker; some pytest releases silently break it
    (9.2 renamed the node id xdist appends the group to), so check it with the installed
    pair, on this conftest's groups."""
    (tmp_path / "conftest.py").write_text(
        "from tests.conftest import pytest_collection_modifyitems  # noqa: F401\n",
        encoding="utf-8",
    )
    (tmp_path / "test_grouped.py").write_text(
        "import os\nimport pytest\n\n\n"
        "@pytest.fixture(scope='module', params=['a', 'b'])\n"
        "def costly(request):\n"
        "    with open(os.path.join(os.path.dirname(__file__), 'built.txt'), 'a') as f:\n"
        "        f.write(request.param + '\\n')\n"
        "    return request.param\n\n\n"
        "@pytest.mark.parametrize('i', range(8))\n"
        "def test_uses(costly, i):\n    pass\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        new_interpreter.argv(
            "-m", "pytest", "-q", "-n", "2", "--dist", "loadgroup", "-p", "no:cacheprovider",
            "--rootdir", str(tmp_path), str(tmp_path),
        ),
        cwd=TESTS.parent, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    built = sorted((tmp_path / "built.txt").read_text(encoding="utf-8").split())
    assert built == ["a", "b"], f"each parameter built once, not {built}"
