"""Errors of the pacsbridge package: DIMSE statuses translated once, here.

No caller above :mod:`pacsbridge` sees a raw status code::

    PacsBridgeError
    ├── AssociationError                 the association could not be used
    │   ├── AssociationRejected          refused by the peer (with the reason)
    │   └── AssociationAborted           aborted, timed out or connection lost
    ├── DimseError                       a DIMSE service answered a failure
    │   ├── QueryFailed                  C-FIND
    │   ├── MoveFailed                   C-MOVE
    │   │   ├── MoveDestinationUnknown   0xA801: the PACS does not know our AE
    │   │   ├── SenderRejected           our storage SCP rejected the PACS's associations
    │   │   └── MoveIncomplete           some sub-operations failed or were never received
    │   │       └── InstancesRefused     because our storage SCP refused them (not transient)
    │   └── StoreFailed                  C-STORE
    ├── InvalidInstance                  a file or instance we cannot use (quarantine it)
    ├── InvalidSR                        an SR we would send breaks DICOM rules (not sent)
    ├── PairingError                     no standing AP + lateral pair in a study
    ├── ReportNotFound                   no report text in a study
    └── AmbiguousReport                  several reports, and no rule can choose
"""

from __future__ import annotations

__all__ = [
    "AmbiguousReport",
    "AssociationAborted",
    "AssociationError",
    "AssociationRejected",
    "DimseError",
    "InstancesRefused",
    "InvalidInstance",
    "InvalidSR",
    "MoveDestinationUnknown",
    "MoveFailed",
    "MoveIncomplete",
    "PacsBridgeError",
    "PairingError",
    "QueryFailed",
    "ReportNotFound",
    "SenderRejected",
    "StoreFailed",
]


class PacsBridgeError(Exception):
    """Base of every error raised by :mod:`pacsbridge`."""


class AssociationError(PacsBridgeError):
    """An association could not be established or was lost."""


class AssociationRejected(AssociationError):
    """The peer rejected the association request (PS3.8 9.3.4).

    Attributes
    ----------
    reason
        The rejection reason in words, e.g. "calling AE title not recognized".
    """

    def __init__(self, node: object, reason: str) -> None:
        self.reason = reason
        super().__init__(f"{node} rejected the association: {reason}")


class AssociationAborted(AssociationError):
    """The association was aborted, timed out, or the connection was lost."""


class DimseError(PacsBridgeError):
    """A DIMSE service answered with a failure status."""

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class QueryFailed(DimseError):
    """A C-FIND failed."""


class MoveFailed(DimseError):
    """A C-MOVE failed."""


class MoveDestinationUnknown(MoveFailed):
    """The PACS does not know the move destination.

    Status 0xA801 says so (PS3.4 C.4.2.1.5); some PACS (Orthanc) answer 0xC000
    "unable to process" with no sub-operation instead, which is taken to mean
    the same. The message tells the operator what to register in the PACS.
    """

    def __init__(
        self, node: object, ae_title: str, host: str, port: int, status: int = 0xA801
    ) -> None:
        self.ae_title = ae_title
        cause = (
            "does not know the move destination"
            if status == 0xA801
            else f"refused the C-MOVE (0x{status:04X}, no sub-operation started); most likely "
            "it does not know the move destination"
        )
        super().__init__(
            f"{node} {cause} {ae_title!r}: register the DICOM node AE title {ae_title!r}, "
            f"host {host}, port {port} in the PACS",
            status,
        )


class SenderRejected(MoveFailed):
    """A C-MOVE brought nothing because our storage SCP rejected the associations that
    were to bring it: the message says whom it rejected and why (the calling AE title
    or host not configured, a certificate of another name, too many associations)."""

    def __init__(self, node: object, reasons: list[str], status: int | None = None) -> None:
        self.reasons = reasons
        shown = "; ".join(dict.fromkeys(reasons))  # each reason once, in order
        super().__init__(
            f"the C-MOVE from {node} brought nothing: our storage SCP rejected "
            f"{len(reasons)} association(s) ({shown})",
            status,
        )


class MoveIncomplete(MoveFailed):
    """A C-MOVE ended with sub-operations failed, or fewer instances arrived than reported.

    Attributes
    ----------
    completed, failed, warnings
        The sub-operation counts the PACS reported.
    received
        How many instances our storage SCP actually received.
    """

    def __init__(
        self, study: str, completed: int, failed: int, warnings: int, received: int
    ) -> None:
        self.completed = completed
        self.failed = failed
        self.warnings = warnings
        self.received = received
        super().__init__(
            f"C-MOVE of study {study} incomplete: {completed} completed, {failed} failed, "
            f"{warnings} with warnings, {received} received"
        )


class InstancesRefused(MoveIncomplete):
    """A retrieval is incomplete because our storage SCP refused instances of the study
    (unreadable, over a limit): retrying brings the same files. ``reasons`` says why, one
    per refused instance."""

    def __init__(
        self,
        study: str,
        completed: int,
        failed: int,
        warnings: int,
        received: int,
        reasons: list[str],
    ) -> None:
        super().__init__(study, completed, failed, warnings, received)
        self.reasons = reasons
        shown = "; ".join(dict.fromkeys(reasons))
        self.args = (
            f"{len(reasons)} instances of study {study} refused by our storage SCP: {shown}",
        )


class StoreFailed(DimseError):
    """A C-STORE failed."""


class InvalidInstance(PacsBridgeError):
    """An instance that cannot be used; the message names the file and the reason."""

    def __init__(self, where: object, reason: str) -> None:
        self.where = str(where)
        self.reason = reason
        super().__init__(f"{where}: {reason}")


class PairingError(PacsBridgeError):
    """A study has no usable standing AP + lateral pair; the message says why."""


class ReportNotFound(PacsBridgeError):
    """A study carries no report text we can read."""


class AmbiguousReport(PacsBridgeError):
    """A study holds report documents that differ and that no rule tells apart."""


class InvalidSR(PacsBridgeError, ValueError):
    """An SR that would break DICOM rules in the PACS; :attr:`problems` says where.

    Attributes
    ----------
    problems
        One line per broken rule, naming the attribute and its VR.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        shown = "; ".join(problems[:5]) + more
        super().__init__(f"the SR would be invalid: {shown}")
