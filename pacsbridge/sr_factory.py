"""Prediction SRs at PACS speed: highdicom builds one *template* per shape of SR (the
findings, how the images fall into series, whether it replaces an earlier SR), with
sentinel values where each study's values go; each SR is then the template with those
values set, checked (:func:`~pacsbridge.sr_check.sr_problems`) and encoded.

Building an SR with highdicom costs about 0.1 s of CPU (it validates every content
item as it goes); setting the values of a template costs a millisecond, and the result
is the same data set (a test compares them element by element).
"""

from __future__ import annotations

import datetime as dt
import io
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from pydicom import dcmwrite
from pydicom.dataset import Dataset
from pydicom.valuerep import DSfloat

from pacsbridge.deid.anonymise import OriginalIdentity
from pacsbridge.report import OWN_MANUFACTURER
from pacsbridge.sr import FindingResult, build_prediction_sr, checked_values
from pacsbridge.sr_check import InvalidSR, sr_problems
from pacsbridge.uids import uid_from

__all__ = ["PredictionSRFactory"]

_ROOT = "1.2.826.0.1.3680043.10.543.999"  # sentinel UIDs: only ever inside a template
_PRESENT, _ABSENT = ("52101004", "Present"), ("272519000", "Absent")


def _sentinel_identity(index: int, series: int, sop_class: str) -> OriginalIdentity:
    return OriginalIdentity(
        patient_name="SENTINELNAME^PN",
        patient_id="SENTINEL-PID",
        patient_birth_date="19000101",
        patient_sex="O",
        study_instance_uid=f"{_ROOT}.1",
        series_instance_uid=f"{_ROOT}.2.{series}",
        sop_instance_uid=f"{_ROOT}.3.{index}",
        sop_class_uid=sop_class,  # highdicom looks the class up: a real one
        accession_number="SENTINELACC",
        study_id="SENTSTUDYID",
        study_date="19000102",
        study_time="010203",
        referring_physician_name="SENTINELREF^PN",
        modality="DX",
    )


@dataclass
class _Template:
    ds: Dataset
    slots: dict[str, list[tuple[Dataset, int]]]
    """What goes where: slot name → (data set, tag) of each element that holds it."""
    codes: list[Dataset]
    """The qualitative evaluations' value items, one per finding, in order."""
    lock: threading.Lock = field(default_factory=threading.Lock)


def _datasets(ds: Dataset) -> list[Dataset]:
    found, pending = [], [ds]
    while pending:
        item = pending.pop()
        found.append(item)
        for element in item:
            if element.VR == "SQ":
                pending.extend(element.value)
    return found


def _slots(ds: Dataset, sentinels: dict[str, str]) -> dict[str, list[tuple[Dataset, int]]]:
    """Where each sentinel value is in ``ds`` (every element holding it, at any depth)."""
    by_value = {value: name for name, value in sentinels.items()}
    slots: dict[str, list[tuple[Dataset, int]]] = {name: [] for name in sentinels}
    for item in _datasets(ds):
        for element in item:
            if element.VR == "SQ" or element.value is None:
                continue
            name = by_value.get(str(element.value))
            if name is None and element.VR in ("DS", "FD"):
                name = by_value.get(f"{float(element.value):.6f}")
            if name is not None:
                slots[name].append((item, int(element.tag)))
    return slots


def _series_pattern(images: Sequence[OriginalIdentity]) -> tuple[int, ...]:
    first_seen: dict[str, int] = {}
    return tuple(first_seen.setdefault(i.series_instance_uid, len(first_seen)) for i in images)


