"""Writing a simulated archive to disk: DICOM files and the ground-truth tables.

Layout of ``out``::

    dicom/<StudyInstanceUID>/<SOPInstanceUID>.dcm
    ris/<AccessionNumber>.txt  reports the RIS keeps outside the PACS (5% of studies)
    truth/studies.csv          one row per study: identity, vendor, views, annotation set,
                               text burned into the pixels (burned_in: unflagged/flagged)
    truth/image_truth.csv      severity (0–3) of each finding in the standing AP + lateral
                               pair, and of the disease (``disease_<finding>``)
    truth/report_truth.csv     what each report says: positive/negative/uncertain/not_mentioned
    truth/reports.csv          the report text as written (with its identifiers)
    truth/identifiers.csv      identifiers planted in report text (type, value)
    truth/annotations/report_train.csv, report_test.csv    human report labels (four states)
    truth/annotations/image_tuning.csv, image_test.csv     human image labels (0/1)

The truth folder identifies (simulated) patients: it is the clinical side.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simhospital.dicom import BURNED_IN_RATE, SimulatedStudy, generate_study, write_study
from simhospital.reports import DEFAULT_NOISE, NoiseRates
from simhospital.truth.annotations import PAPER_PLAN, AnnotationPlan, assign_sets
from simhospital.truth.findings import FINDINGS

__all__ = ["ArchiveSummary", "write_archive"]


@dataclass(frozen=True, slots=True)
class ArchiveSummary:
    studies: int
    instances: int
    bytes_written: int
    dicom_dir: Path
    truth_dir: Path


def _rows(study: SimulatedStudy, annotation_set: str, paths: list[Path]) -> dict[str, Any]:
    uid = study.study_instance_uid
    return {
        "study": {
            "index": study.index,
            "study_instance_uid": uid,
            "accession_number": study.accession_number,
            "patient_id": study.patient.patient_id,
            "patient_name": study.patient.patient_name,
            "patient_birth_date": study.patient.patient_birth_date,
            "patient_sex": study.patient.patient_sex,
            "age": study.truth.age,
            "study_date": study.study_date,
            "vendor": study.vendor,
            "views": ";".join(study.views),
            "report_source": study.report_source,
            "burned_in": study.burned_in,
            "burned_in_layout": study.burned_in_layout,
            "implant": study.truth.implant,
            "annotation_set": annotation_set,
            "ap_sop_instance_uid": study.ap_sop_instance_uid,
            "lateral_sop_instance_uid": study.lateral_sop_instance_uid,
        },
        "image": {
            "study_instance_uid": uid,
            **{key: study.image_truth[key] for key in FINDINGS},
            **{f"disease_{key}": study.truth.severity[key] for key in FINDINGS},
        },
        "report": {
            "study_instance_uid": uid,
            "accession_number": study.accession_number,
            **{key: study.report_states[key] for key in FINDINGS},
        },
        "text": {
            "study_instance_uid": uid,
            "accession_number": study.accession_number,
            "text": study.report_text,
        },
        "identifiers": [
            {"study_instance_uid": uid, "type": kind, "value": value}
            for kind, value in study.planted_identifiers
        ],
        "set": annotation_set,
        "instances": len(paths),
        "bytes": sum(path.stat().st_size for path in paths),
    }


#: One study to write: index, seed, scale, noise, annotation set, folder, burned-in rate.
_Job = tuple[int, int, float, NoiseRates, str, str, float]


def _work(job: _Job) -> dict[str, Any]:
    index, seed, scale, noise, annotation_set, folder, burned_in_rate = job
    study = generate_study(index, seed, scale=scale, noise=noise, burned_in_rate=burned_in_rate)
    paths = write_study(
        study, Path(folder) / study.study_instance_uid, ris_dir=Path(folder).parent / "ris"
    )
    return _rows(study, annotation_set, paths)


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


class _Tables:
    def __init__(self, truth: Path) -> None:
        (truth / "annotations").mkdir(parents=True, exist_ok=True)
        self._files: dict[str, Any] = {}
        self._writers: dict[str, csv.DictWriter[str]] = {}
        self._truth = truth

    def write(self, name: str, row: dict[str, Any]) -> None:
        if name not in self._writers:
            handle = (self._truth / f"{name}.csv").open("w", newline="", encoding="utf-8")
            self._files[name] = handle
            self._writers[name] = csv.DictWriter(handle, fieldnames=list(row))
            self._writers[name].writeheader()
        self._writers[name].writerow(row)

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()


def write_archive(
    out: Path,
    count: int,
    seed: int = 0,
    *,
    scale: float = 1.0,
    workers: int = 0,
    plan: AnnotationPlan = PAPER_PLAN,
    noise: NoiseRates = DEFAULT_NOISE,
    on_study: Callable[[], None] | None = None,
    burned_in_rate: float = BURNED_IN_RATE,
) -> ArchiveSummary:
    """Generate ``count`` studies into ``out`` (see the module doc for the layout).

    Parameters
    ----------
    workers
        Processes to generate with; 0 uses every CPU core.
    on_study
        Called after each study is written (progress).
    burned_in_rate
        The share of studies with the patient's identity burned into the pixels.
    """
    dicom, truth = out / "dicom", out / "truth"
    dicom.mkdir(parents=True, exist_ok=True)
    sets = assign_sets(count, seed, plan)
    jobs = [(i, seed, scale, noise, sets[i], str(dicom), burned_in_rate) for i in range(count)]
    tables = _Tables(truth)
    instances = written = 0
    try:
        for rows in _results(jobs, workers or os.cpu_count() or 1):
            tables.write("studies", rows["study"])
            tables.write("image_truth", rows["image"])
            tables.write("report_truth", rows["report"])
            tables.write("reports", rows["text"])
            for identifier in rows["identifiers"]:
                tables.write("identifiers", identifier)
            if rows["set"] in ("report_train", "report_test"):
                tables.write(f"annotations/{rows['set']}", rows["report"])
            elif rows["set"] in ("image_tuning", "image_test"):
                image = {
                    key: value
                    for key, value in rows["image"].items()
                    if not key.startswith("disease_")
                }
                labels = {
                    key: int(value > 0) if key in FINDINGS else value
                    for key, value in image.items()
                }
                tables.write(f"annotations/{rows['set']}", labels)
            instances += rows["instances"]
            written += rows["bytes"]
            if on_study is not None:
                on_study()
    finally:
        tables.close()
    if not (truth / "identifiers.csv").exists():
        (truth / "identifiers.csv").write_text("study_instance_uid,type,value\n")
    return ArchiveSummary(count, instances, written, dicom, truth)


def _results(jobs: list[_Job], workers: int) -> Iterator[dict[str, Any]]:
    if workers == 1:
        yield from map(_work, jobs)
        return
    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker) as pool:
        yield from pool.map(_work, jobs, chunksize=4)
