"""The environment failing under a pass: PostgreSQL going away in the middle (its
connections cut by a relay), a data folder that fills up, one that turns read-only. Each
gives a clear error that names what failed (exit 11), loses nothing, and the next pass,
once the fault is gone, finishes the work."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from passes import CONFIG, STUDIES, check_final, load_good_studies, reported, run_until
from peers import Orthanc, TcpProxy, pacslabel, pacslabel_config

from pacslabel.errors import ExitCode


def test_postgresql_going_away_mid_pass(
    tmp_path: Path, orthanc: Orthanc, postgres_url: str
) -> None:
    load_good_studies(orthanc)
    parts = urlsplit(postgres_url)
    proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 5432)).start()
    user = f"{parts.username}@" if parts.username else ""
    relayed = urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{proxy.port}"))
    config = pacslabel_config(tmp_path, orthanc, relayed, extra=CONFIG)
    try:
        assert pacslabel(config, "db", "upgrade").returncode == 0
        code, log = run_until(config, "caching pixels", 0.0, lambda _: proxy.cut())
        assert code == ExitCode.ENVIRONMENT, log[-3000:]
        assert "the database cannot be used" in log
        assert "Traceback" not in log
        down = pacslabel(config, "run")  # still away: the same clear error, at once
        assert down.returncode == ExitCode.ENVIRONMENT
        assert "the database cannot be used" in down.stderr
        proxy.start()
        again = pacslabel(config, "run")
        assert again.returncode == ExitCode.OK, again.stderr[-3000:]
    finally:
        proxy.cut()
    assert reported(postgres_url) == STUDIES
    check_final(orthanc, postgres_url, tmp_path / "data")


def _mount(folder: Path, options: str) -> None:
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small file system here ({done.stderr.strip()})")


def _remount(folder: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(folder)], check=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB file system (tmpfs) for the data folder."""
    folder = tmp_path / "disk"
    folder.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    _mount(folder, "size=4m")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_data_folder(
    tmp_path: Path, small_disk: Path, orthanc: Orthanc, database_url: str
) -> None:
    load_good_studies(orthanc)
    config = pacslabel_config(small_disk, orthanc, database_url, extra=CONFIG)
    if database_url.startswith("sqlite"):  # the database outside the full disk
        assert str(small_disk) not in database_url
    assert pacslabel(config, "db", "upgrade").returncode == 0
    full = pacslabel(config, "run")  # the model's checkpoint (45 MB) does not fit
    assert full.returncode == ExitCode.ENVIRONMENT, full.stderr[-3000:]
    assert "No space left on device" in full.stderr
    assert str(small_disk / "data") in full.stderr
    _remount(small_disk, "size=400m")
    again = pacslabel(config, "run")
    assert again.returncode == ExitCode.OK, again.stderr[-3000:]
    check_final(orthanc, database_url, small_disk / "data")


def test_a_read_only_data_folder(
    tmp_path: Path, small_disk: Path, orthanc: Orthanc, database_url: str
) -> None:
    _remount(small_disk, "size=400m")
    config = pacslabel_config(small_disk, orthanc, database_url, extra=CONFIG)
    assert pacslabel(config, "db", "upgrade").returncode == 0
    assert pacslabel(config, "run").returncode == ExitCode.OK  # keys and folders made
    load_good_studies(orthanc)
    _remount(small_disk, "ro")
    stuck = pacslabel(config, "run")
    assert stuck.returncode == ExitCode.ENVIRONMENT, stuck.stderr[-3000:]
    assert "Read-only file system" in stuck.stderr
    assert str(small_disk / "data") in stuck.stderr
    _remount(small_disk, "rw")
    again = pacslabel(config, "run")
    assert again.returncode == ExitCode.OK, again.stderr[-3000:]
    check_final(orthanc, database_url, small_disk / "data")
