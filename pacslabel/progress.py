"""How long work reports its progress: a bar per step on the terminal, nothing in tests.

The CLI gives a :class:`ProgressReporter` that draws bars (``pacslabel.cli.output``);
library code takes any reporter and defaults to :class:`SilentProgress`.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager, nullcontext
from typing import Protocol

__all__ = ["LoggedProgress", "ProgressReporter", "ProgressStep", "SilentProgress"]

logger = logging.getLogger("pacslabel.progress")


class ProgressStep(Protocol):
    """One step under way (one bar): call :meth:`advance` as work gets done."""

    def advance(self, amount: int = 1) -> None: ...


class ProgressReporter(Protocol):
    """Where long work reports progress, one step at a time."""

    def step(self, description: str, total: int) -> AbstractContextManager[ProgressStep]: ...


class _NoStep:
    def advance(self, amount: int = 1) -> None:
        return None


class SilentProgress:
    """A :class:`ProgressReporter` that shows nothing."""

    def step(self, description: str, total: int) -> AbstractContextManager[ProgressStep]:
        return nullcontext(_NoStep())


class LoggedProgress:
    """A :class:`ProgressReporter` that logs each step as it starts (what the log of an
    unattended pass shows), then reports to ``inner``."""

    def __init__(self, inner: ProgressReporter) -> None:
        self._inner = inner

    def step(self, description: str, total: int) -> AbstractContextManager[ProgressStep]:
        if total:
            logger.info("%s: %d to do", description, total)
        return self._inner.step(description, total)
