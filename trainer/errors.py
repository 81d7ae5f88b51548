"""Errors of the trainer package.

::

    TrainerError
    ├── NotEnoughData       too few studies or a finding without both classes
    └── CheckpointError     a checkpoint is missing, corrupt, or from another configuration
"""

from __future__ import annotations

__all__ = ["CheckpointError", "DeviceUnavailable", "NotEnoughData", "TrainerError"]


class TrainerError(Exception):
    """Base of every error raised by :mod:`trainer`."""


class NotEnoughData(TrainerError):
    """The corpus is too small to train or evaluate on."""


class CheckpointError(TrainerError):
    """A checkpoint cannot be used; the message says which and why."""


class DeviceUnavailable(TrainerError):
    """The device asked for cannot be used here (no CUDA device, a wrong name)."""
