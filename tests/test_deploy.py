"""The deploy files: systemd units that verify, a sandbox rated by ``systemd-analyze
security`` (at most 3.0), a timer that fires, failures that stay visible."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
UNITS = ["pacslabel-serve.service", "pacslabel.service", "pacslabel-failed@.service"]

needs_systemd = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


def _copies(tmp_path: Path) -> Path:
    """The units with the program at a path that exists here (verify checks it)."""
    for path in [*DEPLOY.glob("*.service"), *DEPLOY.glob("*.timer")]:
        text = path.read_text(encoding="utf-8")
        (tmp_path / path.name).write_text(
            text.replace("/opt/pacslabel/.venv/bin/pacslabel", "/bin/true"), encoding="utf-8"
        )
    return tmp_path


@needs_systemd
def test_the_units_verify(tmp_path: Path) -> None:
    folder = _copies(tmp_path)
    names = ["pacslabel-serve.service", "pacslabel.service", "pacslabel.timer"]
    names.append("pacslabel-failed@pacslabel.service.service")
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *names],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and not done.stdout + done.stderr, done.stdout + done.stderr


@needs_systemd
@pytest.mark.parametrize("unit", UNITS)
def test_the_sandbox_is_rated_ok(unit: str) -> None:
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", str(DEPLOY / unit)],
        capture_output=True,
        text=True,
    )
    level = re.search(r"Overall exposure level for \S+: (\d+\.\d)", done.stdout)
    assert level is not None, done.stdout + done.stderr
    assert float(level[1]) <= 3.0, done.stdout


def test_failures_stay_visible_and_the_timer_fires() -> None:
    timer = (DEPLOY / "pacslabel.timer").read_text(encoding="utf-8")
    assert re.search(r"^OnCalendar=\S+", timer, re.M) and "Persistent=true" in timer
    for unit in ("pacslabel-serve.service", "pacslabel.service"):
        text = (DEPLOY / unit).read_text(encoding="utf-8")
        assert "SuccessExitStatus" not in text, unit
        assert "OnFailure=pacslabel-failed@%n.service" in text, unit
        assert "UMask=0077" in text, unit
    serve = (DEPLOY / "pacslabel-serve.service").read_text(encoding="utf-8")
    assert "Type=notify" in serve and "WatchdogSec=" in serve


def test_the_image_and_compose_files() -> None:
    ignored = (DEPLOY.parent / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".venv", "**/secrets", "**/*.key", "**/pacslabel-data"} <= set(ignored)
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^USER pacslabel$", dockerfile, re.M)
    assert "HEALTHCHECK" in dockerfile and "/healthz" in dockerfile
    assert "ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu" in dockerfile
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    for name, service in services.items():
        assert service["restart"] == "unless-stopped", name
        assert "TZ" in service["environment"], name
    for name in ("orthanc", "postgres"):
        assert "healthcheck" in services[name], name
    assert services["pacslabel"]["depends_on"] == {
        "orthanc": {"condition": "service_healthy"},
        "postgres": {"condition": "service_healthy"},
    }
    postgres = services["postgres"]["environment"]
    assert "POSTGRES_HOST_AUTH_METHOD" not in postgres and "POSTGRES_PASSWORD_FILE" in postgres
    assert "127.0.0.1:8042:8042" in services["orthanc"]["ports"]
    orthanc = json.loads((DEPLOY / "orthanc.json").read_text(encoding="utf-8"))
    assert orthanc["AuthenticationEnabled"] is True
