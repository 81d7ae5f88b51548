"""Report-text de-identification recall on the simulator's planted identifiers, per type."""

from __future__ import annotations

from pacsbridge import DeidCase, IdentifierKind, KnownIdentifier, deidentify_text, identifier_recall
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
}


def test_every_planted_identifier_type_is_removed() -> None:
    cases = []
    for index in range(400):
        drill = identifier_drill(index, seed=7)
        known = [
            KnownIdentifier(IdentifierKind.PATIENT_ID, drill.patient_id),
            KnownIdentifier(IdentifierKind.ORDER_ID, drill.accession_number),
        ]
        after = deidentify_text(
            drill.draft.text, known, names=[drill.patient_name], date_shift_days=30
        )
        cases.append(DeidCase(drill.draft.text, after, drill.draft.planted))
    recall = identifier_recall(cases)
    assert set(recall) == KINDS
    for kind, (removed, planted) in recall.items():
        assert planted >= 20, kind
        assert removed / planted >= 0.99, f"{kind}: {removed}/{planted}"


def test_the_measure_sees_a_leak() -> None:
    case = DeidCase("Paziente: Mario Rossi.", "Paziente: Mario [NOME].", (("name", "Mario Rossi"),))
    assert identifier_recall([case]) == {"name": (0, 1)}
