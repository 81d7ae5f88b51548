"""Recall of report-text de-identification on the simulator's planted identifiers (issue 5).

    .venv/bin/python bench/deid_text.py --reports 3000

Reports are written by the simulated radiologist with every kind of identifier
planted often (name, date, codice fiscale, phone, e-mail, address, patient ID,
accession number), then de-identified twice: as pacslabel does (the DICOM
header's name, patient ID and accession number are known) and with the text
patterns alone. Recall = identifiers no longer in the text / identifiers planted.
"""

from __future__ import annotations

import argparse

from _report import write_section

from labeller import DeidCase, deidentify_report, identifier_recall
from simhospital.reports import identifier_drill


def cases(count: int, with_header: bool) -> list[DeidCase]:
    out = []
    for index in range(count):
        drill = identifier_drill(index)
        after = deidentify_report(
            drill.draft.text,
            names=[drill.patient_name] if with_header else [],
            identifiers=[drill.patient_id, drill.accession_number] if with_header else [],
            date_shift_days=1 + index % 365,
        )
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
        "## Report-text de-identification recall\n\n"
        f"`.venv/bin/python bench/deid_text.py --reports {args.reports}`\n\n"
        f"{args.reports} simulated Italian reports with planted identifiers (10% written in "
        "capitals, with typing and speech errors elsewhere in the text).\n\n"
        "| identifier | planted | recall, as pacslabel runs (header known) "
        "| recall, text patterns alone |\n"
        "|---|---|---|---|\n" + "\n".join(rows)
    )
    print(body)
    if not args.no_write:
        write_section("deid_text", body)


if __name__ == "__main__":
    main()