@dataclass
class PredictionSRFactory:
    """Prediction SRs of one model: :meth:`encode` gives the DICOM file bytes of each."""

    algorithm_name: str
    algorithm_version: str
    series_number: int = 990
    manufacturer: str = OWN_MANUFACTURER
    _templates: dict[tuple[object, ...], _Template] = field(default_factory=dict)

    def _sentinels(
        self, pattern: tuple[int, ...], results: Sequence[FindingResult], supersedes: bool
    ) -> dict[str, str]:
        images = [_sentinel_identity(i, s, "") for i, s in enumerate(pattern)]
        names = {
            "name": "SENTINELNAME^PN",
            "pid": "SENTINEL-PID",
            "birth": "19000101",
            "sex": "O",
            "study": f"{_ROOT}.1",
            "accession": "SENTINELACC",
            "study_id": "SENTSTUDYID",
            "study_date": "19000102",
            "study_time": "010203",
            "referring": "SENTINELREF^PN",
            "sop": f"{_ROOT}.5",
            "series": f"{_ROOT}.6",
        }
        for index, image in enumerate(images):
            names[f"image_sop.{index}"] = image.sop_instance_uid
        for series in set(pattern):
            names[f"image_series.{series}"] = f"{_ROOT}.2.{series}"
        for index, result in enumerate(results):
            names[f"tracking.{index}"] = uid_from("tracking", f"{_ROOT}.5", result.finding.key)
            names[f"probability.{index}"] = f"{0.5 + (index + 1) / 1e5:.6f}"
        if supersedes:
            names["old_series"], names["old_sop"] = f"{_ROOT}.7", f"{_ROOT}.8"
        return names

    def _template(
        self,
        pattern: tuple[int, ...],
        classes: tuple[str, ...],
        results: Sequence[FindingResult],
        supersedes: bool,
    ) -> _Template:
        key = (pattern, classes, tuple(r.finding for r in results), supersedes)
        if key in self._templates:
            return self._templates[key]
        sentinels = self._sentinels(pattern, results, supersedes)
        placeholders = [
            replace(result, probability=float(sentinels[f"probability.{i}"]), present=True)
            for i, result in enumerate(results)
        ]
        ds = build_prediction_sr(
            [
                _sentinel_identity(i, s, c)
                for i, (s, c) in enumerate(zip(pattern, classes, strict=True))
            ],
            placeholders,
            algorithm_name=self.algorithm_name,
            algorithm_version=self.algorithm_version,
            sop_instance_uid=sentinels["sop"],
            series_instance_uid=sentinels["series"],
            series_number=self.series_number,
            manufacturer=self.manufacturer,
            supersedes=(sentinels["old_series"], sentinels["old_sop"]) if supersedes else None,
        )
        slots = _slots(ds, sentinels)
        codes = [d for d in _datasets(ds) if d.get("CodeValue") == _PRESENT[0]]
        missing = [name for name, where in slots.items() if not where]
        if missing or len(codes) != len(results):
            raise RuntimeError(f"SR template: no place found for {missing or 'the evaluations'}")
        template = _Template(ds, slots, self._in_order(ds, codes))
        self._templates[key] = template
        return template

    @staticmethod
    def _in_order(ds: Dataset, codes: list[Dataset]) -> list[Dataset]:
        """The evaluation items in content order (the order of the findings)."""
        order: list[int] = []
        pending = [ds]
        while pending:  # depth first, in document order
            item = pending.pop(0)
            order.append(id(item))
            children = [child for e in item if e.VR == "SQ" for child in e.value]
            pending[0:0] = children
        rank = {identity: n for n, identity in enumerate(order)}
        return sorted(codes, key=lambda d: rank[id(d)])

    def encode(
        self,
        images: Sequence[OriginalIdentity],
        results: Sequence[FindingResult],
        *,
        sop_instance_uid: str,
        series_instance_uid: str,
        supersedes: tuple[str, str] | None = None,
    ) -> bytes:
        """The SR of one study as DICOM file bytes (what :func:`build_prediction_sr` would
        build with these arguments, checked the same way).

        Raises
        ------
        InvalidSR
            A value copied from the clinical header breaks DICOM's rules.
        ValueError
            No images, images from several studies, or no results.
        """
        if not images or not results:
            raise ValueError("an SR needs at least one source image and one finding")
        if len({image.study_instance_uid for image in images}) != 1:
            raise ValueError("all source images must belong to one study")
        values = [checked_values(image) for image in images]
        classes = tuple(image["SOPClassUID"][1] for image in values)
        template = self._template(_series_pattern(images), classes, results, supersedes is not None)
        with template.lock:
            self._fill(
                template, images, values, results, sop_instance_uid, series_instance_uid, supersedes
            )
            problems = sr_problems(template.ds)
            if problems:
                raise InvalidSR(problems)
            buffer = io.BytesIO()
            dcmwrite(buffer, template.ds, enforce_file_format=True)
        return buffer.getvalue()

    def _fill(
        self,
        template: _Template,
        images: Sequence[OriginalIdentity],
        values: list[dict[str, tuple[str, str]]],
        results: Sequence[FindingResult],
        sop: str,
        series: str,
        supersedes: tuple[str, str] | None,
    ) -> None:
        first = values[0]
        new = {
            "name": first["PatientName"][1],
            "pid": first["PatientID"][1],
            "birth": first["PatientBirthDate"][1],
            "sex": first["PatientSex"][1],
            "study": first["StudyInstanceUID"][1],
            "accession": first["AccessionNumber"][1],
            "study_id": first["StudyID"][1],
            "study_date": first["StudyDate"][1],
            "study_time": first["StudyTime"][1],
            "referring": first["ReferringPhysicianName"][1],
            "sop": sop,
            "series": series,
        }
        for index, image in enumerate(values):
            new[f"image_sop.{index}"] = image["SOPInstanceUID"][1]
        for index, image in zip(_series_pattern(images), values, strict=True):
            new[f"image_series.{index}"] = image["SeriesInstanceUID"][1]
        for index, result in enumerate(results):
            new[f"tracking.{index}"] = uid_from("tracking", sop, result.finding.key)
            new[f"probability.{index}"] = str(round(float(result.probability), 6))
            value, meaning = _PRESENT if result.present else _ABSENT
            template.codes[index].CodeValue, template.codes[index].CodeMeaning = value, meaning
        if supersedes is not None:
            new["old_series"], new["old_sop"] = supersedes
        for name, where in template.slots.items():
            for item, tag in where:
                element = item[tag]
                if element.VR == "FD":
                    element.value = float(new[name])
                elif element.VR == "DS":
                    element.value = DSfloat(new[name], auto_format=True)
                else:
                    element.value = new[name]
        now = dt.datetime.now()
        ds = template.ds
        ds.InstanceCreationDate = ds.ContentDate = now.strftime("%Y%m%d")
        ds.InstanceCreationTime = ds.ContentTime = now.strftime("%H%M%S.%f")
        for equipment in ds.get("ContributingEquipmentSequence", []):
            equipment.ContributionDateTime = now.strftime("%Y%m%d%H%M%S.%f")
        if any(not str(v).isascii() for v in new.values()):
            ds.SpecificCharacterSet = "ISO_IR 192"
        elif "SpecificCharacterSet" in ds:
            del ds.SpecificCharacterSet
