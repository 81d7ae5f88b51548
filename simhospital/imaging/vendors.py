"""The equipment of the simulated hospital: how each vendor writes its radiographs.

Each :class:`Vendor` fixes modality (CR or DX), detector geometry, bit depth,
photometric interpretation, whether ViewPosition is written or only a series
description says the view (and in which language), how the views are put
in series, the transfer syntaxes it sends, and its private attributes.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom import uid

from simhospital.imaging.canvas import Geometry

__all__ = ["VENDORS", "Vendor"]


@dataclass(frozen=True, slots=True)
class Vendor:
    manufacturer: str
    model: str
    modality: str
    geometry: Geometry
    bits: int
    monochrome1: bool
    writes_view_position: bool
    language: str
    one_series: bool
    """All views in one series (told apart by ViewPosition and protocol name)."""
    transfer_syntaxes: tuple[tuple[str, float], ...]
    private_creator: str
    weight: float

    @property
    def sop_class_uid(self) -> str:
        return (
            uid.ComputedRadiographyImageStorage
            if self.modality == "CR"
            else uid.DigitalXRayImageStorageForPresentation
        )


VENDORS = (
    Vendor(
        "Agfa",
        "CR 85-X",
        "CR",
        Geometry(2000, 1640, 0.2),
        12,
        True,
        True,
        "it",
        True,
        ((uid.ExplicitVRLittleEndian, 1.0),),
        "AGFA",
        0.2,
    ),
    Vendor(
        "Carestream Health",
        "DRX-Evolution",
        "DX",
        Geometry(2336, 1920, 0.17),
        14,
        False,
        True,
        "it",
        False,
        ((uid.JPEGLSLossless, 0.25), (uid.ExplicitVRLittleEndian, 0.75)),
        "CARESTREAM",
        0.25,
    ),
    Vendor(
        "Philips Medical Systems",
        "DigitalDiagnost",
        "DX",
        Geometry(2208, 1840, 0.18),
        12,
        False,
        False,
        "en",
        False,
        ((uid.ExplicitVRLittleEndian, 1.0),),
        "Philips Imaging DD 001",
        0.2,
    ),
    Vendor(
        "FUJIFILM Corporation",
        "FCR Capsula XL",
        "CR",
        Geometry(2010, 1670, 0.2),
        12,
        True,
        False,
        "it",
        False,
        ((uid.JPEG2000Lossless, 0.15), (uid.ImplicitVRLittleEndian, 0.85)),
        "FUJI PHOTO FILM Co., ltd.",
        0.15,
    ),
    Vendor(
        "Siemens",
        "Ysio Max",
        "DX",
        Geometry(2200, 1800, 0.18),
        16,
        False,
        True,
        "en",
        True,
        ((uid.ExplicitVRLittleEndian, 1.0),),
        "SIEMENS MED",
        0.2,
    ),
)
