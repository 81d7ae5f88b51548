"""What goes back into the PACS is valid (issue 18): every SR we build passes dciodvfy
with no error, including SRs made from the hostile corpus's headers; one that would not
is refused before it is built, for the reasons dciodvfy gives."""

from __future__ import annotations

import dataclasses
import io
import warnings
from pathlib import Path

import hostile
import pytest
from dicom_checks import dciodvfy_errors
from pydicom import dcmread

import pacsbridge.sr
from pacsbridge import (
    FindingCode,
    FindingResult,
    InvalidSR,
    OriginalIdentity,
    build_prediction_sr,
    sr_problems,
)
from simhospital import generate_study

CODES = [FindingCode(f"finding{i}", "SCT", "399981008", "Neoplasm", "x") for i in range(3)]
RESULTS = [FindingResult(code, 0.25 * i, i % 2 == 0) for i, code in enumerate(CODES)]


def _errors(ds: object, path: Path) -> list[str]:
    ds.save_as(path, enforce_file_format=True)  # type: ignore[attr-defined]
    return dciodvfy_errors(path)


def _identities() -> list[OriginalIdentity]:
    study = generate_study(0, seed=3, scale=0.05)
    images = [ds for ds in study.datasets if ds.Modality != "SR"][:2]
    return [OriginalIdentity.from_dataset(ds) for ds in images]


def _build(identities: list[OriginalIdentity]) -> object:
    return build_prediction_sr(
        identities,
        RESULTS,
        algorithm_name="pacslabel ResNet-18",
        algorithm_version="lumbar_spine-resnet18-0123456789ab",
    )


def test_an_ordinary_sr_passes_dciodvfy_and_our_check(tmp_path: Path) -> None:
    sr = _build(_identities())
    assert sr_problems(sr) == []  # type: ignore[arg-type]
    assert _errors(sr, tmp_path / "sr.dcm") == []


def test_padding_and_control_characters_are_normalised(tmp_path: Path) -> None:
    ap, lateral = _identities()
    messy = dataclasses.replace(
        ap,
        patient_name="ROSSI^MARIO^^^ ",
        patient_id="12345\0",
        accession_number=" A1\x07 ",
        modality="dx",
    )
    sr = _build([messy, dataclasses.replace(lateral, patient_name=messy.patient_name)])
    assert str(sr.PatientName) == "ROSSI^MARIO" and sr.PatientID == "12345"  # type: ignore[attr-defined]
    assert _errors(sr, tmp_path / "sr.dcm") == []


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"patient_name": "ROSSI^" + "M" * 10_000}, "PatientName"),
        ({"study_instance_uid": "../../etc/passwd"}, "StudyInstanceUID"),
        ({"sop_instance_uid": "1.2.03.4"}, "SOPInstanceUID"),
        ({"patient_id": "P" * 80}, "PatientID"),
        ({"study_id": "S" * 20}, "StudyID"),
    ],
)
def test_values_dciodvfy_refuses_are_refused_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: dict[str, str], named: str
) -> None:
    ap, lateral = _identities()
    bad = [dataclasses.replace(ap, **change), dataclasses.replace(lateral, **change)]
    with pytest.raises(InvalidSR, match=named):
        _build(bad)
    # Built without our check, dciodvfy finds errors in the same SR.
    monkeypatch.setattr(pacsbridge.sr, "sr_problems", lambda ds, required=True: [])
    monkeypatch.setattr(pacsbridge.sr, "value_problems", lambda values, required=(): [])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        unchecked = _build(bad)
    assert _errors(unchecked, tmp_path / "bad.dcm")


def test_srs_from_the_hostile_corpus_are_valid_or_refused(tmp_path: Path) -> None:
    refused, checked = 0, 0
    for study in hostile.corpus():
        identities = []
        for name, data in study.files.items():
            if not name.endswith(("-ap.dcm", "-lateral.dcm")):
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ds = dcmread(io.BytesIO(data), force=True, stop_before_pixels=True)
                    identities.append(OriginalIdentity.from_dataset(ds))
            except Exception:  # noqa: BLE001 - a file no reader gets a header from
                continue
        if not identities or len({i.study_instance_uid for i in identities}) != 1:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sr = _build(identities)
        except InvalidSR:
            refused += 1
            continue
        except ValueError:
            continue  # no images of one study: never built
        checked += 1
        errors = _errors(sr, tmp_path / f"{study.kind}.dcm")
        assert errors == [], (study.kind, errors)
    assert checked >= 30 and refused >= 2
