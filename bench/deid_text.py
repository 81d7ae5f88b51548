"""Recall of free-text de-identification on the simulator's planted identifiers (issues 5, 11).

    .venv/bin/python bench/deid_text.py --reports 3000

Reports are written by the simulated radiologist with every kind of identifier
planted often: the patient's name, dates, codice fiscale, phone, e-mail,
address, patient ID and accession number, and identifiers the study's header
holds besides the patient's (the referring physician, institution, department,
station, device serial number, another patient ID, the header's phone and
address), written as people write them (the header's spelling or a shorter
one). Each is de-identified twice: as pacslabel does (every identifier of the
header known, collected by `pacsbridge.header_identifiers` from a header holding
them) and with the text patterns alone. Recall = identifiers no longer in the
text / identifiers planted. The reports and the header come from the project's
own simulator: the figure measures the code against its own generator; the
hand-written adversarial studies of tests/support are the independent check.
"""

from __future__ import annotations

import argparse

from _report import write_section
from pydicom.dataset import Dataset

from pacsbridge import DeidCase, deidentify_text, header_identifiers, identifier_recall
from simhospital.reports import identifier_drill


def _header(drill: object) -> Dataset:
    ds = Dataset()
    ds.PatientName = drill.patient_name  # type: ignore[attr-defined]
    ds.PatientID = drill.patient_id  # type: ignore[attr-defined]
    ds.AccessionNumber = drill.accession_number  # type: ignore[attr-defined]
    for keyword, value in drill.header:  # type: ignore[attr-defined]
        setattr(ds, keyword, value)
    return ds


def cases(count: int, with_header: bool) -> list[DeidCase]:
    out = []
    for index in range(count):
        drill = identifier_drill(index)
        known = header_identifiers(_header(drill)) if with_header else ()
        after = deidentify_text(drill.draft.text, known, date_shift_days=1 + index % 365)
        out.append(DeidCase(drill.draft.text, after, drill.draft.planted))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reports", type=int, default=3000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    full = identifier_recall(cases(args.reports, with_header=True))
    alone = identifier_recall(cases(args.reports, with_header=False))
    rows = [
        f"| {kind} | {planted} | {removed / planted:.3f} | {alone[kind][0] / alone[kind][1]:.3f} |"
        for kind, (removed, planted) in full.items()
    ]
    body = (
        "## Free-text de-identification recall\n\n"
        f"`.venv/bin/python bench/deid_text.py --reports {args.reports}`\n\n"
        f"{args.reports} simulated Italian reports with planted identifiers (10% written in "
        "capitals, with typing and speech errors elsewhere in the text), the patient's and "
        "those of the rest of the header (physician, institution, department, station, "
        "device, other IDs, the header's phone and address). Simulated: the code measured "
        "against its own generator; the hand-written studies of tests/support "
        "(`tests/integration/test_deid_adversarial.py`) are the independent check.\n\n"
        "| identifier | planted | recall, as pacslabel runs (header known) "
        "| recall, text patterns alone |\n"
        "|---|---|---|---|\n" + "\n".join(rows)
    )
    print(body)
    if not args.no_write:
        write_section("deid_text", body)


if __name__ == "__main__":
    main()
