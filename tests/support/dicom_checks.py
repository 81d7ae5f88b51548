"""Checks the tests run on DICOM we write: dciodvfy's errors, and a raw pynetdicom C-STORE
that reports the status instead of raising."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, StoragePresentationContexts

__all__ = ["dciodvfy_errors", "raw_store"]


def dciodvfy_errors(path: Path) -> list[str]:
    """The lines dciodvfy reports as errors for the file at ``path``."""
    if shutil.which("dciodvfy") is None:
        pytest.fail("dciodvfy is not installed: run scripts/ensure-tools")
    done = subprocess.run(
        ["dciodvfy", str(path)], capture_output=True, text=True, errors="replace", timeout=60
    )
    return [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("Error")]


def raw_store(
    ds: Dataset,
    port: int,
    *,
    calling: str,
    called: str = "PACSLABEL",
    source: str = "127.0.0.1",
    originator: int | None = None,
) -> int:
    """C-STORE ``ds`` to 127.0.0.1:``port`` from ``source``; the status (-1: no
    association, -2: no answer)."""
    ae = AE(ae_title=calling)
    ae.requested_contexts = StoragePresentationContexts[:120]
    ae.acse_timeout = ae.network_timeout = 5
    assoc = ae.associate("127.0.0.1", port, ae_title=called, bind_address=(source, 0))
    if not assoc.is_established:
        return -1
    try:
        kwargs = {"originator_aet": calling, "originator_id": originator} if originator else {}
        status = assoc.send_c_store(ds, **kwargs)
        return int(status.Status) if "Status" in status else -2
    finally:
        assoc.release()
