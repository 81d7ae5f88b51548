"""The PS3.15 E.1-1 confidentiality profile as data, and how its actions resolve.

:func:`load_profile` reads ``table.csv`` (every attribute of Table
E.1-1 with its Basic Profile and option actions). :meth:`Profile.action`
turns a row into the one action pacslabel performs for an attribute, given
the options in use:

* an enabled option that names an action for the attribute wins (M: dates
  shifted, P/V/I: kept, D/P: cleaned);
* otherwise the Basic Profile's action; where the table offers a choice
  ("X/Z": remove unless the IOD needs the attribute), pacslabel takes the
  choice that keeps an IOD valid whatever the attribute's type: X/Z → Z,
  X/D → D, Z/D → Z, X/Z/D → Z, X/Z/U* → U* (the sequence is kept and the
  UIDs inside it are replaced).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from pydicom import uid

__all__ = ["DeidOptions", "Profile", "ProfileRow", "load_profile"]

_CHOICE = {"X/Z": "Z", "X/D": "D", "Z/D": "Z", "X/Z/D": "Z", "X/Z/U*": "U*"}


@dataclass(frozen=True, slots=True)
class DeidOptions:
    """The PS3.15 E.3 options in use, and what to do with burned-in annotation.

    Attributes
    ----------
    retain_longitudinal_modified_dates
        E.3.6: dates move back by the patient's offset (same for all of a patient's studies).
    retain_patient_characteristics
        E.3.7: age, sex, size, weight, ethnic group… kept.
    retain_device_identity
        E.3.8: station names, serial numbers… kept.
    retain_institution_identity
        E.3.9: institution name and department kept.
    clean_descriptors
        E.3.5: descriptions (study, series, protocol…) kept with identifiers removed.
    burned_in
        ``quarantine`` (the instance is not used) or ``mask`` (the regions of
        ``mask_regions`` are blanked and the Clean Pixel Data option is recorded).
    mask_regions
        Rectangles (top, left, bottom, right) as fractions of the image.
    burned_in_sop_classes
        SOP classes that carry burned-in text whatever BurnedInAnnotation says
        (Secondary Capture, ultrasound).
    """

    retain_longitudinal_modified_dates: bool = True
    retain_patient_characteristics: bool = True
    retain_device_identity: bool = False
    retain_institution_identity: bool = False
    clean_descriptors: bool = True
    burned_in: str = "quarantine"
    mask_regions: tuple[tuple[float, float, float, float], ...] = (
        (0.0, 0.0, 0.08, 1.0),
        (0.92, 0.0, 1.0, 1.0),
    )
    burned_in_sop_classes: tuple[str, ...] = (
        uid.SecondaryCaptureImageStorage,
        uid.MultiFrameSingleBitSecondaryCaptureImageStorage,
        uid.MultiFrameGrayscaleByteSecondaryCaptureImageStorage,
        uid.MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
        uid.MultiFrameTrueColorSecondaryCaptureImageStorage,
        uid.UltrasoundImageStorage,
        uid.UltrasoundMultiFrameImageStorage,
    )

    def letters(self) -> str:
        """The option letters of the profile table that are enabled, in precedence order."""
        return "".join(
            letter
            for letter, enabled in (
                ("M", self.retain_longitudinal_modified_dates),
                ("P", self.retain_patient_characteristics),
                ("V", self.retain_device_identity),
                ("I", self.retain_institution_identity),
                ("D", self.clean_descriptors),
            )
            if enabled
        )


@dataclass(frozen=True, slots=True)
class ProfileRow:
    """One attribute of Table E.1-1."""

    tag: str
    name: str
    basic: str
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Profile:
    """Table E.1-1, indexed by tag."""

    rows: dict[int, ProfileRow]
    repeating: dict[str, ProfileRow]
    """Rows of repeating groups (``50XXXXXX``, ``60XX3000``…) and ``GGGGEEEE`` (private)."""

    def row(self, tag: int) -> ProfileRow | None:
        found = self.rows.get(tag)
        if found is not None:
            return found
        if (tag >> 16) % 2 == 1:
            return self.repeating.get("GGGGEEEE")
        text = f"{tag:08X}"
        for pattern, row in self.repeating.items():
            if all(p == "X" or p == t for p, t in zip(pattern, text, strict=True)):
                return row
        return None

    def action(self, tag: int, options: DeidOptions) -> str | None:
        """The action pacslabel performs for ``tag`` (``None``: not in the table)."""
        row = self.row(tag)
        if row is None:
            return None
        for letter in options.letters():
            if letter in row.options:
                return row.options[letter]
        return _CHOICE.get(row.basic, row.basic)


@cache
def load_profile() -> Profile:
    """The profile table shipped with the package (parsed once)."""
    text = (resources.files("pacsbridge.deid") / "table.csv").read_text(encoding="utf-8")
    lines = (line for line in text.splitlines() if line and not line.startswith("#"))
    rows: dict[int, ProfileRow] = {}
    repeating: dict[str, ProfileRow] = {}
    for record in csv.DictReader(lines):
        options = dict(part.split("=", 1) for part in record["options"].split() if "=" in part)
        row = ProfileRow(record["tag"], record["name"], record["basic"], options)
        if "X" in record["tag"][4:] or "X" in record["tag"][:4] or record["tag"] == "GGGGEEEE":
            repeating[record["tag"]] = row
        else:
            rows[int(record["tag"], 16)] = row
    return Profile(rows, repeating)
