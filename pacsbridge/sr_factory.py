"""Prediction SRs at PACS speed: highdicom builds one *template* per shape of SR (the
findings, how the images fall into series, whether it replaces an earlier SR), with
sentinel values where each study's values go; the template is checked once
(:func:`~pacsbridge.sr_check.sr_problems`), and each SR is the template with the
study's values set — each of them checked against its VR
(:func:`~pacsbridge.sr_check.value_problems`) — and encoded.

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
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element, write_dataset, write_file_meta_info
from pydicom.uid import UID, ExplicitVRLittleEndian
from pydicom.valuerep import DSfloat

from pacsbridge.deid.deidentify import OriginalIdentity
from pacsbridge.report import OWN_MANUFACTURER
from pacsbridge.sr import FindingResult, build_prediction_sr, checked_values
from pacsbridge.sr_check import InvalidSR, sr_problems, value_problems
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


def _encoded(tag: int, vr: str, value: object) -> bytes:
    """One data element as Explicit VR Little Endian bytes."""
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, False
    write_data_element(fp, DataElement(tag, vr, value))
    return fp.getvalue()


def _typed(vr: str, value: str) -> object:
    if vr == "FD":
        return float(value)
    if vr == "DS":
        return DSfloat(value, auto_format=True)
    return value


@dataclass
class _Template:
    ds: Dataset
    slots: dict[str, list[tuple[Dataset, int]]]
    """What goes where: slot name → (data set, tag) of each element that holds it."""
    codes: list[Dataset]
    """The qualitative evaluations' value items, one per finding, in order."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    body: bytes = b""
    """The data set encoded (Explicit VR Little Endian, sequences and items of undefined
    length, so that a value of another length changes no enclosing length)."""
    places: list[tuple[int, int, str, int, str]] = field(default_factory=list)
    """(offset, length, slot name, tag, VR) of each slot's element in :attr:`body`."""

    def spliced(self, new: dict[str, str], sop: str) -> bytes:
        """The SR file with ``new`` values: the body's slot elements replaced, a file meta
        of its own."""
        parts, at = [], 0
        for offset, length, name, tag, vr in self.places:
            parts += [self.body[at:offset], _encoded(tag, vr, _typed(vr, new[name]))]
            at = offset + length
        parts.append(self.body[at:])
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = self.ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = UID(sop)
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        head = DicomBytesIO()
        head.write(b"\0" * 128 + b"DICM")
        write_file_meta_info(head, meta, enforce_standard=True)
        return head.getvalue() + b"".join(parts)

    def locate(self) -> bool:
        """Encode the template and find every slot's element in it; ``False`` when some
        cannot be told apart (the data set path is used then)."""
        for item in _datasets(self.ds):
            item.is_undefined_length_sequence_item = True
            for element in item:
                if element.VR == "SQ":
                    element.is_undefined_length = True
        fp = DicomBytesIO()
        fp.is_little_endian, fp.is_implicit_VR = True, False
        write_dataset(fp, self.ds)
        self.body = fp.getvalue()
        wanted: dict[tuple[str, int, str], int] = {}
        for name, where in self.slots.items():
            for item, tag in where:
                key = (name, tag, item[tag].VR)
                wanted[key] = wanted.get(key, 0) + 1
        for index in range(len(self.codes)):
            wanted[(f"code.{index}", 0x00080100, "SH")] = 1
            wanted[(f"meaning.{index}", 0x00080104, "LO")] = 1
        return self._find(wanted)

    def _find(self, wanted: dict[tuple[str, int, str], int]) -> bool:
        places: list[tuple[int, int, str, int, str]] = []
        codes: dict[tuple[int, str], list[str]] = {}
        for (name, tag, vr), count in wanted.items():
            if name.startswith(("code.", "meaning.")):
                codes.setdefault((tag, vr), []).append(name)
                continue
            element = self._sentinel_element(name, tag)
            found = _occurrences(self.body, element)
            if len(found) != count:
                return False
            places += [(offset, len(element), name, tag, vr) for offset in found]
        for (tag, vr), names in codes.items():
            value = _PRESENT[0] if tag == 0x00080100 else _PRESENT[1]
            element = _encoded(tag, vr, value)
            found = _occurrences(self.body, element)
            if len(found) != len(names):
                return False
            ordered = sorted(names, key=lambda n: int(n.split(".")[1]))
            places += [(o, len(element), n, tag, vr) for o, n in zip(found, ordered, strict=True)]
        self.places = sorted(places)
        return len({p[0] for p in places}) == len(places)

    def _sentinel_element(self, name: str, tag: int) -> bytes:
        item, _ = next((i, t) for i, t in self.slots[name] if t == tag)
        element = item[tag]
        return _encoded(tag, element.VR, element.value)


