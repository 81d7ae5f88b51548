"""Radiographs of the simulated spine: the anatomy and its findings drawn on a canvas
(:mod:`~simhospital.imaging.anatomy`, :mod:`~simhospital.imaging.canvas`), an X-ray
exposure of each view (:mod:`~simhospital.imaging.phantom`), the vendors' detectors
(:mod:`~simhospital.imaging.vendors`) and the gallery picture of the README."""

from simhospital.imaging.gallery import render_gallery
from simhospital.imaging.phantom import Exposure, Posture, View, render_view
from simhospital.imaging.vendors import VENDORS, Vendor

__all__ = ["VENDORS", "Exposure", "Posture", "Vendor", "View", "render_gallery", "render_view"]
