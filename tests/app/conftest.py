"""Fixtures of the application tests that run the loop against a simulated PACS."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from simulated_run import TINY_TRAINING, Run, simulated_run

from pacslabel.settings import Settings, load_settings
from simhospital import SimulatedPACS, SimulatedStudy
from tests.conftest import Interpreter


@pytest.fixture
def training() -> dict[str, Any]:
    """The tiny model's training settings, for a test that trains through the product."""
    return dict(TINY_TRAINING)


@pytest.fixture(scope="session")
def simulated_loop() -> Callable[[str, Path, int], Iterator[Run]]:
    """:func:`simulated_run`: a simulated archive through one whole pass of the loop."""
    return simulated_run


@pytest.fixture
def loop_settings(tmp_path: Path, training: dict[str, Any]) -> Callable[..., Settings]:
    """Make settings that run the loop against a simulated PACS (AE ``SIMPACS``) with
    the tiny model, in ``tmp_path/data``; keyword arguments are further settings
    (a section given replaces the default one)."""

    def make(pacs: SimulatedPACS, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "pacs": {"ae_title": "SIMPACS", "host": "127.0.0.1", "port": pacs.port},
            "local": {"storage_port": 0, "network_timeout_s": 10},
            "ingest": {"report_drop": pacs.ris_dir},
            "training": training,
        }
        return load_settings(**{**values, **overrides})

    return make


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Default settings in a temporary data folder, with no PACSLABEL_* leaking in."""
    for name in list(os.environ):
        if name.startswith("PACSLABEL_") and not name.startswith("PACSLABEL_TEST_"):
            monkeypatch.delenv(name)
    return load_settings(data_dir=tmp_path / "data")


@pytest.fixture
def pacs(tmp_path: Path, archive: list[SimulatedStudy]) -> Iterator[SimulatedPACS]:
    """A running simulated PACS (AE ``SIMPACS``) holding the test module's ``archive``
    (modules that need another PACS define their own ``pacs``)."""
    server = SimulatedPACS(tmp_path / "pacs", ae_title="SIMPACS")
    for study in archive:
        server.add_study(study)
    with server:
        yield server


#: The demo every test of a demo's data folder starts from: ``pacslabel demo`` with these
#: arguments, as a user runs it, at DEBUG.
DEMO_STUDIES = 40
DEMO_ARGS = ("demo", "--studies", str(DEMO_STUDIES), "--epochs", "1", "--image-size", "32")
#: The demo's studies whose simulated devices burned identifiers into the pixels (seed 0,
#: the demo's rate; 4, 32 and 36 say so in BurnedInAnnotation): kept out of the corpus.
DEMO_BURNED = (2, 4, 7, 29, 32, 36)


@dataclass(frozen=True)
class DemoCorpus:
    """A copy of the session's demo: its data folder, and what the demo printed."""

    data: Path
    stdout: str
    log: str
    """Its standard error: log records at DEBUG, one per line."""

    @property
    def settings(self) -> Settings:
        return load_settings(data_dir=self.data)

    def cli(self, *args: str) -> list[str]:
        """``args`` after the options that point the command at this data folder."""
        return ["--data-dir", str(self.data), "--log-level", "WARNING", *args]


def _run_demo(folder: Path) -> None:
    """The demo as a user runs it (a new interpreter, umask 022, log lines off a
    terminal), its output kept beside its data folder."""
    interpreter = Interpreter()
    command = interpreter.pacslabel("--data-dir", str(folder / "data"), "--log-level", "DEBUG")
    env = {k: v for k, v in interpreter.env().items() if not k.startswith("JOURNAL")}
    with (folder / "stderr.log").open("w") as log:
        done = subprocess.run(
            [*command, *DEMO_ARGS],
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            text=True,
            timeout=900,
            preexec_fn=lambda: os.umask(0o022),
        )
    if done.returncode != 0:
        raise RuntimeError(f"the demo failed: {(folder / 'stderr.log').read_text()[-3000:]}")
    (folder / "stdout.txt").write_text(done.stdout, encoding="utf-8")


@pytest.fixture(scope="session")
def _demo_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One demo per test session, shared by pytest-xdist's workers (the first builds it
    under a file lock, the others wait and read it)."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # this session's folder, the same for every worker
    folder = shared / "demo-corpus"
    with FileLock(str(shared / "demo-corpus.lock")):
        if not (folder / "stdout.txt").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            _run_demo(folder)
    return folder


@pytest.fixture
def demo_corpus(_demo_once: Path, tmp_path: Path) -> DemoCorpus:
    """A copy of the session's demo (:data:`DEMO_ARGS`) for one test to change."""
    data = tmp_path / "data"
    shutil.copytree(_demo_once / "data", data)
    return DemoCorpus(
        data,
        (_demo_once / "stdout.txt").read_text(encoding="utf-8"),
        (_demo_once / "stderr.log").read_text(encoding="utf-8"),
    )


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    """Debian's Chromium, headless, driven by its ChromeDriver (scripts/ensure-tools)."""
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not binary or not driver:
        pytest.fail("Chromium and its driver are needed: scripts/ensure-tools installs them")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
    ):
        options.add_argument(argument)
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    try:
        yield chrome
    finally:
        chrome.quit()
