"""De-identification: the PS3.15 E.1-1 profile as data (``table.csv``) and its options
(E.3); :func:`deidentify`, which applies them to one instance; every identifying
string of a header (:func:`header_identifiers`); the free-text de-identifier used for
cleaned attributes and report text alike (:func:`deidentify_text`); its recall
measure (:func:`identifier_recall`); and the screen of the pixels for burned-in text
(:func:`screen_image`)."""

from pacsbridge.deid.burned_in import (
    HARMLESS,
    Box,
    OCRUnavailable,
    Screening,
    TextFinding,
    TextReader,
    screen_image,
)
from pacsbridge.deid.deidentify import (
    DeidentifiedInstance,
    OriginalIdentity,
    Pseudonymiser,
    blank_pixel_boxes,
    deidentify,
    record_clean_pixel_data,
)
from pacsbridge.deid.identifiers import IdentifierKind, KnownIdentifier, header_identifiers
from pacsbridge.deid.profile import DeidOptions, Profile, ProfileRow, load_profile
from pacsbridge.deid.recall import DeidCase, identifier_recall
from pacsbridge.deid.text import deidentify_text, find_identifiers, fold

__all__ = [
    "HARMLESS",
    "Box",
    "DeidCase",
    "DeidOptions",
    "DeidentifiedInstance",
    "IdentifierKind",
    "KnownIdentifier",
    "OCRUnavailable",
    "OriginalIdentity",
    "Profile",
    "ProfileRow",
    "Pseudonymiser",
    "Screening",
    "TextFinding",
    "TextReader",
    "blank_pixel_boxes",
    "deidentify",
    "deidentify_text",
    "find_identifiers",
    "fold",
    "header_identifiers",
    "identifier_recall",
    "load_profile",
    "record_clean_pixel_data",
    "screen_image",
]
