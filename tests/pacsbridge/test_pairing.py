"""Choosing the standing AP and lateral views."""

from __future__ import annotations

import pytest
import taskfile

from pacsbridge import PairingError, ViewInfo, pair_views

RULES = taskfile.view_rules()


def test_view_position_decides() -> None:
    pair = pair_views([ViewInfo("1", view_position="LL"), ViewInfo("2", view_position="AP")], RULES)
    assert (pair.ap_sop_instance_uid, pair.lateral_sop_instance_uid) == ("2", "1")


def test_descriptions_in_italian_and_english() -> None:
    views = [
        ViewInfo("1", series_description="RACHIDE LOMBARE LATERALE"),
        ViewInfo("2", series_description="L-SPINE AP"),
    ]
    assert pair_views(views, RULES).lateral_sop_instance_uid == "1"


def test_dynamic_views_are_skipped_and_first_acquired_wins() -> None:
    views = [
        ViewInfo(
            "flex",
            view_position="LL",
            series_description="LL IN FLESSIONE",
            acquisition_time="101000",
        ),
        ViewInfo("lat2", view_position="LL", acquisition_time="100500"),
        ViewInfo("lat1", view_position="LL", acquisition_time="100100"),
        ViewInfo("ap", view_position="AP", acquisition_time="100000"),
    ]
    pair = pair_views(views, RULES)
    assert (pair.ap_sop_instance_uid, pair.lateral_sop_instance_uid) == ("ap", "lat1")


def test_orientation_as_last_resort() -> None:
    views = [ViewInfo("1", patient_orientation="A\\F"), ViewInfo("2", patient_orientation="L\\F")]
    pair = pair_views(views, RULES)
    assert (pair.ap_sop_instance_uid, pair.lateral_sop_instance_uid) == ("2", "1")


def test_failure_says_why() -> None:
    views = [
        ViewInfo("1", view_position="AP"),
        ViewInfo("2", series_description="LATERALE IN ESTENSIONE"),
    ]
    with pytest.raises(PairingError, match="no lateral view among 2") as info:
        pair_views(views, RULES)
    assert "estensione" in str(info.value)
