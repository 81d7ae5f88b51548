"""Failures of the environment an operator can act on: a documented exit code and a
one-screen message that names the setting, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest
import torch
from peers import free_port

from db import upgrade
from pacslabel.context import open_context
from pacslabel.errors import ExitCode
from pacslabel.pipeline.recovery import pass_lock
from pacslabel.settings import load_settings
from simhospital import SimulatedPACS
from tests.conftest import Interpreter


def _pacslabel(
    interpreter: Interpreter, data: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """The command as an operator runs it: its whole output is what is tested."""
    command = interpreter.pacslabel("--data-dir", str(data), *args)
    return subprocess.run(
        command, capture_output=True, text=True, env=interpreter.env(**env, COLUMNS="200")
    )


def _upgraded(data: Path) -> Path:
    upgrade(load_settings(data_dir=data).resolved_database_url)
    return data


def _one_screen(done: subprocess.CompletedProcess[str]) -> str:
    text = done.stdout + done.stderr
    assert "Traceback" not in text and len(text.splitlines()) <= 20, text
    return text


@pytest.mark.parametrize("command", ["run", "serve"])
def test_a_taken_storage_port(tmp_path: Path, command: str, new_interpreter: Interpreter) -> None:
    data = _upgraded(tmp_path / "data")
    with SimulatedPACS(tmp_path / "pacs", ae_title="SIMPACS") as pacs, socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _pacslabel(
            new_interpreter,
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
def test_a_gpu_asked_for_where_there_is_none(tmp_path: Path, new_interpreter: Interpreter) -> None:
    data = _upgraded(tmp_path / "data")
    done = _pacslabel(new_interpreter, data, "train", PACSLABEL_TRAINING__DEVICE="cuda")
    assert done.returncode == ExitCode.USAGE, done.stdout + done.stderr
    text = _one_screen(done)
    assert "training.device = 'cuda'" in text and "no CUDA device" in text


def test_a_health_port_taken(tmp_path: Path, new_interpreter: Interpreter) -> None:
    data = _upgraded(tmp_path / "data")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _pacslabel(
            new_interpreter,
            data,
            "serve",
            PACSLABEL_PACS__PORT="9",
            PACSLABEL_LOCAL__STORAGE_PORT="0",
            PACSLABEL_HEALTH__PORT=str(port),
        )
    assert done.returncode == ExitCode.USAGE, done.stdout + done.stderr
    text = _one_screen(done)
    assert f"127.0.0.1:{port}" in text and "health.port" in text


def test_a_second_process_on_the_same_data_folder(
    tmp_path: Path, new_interpreter: Interpreter
) -> None:
    data = _upgraded(tmp_path / "data")
    settings = load_settings(data_dir=data)
    with open_context(settings) as ctx, pass_lock(ctx.paths):  # a pass of another process
        done = _pacslabel(new_interpreter, data, "run", PACSLABEL_PACS__PORT="9")
    assert done.returncode == ExitCode.BUSY, done.stdout + done.stderr
    text = _one_screen(done)
    assert f"another pass is working on {data}" in text and f"process {os.getpid()}" in text
