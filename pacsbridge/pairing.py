"""Pairing: choose the standing AP and lateral images of a study.

Each image gets a role from, in order of trust: words that exclude it
(flexion, extension, supine, oblique …) in its series description or
protocol name; ViewPosition (PS3.3 C.8.11.5); series/protocol description
words (Italian and English, from the task); PatientOrientation (PS3.3
C.7.6.1.1.1: an AP/PA image has its rows along the patient's left–right axis,
a lateral one along anterior–posterior). When several images have a role,
the first acquired (acquisition time, then instance number) is taken: the
standing views come before the dynamic ones in a lumbar series.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydicom.dataset import Dataset

from pacsbridge.errors import PairingError
from pacsbridge.values import lenient_int

__all__ = ["Pair", "ViewInfo", "ViewRules", "classify_view", "pair_views"]

Role = Literal["ap", "lateral", "excluded", "unknown"]


@dataclass(frozen=True, slots=True)
class ViewRules:
    """How a task recognises its views (from the task definition)."""

    ap_view_positions: tuple[str, ...]
    ap_words: tuple[str, ...]
    lateral_view_positions: tuple[str, ...]
    lateral_words: tuple[str, ...]
    excluded_words: tuple[str, ...] = ()

    @classmethod
    def from_mapping(cls, views: Mapping[str, Any]) -> ViewRules:
        """From a task file's ``[views]`` table: ``ap`` and ``lateral`` with
        ``view_positions`` and ``description_words``, ``excluded`` with
        ``description_words``."""
        ap, lateral = views["ap"], views["lateral"]
        return cls(
            ap_view_positions=tuple(ap.get("view_positions", ())),
            ap_words=tuple(ap["description_words"]),
            lateral_view_positions=tuple(lateral.get("view_positions", ())),
            lateral_words=tuple(lateral["description_words"]),
            excluded_words=tuple(views.get("excluded", {}).get("description_words", ())),
        )


@dataclass(frozen=True, slots=True)
class ViewInfo:
    """The header attributes pairing looks at, for one image."""

    sop_instance_uid: str
    view_position: str = ""
    series_description: str = ""
    protocol_name: str = ""
    patient_orientation: str = ""
    image_laterality: str = ""
    acquisition_time: str = ""
    instance_number: int = 0

    @classmethod
    def from_dataset(cls, ds: Dataset) -> ViewInfo:
        orientation = ds.get("PatientOrientation", "")
        if not isinstance(orientation, str):
            orientation = "\\".join(str(part) for part in orientation)
        number = ds.get("InstanceNumber")
        return cls(
            sop_instance_uid=str(ds.SOPInstanceUID),
            view_position=str(ds.get("ViewPosition", "") or ""),
            series_description=str(ds.get("SeriesDescription", "") or ""),
            protocol_name=str(ds.get("ProtocolName", "") or ""),
            patient_orientation=orientation,
            image_laterality=str(ds.get("ImageLaterality", "") or ""),
            acquisition_time=str(ds.get("AcquisitionTime", "") or ds.get("ContentTime", "") or ""),
            instance_number=lenient_int(number) or 0,
        )


@dataclass(frozen=True, slots=True)
class Pair:
    """The standing AP and lateral images of one study, and why each was chosen."""

    ap_sop_instance_uid: str
    lateral_sop_instance_uid: str
    reasons: tuple[str, ...] = ()
    """Why the AP and the lateral image were chosen, in that order."""


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9.]+(?:-[a-z0-9]+)*", text.lower())) | set(
        re.findall(r"[a-z0-9]+", text.lower())
    )


def _has_any(text_words: set[str], phrases: tuple[str, ...]) -> str | None:
    for phrase in phrases:
        if phrase.lower() in text_words:
            return phrase
    return None


def classify_view(view: ViewInfo, rules: ViewRules) -> tuple[Role, str]:
    """The role of one image and the reason, e.g. ``("lateral", "ViewPosition LL")``."""
    described = _words(f"{view.series_description} {view.protocol_name}")
    excluded = _has_any(described, rules.excluded_words)
    if excluded:
        return "excluded", f"description says {excluded!r}"
    position = view.view_position.strip().upper()
    if position:
        if position in rules.ap_view_positions:
            return "ap", f"ViewPosition {position}"
        if position in rules.lateral_view_positions:
            return "lateral", f"ViewPosition {position}"
    if word := _has_any(described, rules.lateral_words):
        return "lateral", f"description says {word!r}"
    if word := _has_any(described, rules.ap_words):
        return "ap", f"description says {word!r}"
    rows_axis = view.patient_orientation.split("\\")[0].strip().upper()[:1]
    if rows_axis in ("L", "R"):
        return "ap", f"PatientOrientation {view.patient_orientation}"
    if rows_axis in ("A", "P"):
        return "lateral", f"PatientOrientation {view.patient_orientation}"
    return "unknown", "no ViewPosition, description or orientation to go by"


def pair_views(views: list[ViewInfo], rules: ViewRules) -> Pair:
    """Choose the AP and lateral image of one study.

    Raises
    ------
    PairingError
        No AP or no lateral image; the message lists what each image was taken for.
    """
    chosen: dict[str, tuple[ViewInfo, str]] = {}
    notes = []
    ordered = sorted(views, key=lambda v: (v.acquisition_time or "999999", v.instance_number))
    for view in ordered:
        role, reason = classify_view(view, rules)
        notes.append(f"{role} ({reason})")
        if role in ("ap", "lateral") and role not in chosen:
            chosen[role] = (view, reason)
    missing = [role for role in ("ap", "lateral") if role not in chosen]
    if missing:
        raise PairingError(
            f"no {' and no '.join(missing)} view among {len(views)} image(s): "
            + ("; ".join(notes) if notes else "the study has no images")
        )
    return Pair(
        ap_sop_instance_uid=chosen["ap"][0].sop_instance_uid,
        lateral_sop_instance_uid=chosen["lateral"][0].sop_instance_uid,
        reasons=(chosen["ap"][1], chosen["lateral"][1]),
    )
