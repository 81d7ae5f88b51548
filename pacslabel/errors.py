"""The application's errors, one tree, each with the exit code the command returns.

::

    PacslabelError                       (never raised itself)
    ├── UsageError             2         the command line, settings or task cannot be used as given
    │   ├── InvalidSettings              a setting or the configuration file is invalid
    │   ├── InvalidTask                  the task file is missing or invalid
    │   └── NotInCorpus                  a study or finding asked for is not there
    ├── SchemaOutOfDate        3         the database is not at this code's schema
    ├── LinkageError           6         a key is missing or wrong; a pseudonym has no linkage
    ├── UnusableInput          8         an input file or a trained model cannot be used
    │   └── InvalidAnnotations           an annotation file (names file, line and column)
    ├── NotReady               9         not yet: no image model trained, or a pair not cached
    ├── EnvironmentFault      11         the database or the data folder cannot be used
    └── PassInProgress        13         another pass is running on this data folder

The domain packages raise their own trees; :func:`exit_code` maps them too
(:mod:`pacsbridge`: 4, or 5 when the PACS does not know our AE title;
:mod:`labeller` and :mod:`trainer`: 8). :class:`ExitCode` is the table the
README documents.
"""

from __future__ import annotations

import enum
import errno

from sqlalchemy.exc import DBAPIError, OperationalError

from labeller import LabellerError
from pacsbridge import MoveDestinationUnknown, PacsBridgeError, deidentify_text
from trainer import TrainerError

__all__ = [
    "EnvironmentFault",
    "ExitCode",
    "InvalidAnnotations",
    "InvalidSettings",
    "InvalidTask",
    "LinkageError",
    "NotInCorpus",
    "NotReady",
    "PacslabelError",
    "PassInProgress",
    "SchemaOutOfDate",
    "TrainingInProgress",
    "UnusableInput",
    "UsageError",
    "environment_fault",
    "exit_code",
    "one_line",
]


class ExitCode(enum.IntEnum):
    """What the ``pacslabel`` command returns (README, "Operations")."""

    OK = 0
    BUG = 1
    """An unexpected error: a bug; the traceback is logged."""
    USAGE = 2
    """Invalid settings, task file or command line; a study or finding that is not there."""
    SCHEMA = 3
    """The database schema is not current (``pacslabel db upgrade``)."""
    PACS = 4
    """The PACS cannot be used (unreachable, rejected us, a query failed)."""
    MOVE_DESTINATION = 5
    """The PACS does not know our AE title (the message says what to register)."""
    KEYS = 6
    """A key is missing or wrong (linkage or pseudonym key)."""
    IDENTIFIERS_FOUND = 7
    """``audit-phi`` found patient identifiers on the research side."""
    UNUSABLE_INPUT = 8
    """An annotation file, a report labeller or a model checkpoint cannot be used."""
    NOT_READY = 9
    """The corpus cannot answer yet: no image model is trained, or the pair is not cached."""
    AUDIT_INCOMPLETE = 10
    """``audit-phi`` found nothing but could not read everything (the message says what)."""
    ENVIRONMENT = 11
    """The database, the data folder or our DICOM port cannot be used (gone, full,
    read-only, taken: the message says which and the setting); the next run resumes."""
    NOTHING_PROCESSED = 12
    """A pass that had studies to process put every one of them in quarantine."""
    BUSY = 13
    """Another pass (``serve``, or another ``run``) is working on this data folder."""
    CHECK_FAILED = 14
    """``pacslabel check`` found something to change (its FAIL lines say what)."""
    INTERRUPTED = 130
    """Ctrl-C; every stage resumes where it stopped."""


class PacslabelError(Exception):
    """Base of the application's errors; :attr:`exit_code` is what the command returns."""

    exit_code: ExitCode = ExitCode.BUG


class UsageError(PacslabelError, ValueError):
    """What was asked for cannot be done as asked; the message says why."""

    exit_code = ExitCode.USAGE


class InvalidSettings(UsageError):
    """The configuration cannot be used; the message names each bad key."""


class InvalidTask(UsageError):
    """The task file is missing or invalid; the message says where and why."""


class NotInCorpus(UsageError):
    """A study or finding named on the command line is not in the corpus or the model."""


class SchemaOutOfDate(PacslabelError, RuntimeError):
    """The database is not at the schema this code needs; run ``pacslabel db upgrade``."""

    exit_code = ExitCode.SCHEMA


class LinkageError(PacslabelError, RuntimeError):
    """The linkage key is missing or wrong, or a pseudonym has no linkage row."""

    exit_code = ExitCode.KEYS


class UnusableInput(PacslabelError, ValueError):
    """An input file or a trained model cannot be used; the message names it."""

    exit_code = ExitCode.UNUSABLE_INPUT


class InvalidAnnotations(UnusableInput):
    """An annotation file cannot be used; the message names the file, row and column."""


class NotReady(PacslabelError, RuntimeError):
    """The corpus cannot answer yet (no image model trained, a pair not cached)."""

    exit_code = ExitCode.NOT_READY


class EnvironmentFault(PacslabelError, RuntimeError):
    """The database or the data folder failed, not a study: the pass stops, the next resumes."""

    exit_code = ExitCode.ENVIRONMENT


class PassInProgress(PacslabelError, RuntimeError):
    """Another pass is working on this data folder (its process holds the lock)."""

    exit_code = ExitCode.BUSY


class TrainingInProgress(PassInProgress):
    """A training is running on this data folder in another process (it holds the
    training lock)."""


def exit_code(error: BaseException) -> ExitCode:
    """The exit code of an error that reached the command (:attr:`ExitCode.BUG` if unknown)."""
    if isinstance(error, PacslabelError):
        return error.exit_code
    if environment_fault(error) is not None:
        return ExitCode.ENVIRONMENT
    if isinstance(error, MoveDestinationUnknown):
        return ExitCode.MOVE_DESTINATION
    if isinstance(error, PacsBridgeError):
        return ExitCode.PACS
    if isinstance(error, LabellerError | TrainerError):
        return ExitCode.UNUSABLE_INPUT
    return ExitCode.BUG


#: Errors of the file system that no study causes.
_DISK = {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES, errno.EPERM}


def one_line(error: BaseException) -> str:
    """``Class: first line of the message``, short, with identifier-shaped text (names
    after titles, codes, dates, telephone numbers) taken out: it is stored and logged."""
    message = str(error).splitlines()[0][:240] if str(error) else ""
    return deidentify_text(
        f"{type(error).__name__}: {message}" if message else type(error).__name__
    )


def environment_fault(error: BaseException) -> EnvironmentFault | None:
    """``error`` as an :class:`EnvironmentFault` when it is the database's or the file
    system's (the database gone; a full, read-only or foreign data folder), else ``None``."""
    if isinstance(error, OperationalError) or (
        isinstance(error, DBAPIError) and error.connection_invalidated
    ):
        return EnvironmentFault(f"the database cannot be used: {one_line(error.orig or error)}")
    if isinstance(error, OSError) and error.errno in _DISK:
        where = error.filename or "the data folder"
        return EnvironmentFault(f"cannot write {where}: {error.strerror}")
    return None
