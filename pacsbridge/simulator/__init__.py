"""The simulated hospital: synthetic lumbar spine studies, their ground truth, and a
Query/Retrieve SCP serving them.

All test and demo data of pacslabel comes from here; no real patient data is
ever needed. See :mod:`pacsbridge.simulator.writer` for the archive layout on disk.
"""

from pacsbridge.simulator.annotations import ANNOTATION_SETS, AnnotationPlan, assign_sets
from pacsbridge.simulator.archive import (
    SimulatedPatient,
    SimulatedStudy,
    generate_archive,
    generate_study,
    simulated_study_uid,
    write_study,
)
from pacsbridge.simulator.findings import FINDINGS, Truth
from pacsbridge.simulator.gallery import render_gallery
from pacsbridge.simulator.reports import DEFAULT_NOISE, NoiseRates, codice_fiscale
from pacsbridge.simulator.scp import SimulatedPACS
from pacsbridge.simulator.writer import ArchiveSummary, write_archive

__all__ = [
    "ANNOTATION_SETS",
    "DEFAULT_NOISE",
    "FINDINGS",
    "AnnotationPlan",
    "ArchiveSummary",
    "NoiseRates",
    "SimulatedPACS",
    "SimulatedPatient",
    "SimulatedStudy",
    "Truth",
    "assign_sets",
    "codice_fiscale",
    "generate_archive",
    "generate_study",
    "render_gallery",
    "simulated_study_uid",
    "write_archive",
    "write_study",
]
