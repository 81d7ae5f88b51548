"""Logging for people and for machines.

On a terminal records are drawn by rich. Anywhere else (a pipe, a file, systemd)
each record is one line: ``plain`` (ISO 8601 UTC time, level, logger, message),
``journal`` (a ``<priority>`` prefix journald turns into the record's priority;
journald adds the time) or ``json`` (one object per line). ``auto`` picks rich on
a terminal, ``journal`` when standard error is the journal's stream
(``JOURNAL_STREAM``), else ``plain``. A message's line breaks and a traceback are
kept on the record's line (``\\n``), so a record is never split in two.

Our packages log at the configured level; every other library (highdicom,
pydicom, pynetdicom, APScheduler, PyTorch…) at WARNING whatever that level is:
their INFO and DEBUG lines are noise to an operator, and some carry the data
sets' original UIDs.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
from typing import IO, Literal

from rich.console import Console
from rich.logging import RichHandler

__all__ = ["OUR_LOGGERS", "LogFormat", "configure_logging"]

LogFormat = Literal["auto", "rich", "plain", "journal", "json"]

#: The loggers of our packages; every other one stays at WARNING.
OUR_LOGGERS = ("pacslabel", "pacsbridge", "labeller", "trainer", "db", "simhospital")

#: syslog priorities (sd-daemon(3)) of the logging levels.
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3}


def _one_line(text: str) -> str:
    return text.replace("\r", "").replace("\n", "\\n")


class _LineFormatter(logging.Formatter):
    """One record, one line: ``plain``, ``journal`` or ``json``."""

    def __init__(self, style: Literal["plain", "journal", "json"]) -> None:
        super().__init__()
        self._shape = style

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        if self._shape == "json":
            return json.dumps(
                {
                    "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
                    "level": record.levelname,
                    "logger": record.name,
                    "message": message,
                },
                ensure_ascii=False,
            )
        if self._shape == "journal":
            priority = _PRIORITY.get(record.levelno, 2 if record.levelno > logging.ERROR else 6)
            return f"<{priority}>{record.name}: {_one_line(message)}"
        when = dt.datetime.fromtimestamp(record.created, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"{when} {record.levelname} {record.name}: {_one_line(message)}"


def _journal(stream: IO[str]) -> bool:
    """Whether ``stream`` is the journal's stream (systemd sets ``JOURNAL_STREAM`` to its
    ``device:inode``)."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return expected == f"{info.st_dev}:{info.st_ino}"


def _handler(fmt: LogFormat, console: Console, stream: IO[str]) -> logging.Handler:
    if fmt == "auto":
        fmt = "rich" if console.is_terminal else ("journal" if _journal(stream) else "plain")
    if fmt == "rich":
        return RichHandler(
            console=console, show_path=False, rich_tracebacks=False, log_time_format="%H:%M:%S"
        )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_LineFormatter(fmt))
    return handler


def configure_logging(level: str, fmt: LogFormat = "auto", console: Console | None = None) -> None:
    """Log to standard error: our packages at ``level``, other libraries at WARNING.

    Called once where a process starts (the command, the training process). Like
    :func:`logging.basicConfig`, it does nothing where logging is configured already
    (an application that embeds pacslabel, a test runner).
    """
    root = logging.getLogger()
    if root.handlers:
        return
    console = console or Console(stderr=True)
    stream = console.file if console.file is not None else sys.stderr
    handler = _handler(fmt, console, stream)
    if isinstance(handler, RichHandler):
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for name in OUR_LOGGERS:
        logging.getLogger(name).setLevel(level)
