"""The simulated PACS: synthetic lumbar spine studies and a Query/Retrieve SCP serving them.

All test and demo data of pacslabel comes from here; no real patient data
is ever needed.
"""

from pacsbridge.simulator.archive import (
    SimulatedPatient,
    SimulatedStudy,
    generate_archive,
    generate_study,
    simulated_study_uid,
    write_study,
)
from pacsbridge.simulator.findings import FINDINGS, Truth
from pacsbridge.simulator.reports import NoiseRates
from pacsbridge.simulator.scp import SimulatedPACS

__all__ = [
    "FINDINGS",
    "NoiseRates",
    "SimulatedPACS",
    "SimulatedPatient",
    "SimulatedStudy",
    "Truth",
    "generate_archive",
    "generate_study",
    "simulated_study_uid",
    "write_study",
]
