"""SRs from a template are the SRs highdicom builds (issue 18: write-back speed)."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest
from dicom_checks import dciodvfy_errors
from pydicom import dcmread
from pydicom.dataset import Dataset

from pacsbridge import (
    FindingCode,
    FindingResult,
    InvalidSR,
    OriginalIdentity,
    PredictionSRFactory,
    build_prediction_sr,
)
from simhospital import generate_study

CODES = [FindingCode(f"finding{i}", "SCT", f"39998100{i}", f"Finding {i}", "x") for i in range(12)]
_MOMENTS = {
    "InstanceCreationDate",
    "InstanceCreationTime",
    "ContentDate",
    "ContentTime",
    "ContributionDateTime",
}


def _flat(ds: Dataset, path: str = "") -> dict[str, str]:
    out = {}
    for element in ds:
        where = f"{path}{element.keyword}"
        if element.VR == "SQ":
            for index, item in enumerate(element.value):
                out |= _flat(item, f"{where}[{index}].")
        elif element.keyword not in _MOMENTS:
            out[where] = str(element.value)
    return out


def _images(index: int, *, same_series: bool = False) -> list[OriginalIdentity]:
    study = generate_study(index, seed=13, scale=0.05)
    found = [OriginalIdentity.from_dataset(ds) for ds in study.datasets if ds.Modality != "SR"]
    images = found[:2]
    if same_series:
        images[1] = dataclasses.replace(
            images[1], series_instance_uid=images[0].series_instance_uid
        )
    return images


@pytest.mark.parametrize("same_series", [False, True])
@pytest.mark.parametrize("supersedes", [None, ("2.25.7", "2.25.8")])
def test_template_srs_equal_highdicom_srs(
    same_series: bool, supersedes: tuple[str, str] | None
) -> None:
    factory = PredictionSRFactory("pacslabel ResNet-18", "lumbar_spine-resnet18-abc")
    for index in range(3):  # the template is reused: no value of one study leaks into the next
        images = _images(index, same_series=same_series)
        results = [
            FindingResult(code, (index * 7 + j) / 23, (index + j) % 3 == 0)
            for j, code in enumerate(CODES)
        ]
        arguments = {
            "sop_instance_uid": f"2.25.{index + 1}1",
            "series_instance_uid": f"2.25.{index + 1}2",
            "supersedes": supersedes,
        }
        fast = dcmread(io.BytesIO(factory.encode(images, results, **arguments)))  # type: ignore[arg-type]
        slow = build_prediction_sr(
            images,
            results,
            algorithm_name="pacslabel ResNet-18",
            algorithm_version="lumbar_spine-resnet18-abc",
            **arguments,
        )  # type: ignore[arg-type]
        assert _flat(fast) == _flat(slow)
    assert all(t.places for t in factory._templates.values())  # the byte-level path was used


def test_the_factory_checks_as_the_builder_does() -> None:
    factory = PredictionSRFactory("pacslabel ResNet-18", "v1")
    images = _images(0)
    results = [FindingResult(CODES[0], 0.4, False)]
    factory.encode(images, results, sop_instance_uid="2.25.1", series_instance_uid="2.25.2")
    long_name = [dataclasses.replace(i, patient_name="X" * 70) for i in images]
    with pytest.raises(InvalidSR, match="PatientName"):
        factory.encode(long_name, results, sop_instance_uid="2.25.3", series_instance_uid="2.25.4")
    accented = [dataclasses.replace(i, patient_name="NICOLÒ^GIOVANNI") for i in images]
    data = factory.encode(
        accented, results, sop_instance_uid="2.25.5", series_instance_uid="2.25.6"
    )
    read = dcmread(io.BytesIO(data))
    assert read.SpecificCharacterSet == "ISO_IR 192" and str(read.PatientName) == "NICOLÒ^GIOVANNI"
    again = dcmread(
        io.BytesIO(
            factory.encode(images, results, sop_instance_uid="2.25.7", series_instance_uid="2.25.8")
        )
    )
    assert "SpecificCharacterSet" not in again


def test_a_template_sr_passes_dciodvfy(tmp_path: Path) -> None:
    factory = PredictionSRFactory("pacslabel ResNet-18", "lumbar_spine-resnet18-abc")
    results = [FindingResult(code, j / 13, j % 2 == 0) for j, code in enumerate(CODES)]
    path = tmp_path / "sr.dcm"
    path.write_bytes(
        factory.encode(
            _images(1),
            results,
            sop_instance_uid="2.25.91",
            series_instance_uid="2.25.92",
            supersedes=("2.25.3", "2.25.4"),
        )
    )
    errors = dciodvfy_errors(path)
    assert errors == []
