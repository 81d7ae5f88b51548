"""``pacslabel check`` on a good installation and on a broken one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from peers import free_port

from pacslabel.cli import main
from pacslabel.context import open_context
from pacslabel.errors import ExitCode
from pacslabel.settings import load_settings
from simhospital import SimulatedPACS, generate_study


def _config(path: Path, data: Path, pacs_port: int, storage_port: int, device: str) -> Path:
    path.write_text(
        f'data_dir = "{data}"\n'
        f'[pacs]\nae_title = "SIMPACS"\nhost = "127.0.0.1"\nport = {pacs_port}\n'
        f"[local]\nstorage_port = {storage_port}\nnetwork_timeout_s = 5\n"
        f'[training]\ndevice = "{device}"\n',
        encoding="utf-8",
    )
    return path


def _lines(capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    out = capsys.readouterr().out
    return {line.split(":")[0][5:]: line for line in out.splitlines() if line[:4].strip()}


def test_a_good_installation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    with SimulatedPACS(tmp_path / "pacs", ae_title="SIMPACS") as pacs:
        pacs.add_study(generate_study(0, seed=8, scale=0.12))
        pacs.destinations["PACSLABEL"] = ("127.0.0.1", port)
        config = _config(tmp_path / "good.toml", tmp_path / "data", pacs.port, port, "cpu")
        assert main(["--config", str(config), "db", "upgrade"]) == ExitCode.OK
        with open_context(load_settings(config)):
            pass  # the first use creates the keys
        capsys.readouterr()
        assert main(["--config", str(config), "check", "--days", "5000"]) == ExitCode.OK
    lines = _lines(capsys)
    expected = ["database", "pseudonym.key", "linkage.key", "disk", "training device"]
    expected += ["storage port", "PACS C-ECHO", "PACS C-FIND", "PACS C-MOVE"]
    assert list(lines) == expected, lines
    assert all(line.startswith("OK") for line in lines.values()), lines
    assert "1 studies of task lumbar_spine" in lines["PACS C-FIND"]
    sent = re.search(r"the PACS sent (\d+) instances", lines["PACS C-MOVE"])
    assert sent is not None and int(sent[1]) >= 2, lines["PACS C-MOVE"]


def test_a_broken_installation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    (data / "secrets").mkdir(parents=True)
    (data / "secrets" / "linkage.key").write_bytes(b"x" * 44)
    (data / "secrets" / "linkage.key").chmod(0o644)
    config = _config(tmp_path / "broken.toml", data, 9, free_port(), "cuda")
    assert main(["--config", str(config), "check"]) == ExitCode.CHECK_FAILED
    lines = _lines(capsys)
    assert lines["database"].startswith("FAIL") and "pacslabel db upgrade" in lines["database"]
    assert lines["pseudonym.key"].startswith("FAIL") and "missing" in lines["pseudonym.key"]
    assert lines["linkage.key"].startswith("FAIL") and "chmod 600" in lines["linkage.key"]
    assert lines["PACS C-ECHO"].startswith("FAIL") and "pacs.port" in lines["PACS C-ECHO"]
    assert "PACS C-FIND" not in lines  # not tried without the PACS
    if not torch.cuda.is_available():
        assert "training.device = cpu" in lines["training device"]
