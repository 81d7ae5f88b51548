"""Free-text de-identification recall on the simulator's planted identifiers, per type:
the patient's, and those of the rest of the header."""

from __future__ import annotations

from pydicom.dataset import Dataset

from pacsbridge import DeidCase, deidentify_text, header_identifiers, identifier_recall
from simhospital.reports import identifier_drill

KINDS = {
    "name",
    "date",
    "codice_fiscale",
    "phone",
    "email",
    "address",
    "patient_id",
    "accession_number",
    "referring_physician",
    "institution",
    "department",
    "station",
    "device_serial",
    "other_patient_id",
    "header_phone",
    "header_address",
}


def test_every_planted_identifier_type_is_removed() -> None:
    cases = []
    for index in range(400):
        drill = identifier_drill(index, seed=7)
        header = Dataset()
        header.PatientName = drill.patient_name
        header.PatientID = drill.patient_id
        header.AccessionNumber = drill.accession_number
        for keyword, value in drill.header:
            setattr(header, keyword, value)
        after = deidentify_text(drill.draft.text, header_identifiers(header), date_shift_days=30)
        cases.append(DeidCase(drill.draft.text, after, drill.draft.planted))
    recall = identifier_recall(cases)
    assert set(recall) == KINDS
    for kind, (removed, planted) in recall.items():
        assert planted >= 20, kind
        assert removed / planted >= 0.99, f"{kind}: {removed}/{planted}"


def test_the_measure_sees_a_leak() -> None:
    case = DeidCase("Paziente: Mario Rossi.", "Paziente: Mario [NOME].", (("name", "Mario Rossi"),))
    assert identifier_recall([case]) == {"name": (0, 1)}
