"""`pacslabel simulate --upload` stores the archive into a real PACS (Orthanc)."""

from __future__ import annotations

from pathlib import Path

from peers import Orthanc

from pacslabel.cli import main
from pacslabel.errors import ExitCode


def test_simulate_and_upload_into_orthanc(tmp_path: Path, orthanc: Orthanc) -> None:
    out = tmp_path / "archive"
    code = main(
        [
            "--data-dir",
            str(tmp_path / "data"),
            "--log-level",
            "WARNING",
            "simulate",
            "--studies",
            "4",
            "--out",
            str(out),
            "--scale",
            "0.1",
            "--workers",
            "1",
            "--upload",
            f"ORTHANC@127.0.0.1:{orthanc.dicom_port}",
        ]
    )
    assert code == ExitCode.OK
    files = list((out / "dicom").rglob("*.dcm"))
    assert len(orthanc.get("/instances")) == len(files)
    assert len(orthanc.get("/studies")) == 4