def _occurrences(data: bytes, pattern: bytes) -> list[int]:
    found, start = [], data.find(pattern)
    while start >= 0:
        found.append(start)
        start = data.find(pattern, start + 1)
    return found


def _datasets(ds: Dataset) -> list[Dataset]:
    """``ds`` and every item under it, in document order."""
    found = [ds]
    for element in ds:
        if element.VR == "SQ":
            for item in element.value:
                found += _datasets(item)
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
            "date": "19000103",
            "time": "111111.111111",
            "datetime": "19000105111111.111111",
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
        ds.InstanceCreationDate = ds.ContentDate = sentinels["date"]
        ds.InstanceCreationTime = ds.ContentTime = sentinels["time"]
        for equipment in ds.get("ContributingEquipmentSequence", []):
            equipment.ContributionDateTime = sentinels["datetime"]
        problems = sr_problems(ds)  # the structure, once: only the slots' values change
        if problems:
            raise RuntimeError(f"SR template invalid: {problems}")
        slots = _slots(ds, sentinels)
        codes = [d for d in _datasets(ds) if d.get("CodeValue") == _PRESENT[0]]
        missing = [name for name, where in slots.items() if not where]
        if missing or len(codes) != len(results):
            raise RuntimeError(f"SR template: no place found for {missing or 'the evaluations'}")
        template = _Template(ds, slots, codes)  # in document order: the findings'
        if not template.locate():  # some value could not be told apart: the data set path
            template.places = []
        self._templates[key] = template
        return template

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
        values = [checked_values(image) for image in images]  # what the SR copies
        ours = {
            "SOPInstanceUID": ("UI", sop_instance_uid),
            "SeriesInstanceUID": ("UI", series_instance_uid),
        }
        if supersedes is not None:
            ours |= {
                "PredecessorSeries": ("UI", supersedes[0]),
                "PredecessorSOP": ("UI", supersedes[1]),
            }
        problems = value_problems(ours, ("SOPInstanceUID", "SeriesInstanceUID"))
        if problems:
            raise InvalidSR(problems)
        classes = tuple(image["SOPClassUID"][1] for image in values)
        template = self._template(_series_pattern(images), classes, results, supersedes is not None)
        new = self._new_values(
            images, values, results, sop_instance_uid, series_instance_uid, supersedes
        )
        if template.places and all(value.isascii() for value in new.values()):
            return template.spliced(new, sop_instance_uid)
        with template.lock:
            self._fill(template, new)
            buffer = io.BytesIO()
            dcmwrite(buffer, template.ds, enforce_file_format=True)
            del template.ds.SpecificCharacterSet
        return buffer.getvalue()

    @staticmethod
    def _new_values(
        images: Sequence[OriginalIdentity],
        values: list[dict[str, tuple[str, str]]],
        results: Sequence[FindingResult],
        sop: str,
        series: str,
        supersedes: tuple[str, str] | None,
    ) -> dict[str, str]:
        """Slot name → this study's value."""
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
            new[f"code.{index}"], new[f"meaning.{index}"] = value, meaning
        if supersedes is not None:
            new["old_series"], new["old_sop"] = supersedes
        now = dt.datetime.now()
        new["date"], new["time"] = now.strftime("%Y%m%d"), now.strftime("%H%M%S.%f")
        new["datetime"] = now.strftime("%Y%m%d%H%M%S.%f")
        return new

    @staticmethod
    def _fill(template: _Template, new: dict[str, str]) -> None:
        """Set the study's values into the template's data set (the slow path, for values
        beyond ASCII)."""
        for index, item in enumerate(template.codes):
            item.CodeValue, item.CodeMeaning = new[f"code.{index}"], new[f"meaning.{index}"]
        for name, where in template.slots.items():
            for item, tag in where:
                element = item[tag]
                if element.VR == "FD":
                    element.value = float(new[name])
                elif element.VR == "DS":
                    element.value = DSfloat(new[name], auto_format=True)
                else:
                    element.value = new[name]
        ds = template.ds
        ds.InstanceCreationDate = ds.ContentDate = new["date"]
        ds.InstanceCreationTime = ds.ContentTime = new["time"]
        for equipment in ds.get("ContributingEquipmentSequence", []):
            equipment.ContributionDateTime = new["datetime"]
        ds.SpecificCharacterSet = "ISO_IR 192"  # this path is taken for values beyond ASCII
