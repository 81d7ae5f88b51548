"""The simulated devices burn the patient's identity into the pixels, as some do."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from simhospital import BURNED_IN_RATE, generate_study, write_archive
from tests.app.conftest import DEMO_BURNED, DEMO_STUDIES


def test_the_demo_archive_burns_text_into_the_studies_the_tests_expect() -> None:
    burned = [
        i
        for i in range(DEMO_STUDIES)
        if generate_study(i, 0, scale=0.05, burned_in_rate=BURNED_IN_RATE).burned_in
    ]
    assert tuple(burned) == DEMO_BURNED


def test_burned_studies_carry_text_pixels_and_say_so_only_when_flagged() -> None:
    seen = set()
    for index in range(40):
        burned = generate_study(index, 5, scale=0.25, burned_in_rate=0.5)
        if not burned.burned_in:
            continue
        clean = generate_study(index, 5, scale=0.25, burned_in_rate=0.0)
        assert burned.report_text == clean.report_text  # the rest of the study is the same
        for with_text, without in zip(burned.datasets[:2], clean.datasets[:2], strict=True):
            changed = with_text.pixel_array != without.pixel_array
            assert changed.any() and changed.mean() < 0.1  # text, not the whole image
            flag = with_text.get("BurnedInAnnotation")
            assert (flag == "YES") == (burned.burned_in == "flagged"), (flag, burned.burned_in)
        seen.add(burned.burned_in)
    assert seen == {"flagged", "unflagged"}


def test_the_truth_table_says_which(tmp_path: Path) -> None:
    write_archive(tmp_path, 12, seed=3, scale=0.1, workers=1, burned_in_rate=0.5)
    with (tmp_path / "truth" / "studies.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    kinds = {row["burned_in"] for row in rows}
    assert kinds <= {"", "flagged", "unflagged"} and len(kinds) > 1
    assert all(bool(row["burned_in_layout"]) == bool(row["burned_in"]) for row in rows)
    assert np.mean([bool(row["burned_in"]) for row in rows]) > 0
