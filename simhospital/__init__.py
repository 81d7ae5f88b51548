"""simhospital: the simulated hospital in which pacslabel is demonstrated and tested.

Synthetic lumbar spine studies (AP and lateral radiographs rendered from a
spine phantom by five vendors' detectors, Italian reports in many house
styles, PDFs and RIS drops), the ground truth of what each image shows and
each report says, the human annotation sets in the reference study's
proportions, and a Query/Retrieve SCP serving them. All test and demo data
of pacslabel comes from here; no real patient data is ever needed.

It is a sibling of the product packages, built only on :mod:`pacsbridge`'s
public API; it is not part of the loop a hospital runs. See
:mod:`simhospital.writer` for the archive layout on disk.
"""

from simhospital.dicom import (
    BURNED_IN_RATE,
    INSTITUTION,
    SimulatedPatient,
    SimulatedStudy,
    generate_study,
    simulated_study_uid,
    write_study,
)
from simhospital.imaging.gallery import render_gallery
from simhospital.pacs import SimulatedPACS
from simhospital.reports import DEFAULT_NOISE, NoiseRates, codice_fiscale
from simhospital.truth import ANNOTATION_SETS, FINDINGS, AnnotationPlan, Truth, assign_sets
from simhospital.writer import ArchiveSummary, write_archive

__all__ = [
    "ANNOTATION_SETS",
    "BURNED_IN_RATE",
    "DEFAULT_NOISE",
    "FINDINGS",
    "INSTITUTION",
    "AnnotationPlan",
    "ArchiveSummary",
    "NoiseRates",
    "SimulatedPACS",
    "SimulatedPatient",
    "SimulatedStudy",
    "Truth",
    "assign_sets",
    "codice_fiscale",
    "generate_study",
    "render_gallery",
    "simulated_study_uid",
    "write_archive",
    "write_study",
]
