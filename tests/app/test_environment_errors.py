"""Failures of the environment an operator can act on: a documented exit code and a
one-screen message that names the setting, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from peers import free_port

from pacslabel.context import open_context
from pacslabel.errors import ExitCode
from pacslabel.pipeline.recovery import pass_lock
from pacslabel.settings import load_settings
from simhospital import SimulatedPACS


def _pacslabel(data: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PACSLABEL_")}
    command = [sys.executable, "-m", "pacslabel.cli", "--data-dir", str(data), *args]
    return subprocess.run(
        command, capture_output=True, text=True, env={**clean, **env, "COLUMNS": "200"}
    )


def _one_screen(done: subprocess.CompletedProcess[str]) -> str:
    text = done.stdout + done.stderr
    assert "Traceback" not in text and len(text.splitlines()) <= 20, text
    return text


@pytest.mark.parametrize("command", ["run", "serve"])
def test_a_taken_storage_port(tmp_path: Path, command: str) -> None:
    data = tmp_path / "data"
    assert _pacslabel(data, "db", "upgrade").returncode == 0
    with SimulatedPACS(tmp_path / "pacs", ae_title="SIMPACS") as pacs, socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _pacslabel(
            data,
            command,
            PACSLABEL_PACS__PORT=str(pacs.port),
            PACSLABEL_PACS__AE_TITLE="SIMPACS",
            PACSLABEL_LOCAL__BIND_ADDRESS="127.0.0.1",
            PACSLABEL_LOCAL__STORAGE_PORT=str(port),
            PACSLABEL_HEALTH__PORT=str(free_port()),
        )
    assert done.returncode == ExitCode.ENVIRONMENT, done.stdout + done.stderr
    text = _one_screen(done)
    assert f"127.0.0.1:{port}" in text and "local.storage_port" in text


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_a_gpu_asked_for_where_there_is_none(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert _pacslabel(data, "db", "upgrade").returncode == 0
    done = _pacslabel(data, "train", PACSLABEL_TRAINING__DEVICE="cuda")
    assert done.returncode == ExitCode.USAGE, done.stdout + done.stderr
    text = _one_screen(done)
    assert "training.device = 'cuda'" in text and "no CUDA device" in text


def test_a_health_port_taken(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert _pacslabel(data, "db", "upgrade").returncode == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _pacslabel(
            data,
            "serve",
            PACSLABEL_PACS__PORT="9",
            PACSLABEL_LOCAL__STORAGE_PORT="0",
            PACSLABEL_HEALTH__PORT=str(port),
        )
    assert done.returncode == ExitCode.USAGE, done.stdout + done.stderr
    text = _one_screen(done)
    assert f"127.0.0.1:{port}" in text and "health.port" in text


def test_a_second_process_on_the_same_data_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert _pacslabel(data, "db", "upgrade").returncode == 0
    settings = load_settings(data_dir=data)
    with open_context(settings) as ctx, pass_lock(ctx.paths):  # a pass of another process
        done = _pacslabel(data, "run", PACSLABEL_PACS__PORT="9")
    assert done.returncode == ExitCode.BUSY, done.stdout + done.stderr
    text = _one_screen(done)
    assert f"another pass is working on {data}" in text and f"process {os.getpid()}" in text
