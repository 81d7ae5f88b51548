"""The researchers' documented queries on a demo-sized corpus, scored against the
simulator's truth (issue 17).

    .venv/bin/pacslabel --data-dir /tmp/demo demo          # 200 studies, seed 0, scale 0.3
    .venv/bin/python bench/research_queries.py /tmp/demo

Runs every ```sql block of docs/researchers.md on the demo's database (printing how many
rows each returns), then compares ``research_labels`` with the reports the simulator
wrote (the archive is deterministic by seed) and ``research_studies`` with the headers
(age, sex) and the files (image paths). Prints; writes nothing.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from sqlalchemy import text

from pacslabel.context import open_context
from pacslabel.settings import load_settings
from simhospital import generate_study

DOC = Path(__file__).resolve().parent.parent / "docs" / "researchers.md"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=float, default=0.3)
    args = parser.parse_args()
    queries = re.findall(r"```sql\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    with open_context(load_settings(data_dir=args.data_dir)) as ctx:
        truth = {}
        for index in range(args.studies):
            study = generate_study(index, args.seed, scale=args.scale)
            truth[ctx.pseudonymiser.uid(study.study_instance_uid)] = study
        with ctx.engine.connect() as connection:
            for number, sql in enumerate(queries, start=1):
                print(f"documented query {number}: {len(connection.execute(text(sql)).all())} rows")
            labels = connection.execute(
                text("SELECT study_uid, finding, state FROM research_labels")
            ).all()
            studies = connection.execute(
                text("SELECT study_uid, age_years, sex, ap_image FROM research_studies")
            ).all()
    agree = sum(truth[uid].report_states[finding] == state for uid, finding, state in labels)
    print(f"current labels agreeing with the reports: {agree}/{len(labels)}")
    right = 0
    for uid, age, sex, ap in studies:
        study = truth[uid]
        header = next(d for d in study.datasets if d.SOPInstanceUID == study.ap_sop_instance_uid)
        right += (
            age == int(str(header.PatientAge)[:3])
            and sex == study.patient.patient_sex
            and Path(ap).is_file()
        )
    print(f"age, sex and AP image path right: {right}/{len(studies)}")


if __name__ == "__main__":
    main()
