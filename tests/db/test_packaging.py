"""An installed wheel, not only a checkout, can create the schema: the migrations ship
inside the ``db`` package, and so do the task file and the de-identification table."""

from __future__ import annotations

import shutil
import subprocess
import sysconfig
import venv
from pathlib import Path

from db import head_revision
from tests.conftest import Interpreter

ROOT = Path(__file__).resolve().parents[2]


def test_a_wheel_installed_elsewhere_upgrades_an_empty_database(
    tmp_path: Path, new_interpreter: Interpreter
) -> None:
    built_here = not (ROOT / "build").exists()  # setuptools builds in the source tree
    wheels = tmp_path / "wheels"
    build = ["wheel", "--no-deps", "--no-build-isolation", "-q", "--wheel-dir", str(wheels)]
    subprocess.run(
        new_interpreter.argv("-m", "pip", *build, str(ROOT)),
        check=True,
        capture_output=True,
        timeout=300,
    )
    if built_here:
        shutil.rmtree(ROOT / "build", ignore_errors=True)
    (wheel,) = wheels.glob("pacslabel-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    # The wheel alone, without its dependencies: those come from this environment's
    # site-packages, appended after the new environment's own (a .pth file adds the
    # folder but runs none of its .pth files, so the checkout's editable finder stays out).
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "-q", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env = new_interpreter.env()
    where = subprocess.run(
        [python, "-c", "import db, pacslabel; print(db.__file__); print(pacslabel.__file__)"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert all(path.startswith(str(env_dir)) for path in where), where
    data = tmp_path / "data"
    upgraded = subprocess.run(
        [env_dir / "bin" / "pacslabel", "--data-dir", str(data), "db", "upgrade"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert upgraded.returncode == 0, upgraded.stderr
    head = head_revision()
    assert f"schema {head} (head {head})" in upgraded.stdout, upgraded.stdout
    assert (data / "pacslabel.db").is_file()
    task = subprocess.run(
        [env_dir / "bin" / "pacslabel", "--data-dir", str(data), "task"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert task.returncode == 0 and "lumbar_spine" in task.stdout, task.stderr
