"""C-MOVE SCU (PS3.4 C.4.2): ask the PACS to send a study to our storage SCP."""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pynetdicom.presentation import build_context
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelMove

from pacsbridge._association import associate, check_alive
from pacsbridge.errors import (
    AssociationAborted,
    MoveDestinationUnknown,
    MoveFailed,
    MoveIncomplete,
)
from pacsbridge.node import LocalAE, Node
from pacsbridge.storage import StorageSCP

__all__ = ["MoveResult", "move_study"]

logger = logging.getLogger(__name__)

_MEANINGS = {
    0xA701: "out of resources: unable to calculate the number of matches",
    0xA702: "out of resources: unable to perform sub-operations",
    0xA900: "identifier does not match SOP class",
    0xFE00: "cancelled",
}


@dataclass(frozen=True, slots=True)
class MoveResult:
    """The sub-operation counts of a finished C-MOVE and what actually arrived."""

    completed: int
    failed: int
    warnings: int
    received: int


def _count(ds: Dataset, keyword: str) -> int:
    return int(ds.get(keyword, 0) or 0)


def move_study(local: LocalAE, node: Node, study_instance_uid: str, scp: StorageSCP) -> MoveResult:
    """Move one study from ``node`` to our running storage SCP and check what arrived.

    A "success" that delivered nothing, or fewer instances than the PACS
    counted as completed, is a failure.

    Raises
    ------
    MoveDestinationUnknown
        The PACS does not know our AE title (0xA801); the message says what to register.
    MoveIncomplete
        Sub-operations failed (0xB000) or fewer instances arrived than reported.
    MoveFailed
        Any other failure status.
    AssociationRejected, AssociationAborted
        The association could not be opened, or died (timeout, abort).
    """
    model = StudyRootQueryRetrieveInformationModelMove
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = study_instance_uid
    ref = scp.study_dir(study_instance_uid).name  # never put a clinical UID in a message
    before = scp.received(study_instance_uid)
    last: Dataset | None = None
    code: int | None = None
    with associate(
        local, node, [build_context(model)], dimse_timeout_s=local.move_timeout_s
    ) as assoc:
        for status, _identifier in assoc.send_c_move(query, scp.ae_title, model):
            check_alive(assoc, node, "C-MOVE")
            if "Status" not in status:
                raise AssociationAborted(f"no C-MOVE response from {node} (timeout or abort)")
            code = int(status.Status)
            last = status
            if code not in (0xFF00, 0xFF01):
                break
    if last is None or code is None:
        raise AssociationAborted(f"C-MOVE on {node} ended without a final response")
    completed = _count(last, "NumberOfCompletedSuboperations")
    failed = _count(last, "NumberOfFailedSuboperations")
    warnings = _count(last, "NumberOfWarningSuboperations")
    received = scp.received(study_instance_uid) - before
    if code == 0xA801:
        host = local.bind_address
        if host in ("0.0.0.0", "::", ""):
            host = socket.getfqdn()  # listening everywhere: name this machine
        raise MoveDestinationUnknown(node, scp.ae_title, host, scp.port)
    if code == 0xB000 or (code == 0x0000 and failed):
        raise MoveIncomplete(ref, completed, failed, warnings, received)
    if code != 0x0000:
        meaning = _MEANINGS.get(code, "unable to process" if 0xC000 <= code <= 0xCFFF else "")
        raise MoveFailed(
            f"C-MOVE of study {ref} from {node} failed: 0x{code:04X} {meaning}",
            code,
        )
    # Instances already received earlier count too: the PACS may report them as completed.
    total_received = scp.received(study_instance_uid)
    if completed + warnings == 0 or total_received < completed + warnings:
        raise MoveIncomplete(ref, completed, failed, warnings, total_received)
    logger.debug("moved a study: %d completed, %d received", completed, received)
    return MoveResult(completed, failed, warnings, received)
