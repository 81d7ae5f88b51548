"""Retrieving studies: C-MOVE to our storage SCP (PS3.4 C.4.2) or C-GET (C.4.3).

Both check what arrived against what the PACS reported: a "success" that
delivered nothing, or fewer instances than the PACS counted as completed,
is a failure (:class:`~pacsbridge.errors.MoveIncomplete`).
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

from pydicom import uid
from pydicom.dataset import Dataset
from pynetdicom import build_role, evt
from pynetdicom.association import Association
from pynetdicom.presentation import PresentationContext, build_context
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

from pacsbridge.association import associate, check_alive
from pacsbridge.errors import (
    AssociationAborted,
    AssociationRejected,
    InstancesRefused,
    MoveDestinationUnknown,
    MoveFailed,
    MoveIncomplete,
    PacsBridgeError,
    SenderRejected,
)
from pacsbridge.node import LocalAE, Node
from pacsbridge.status import Service, describe, is_pending, is_success, is_warning
from pacsbridge.storage import Receiver, StorageSCP

__all__ = ["GET_STORAGE_CLASSES", "MoveResult", "get_study", "is_transient", "move_study"]

logger = logging.getLogger(__name__)

#: Storage SOP classes a C-GET asks to receive (a C-GET must name them, with
#: the SCP role, in its own association: PS3.4 C.4.3.1).
GET_STORAGE_CLASSES = (
    uid.ComputedRadiographyImageStorage,
    uid.DigitalXRayImageStorageForPresentation,
    uid.DigitalXRayImageStorageForProcessing,
    uid.SecondaryCaptureImageStorage,
    uid.BasicTextSRStorage,
    uid.EnhancedSRStorage,
    uid.ComprehensiveSRStorage,
    uid.Comprehensive3DSRStorage,
    uid.KeyObjectSelectionDocumentStorage,
    uid.XRayRadiationDoseSRStorage,
    uid.EncapsulatedPDFStorage,
    uid.GrayscaleSoftcopyPresentationStateStorage,
)
_GET_SYNTAXES = (
    uid.ExplicitVRLittleEndian,
    uid.ImplicitVRLittleEndian,
    uid.JPEGLSLossless,
    uid.JPEG2000Lossless,
    uid.JPEGLosslessSV1,
    uid.JPEGBaseline8Bit,
    uid.JPEG2000,
    uid.RLELossless,
)


@dataclass(frozen=True, slots=True)
class MoveResult:
    """The sub-operation counts of a finished retrieval and what actually arrived."""

    completed: int
    failed: int
    warnings: int
    received: int


def is_transient(error: PacsBridgeError) -> bool:
    """Whether trying again later may help (lost connection, partial transfer, busy PACS)."""
    if isinstance(error, MoveDestinationUnknown | AssociationRejected | SenderRejected):
        return False  # the operator has to act
    if isinstance(error, InstancesRefused):
        return False  # the same files would come again
    if isinstance(error, AssociationAborted | MoveIncomplete):
        return True
    status = getattr(error, "status", None)
    return isinstance(error, MoveFailed) and status is not None and 0xA700 <= status <= 0xA7FF


def _count(ds: Dataset, keyword: str) -> int:
    return int(ds.get(keyword, 0) or 0)


def _final(
    responses: Iterator[tuple[Dataset, Dataset | None]],
    assoc: Association,
    node: Node,
    service: Service,
) -> tuple[int, Dataset]:
    last: Dataset | None = None
    code: int | None = None
    for status, _identifier in responses:
        check_alive(assoc, node, service)
        if "Status" not in status:
            raise AssociationAborted(f"no {service} response from {node} (timeout or abort)")
        code, last = int(status.Status), status
        if not is_pending(code, service):
            break
    if last is None or code is None:
        raise AssociationAborted(f"{service} on {node} ended without a final response")
    return code, last


def _check(
    code: int,
    last: Dataset,
    receiver: Receiver,
    study_instance_uid: str,
    before: int,
    node: Node,
    service: Service,
) -> MoveResult:
    ref = receiver.study_dir(study_instance_uid).name  # never put a clinical UID in a message
    completed = _count(last, "NumberOfCompletedSuboperations")
    failed = _count(last, "NumberOfFailedSuboperations")
    warnings = _count(last, "NumberOfWarningSuboperations")
    total = receiver.received(study_instance_uid)
    refused = receiver.refusals_of(study_instance_uid)
    if refused and (failed or not is_success(code) or total < completed + warnings):
        raise InstancesRefused(ref, completed, failed, warnings, total, refused)
    if is_warning(code, service) or (is_success(code) and failed):
        raise MoveIncomplete(ref, completed, failed, warnings, total)
    if not is_success(code):
        raise MoveFailed(
            f"{service} of study {ref} from {node} failed: {describe(code, service)}", code
        )
    # Instances received earlier count too: the PACS may report them as completed.
    if completed + warnings == 0 or total < completed + warnings:
        raise MoveIncomplete(ref, completed, failed, warnings, total)
    return MoveResult(completed, failed, warnings, total - before)


def _study_query(study_instance_uid: str) -> Dataset:
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = study_instance_uid
    return query


def move_study(local: LocalAE, node: Node, study_instance_uid: str, scp: StorageSCP) -> MoveResult:
    """Move one study from ``node`` to our running storage SCP and check what arrived.

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
    before, started = scp.received(study_instance_uid), time.time()
    with (
        scp.receiver.retrieval(study_instance_uid) as message_id,
        associate(
            local, node, [build_context(model)], dimse_timeout_s=local.move_timeout_s
        ) as assoc,
    ):
        query = _study_query(study_instance_uid)
        code, last = _final(
            assoc.send_c_move(query, scp.ae_title, model, msg_id=message_id),
            assoc,
            node,
            Service.C_MOVE,
        )
    nothing_started = not any(
        _count(last, k)
        for k in (
            "NumberOfCompletedSuboperations",
            "NumberOfFailedSuboperations",
            "NumberOfWarningSuboperations",
        )
    )
    refused = bool(scp.receiver.refusals_of(study_instance_uid))  # some PACS then fail all
    rejected = scp.gate.refusals_since(started)
    if rejected and scp.received(study_instance_uid) == before:
        reasons = [r.reason for r in rejected]
        raise SenderRejected(node, reasons, code)
    if code == 0xA801 or (0xC000 <= code <= 0xCFFF and nothing_started and not refused):
        host = local.bind_address
        if host in ("0.0.0.0", "::", ""):
            host = socket.getfqdn()  # listening everywhere: name this machine
        raise MoveDestinationUnknown(node, scp.ae_title, host, scp.port, code)
    result = _check(code, last, scp.receiver, study_instance_uid, before, node, Service.C_MOVE)
    logger.debug("moved a study: %d completed, %d received", result.completed, result.received)
    return result


def _get_contexts() -> tuple[list[PresentationContext], list[object]]:
    contexts = [build_context(StudyRootQueryRetrieveInformationModelGet)]
    contexts += [
        build_context(sop_class, syntax)
        for sop_class in GET_STORAGE_CLASSES
        for syntax in _GET_SYNTAXES
    ]
    roles = [build_role(sop_class, scp_role=True) for sop_class in GET_STORAGE_CLASSES]
    return contexts, roles


def get_study(
    local: LocalAE, node: Node, study_instance_uid: str, receiver: Receiver
) -> MoveResult:
    """Retrieve one study with C-GET: the instances come back on our own association.

    Only the SOP classes of :data:`GET_STORAGE_CLASSES` can be received this way.

    Raises
    ------
    MoveIncomplete, MoveFailed, AssociationRejected, AssociationAborted
        As :func:`move_study`.
    """
    model = StudyRootQueryRetrieveInformationModelGet
    contexts, roles = _get_contexts()
    before = receiver.received(study_instance_uid)
    with associate(
        local,
        node,
        contexts,
        dimse_timeout_s=local.move_timeout_s,
        ext_neg=roles,
        handlers=[(evt.EVT_C_STORE, receiver.handle_store, [study_instance_uid])],
    ) as assoc:
        code, last = _final(
            assoc.send_c_get(_study_query(study_instance_uid), model), assoc, node, Service.C_GET
        )
    return _check(code, last, receiver, study_instance_uid, before, node, Service.C_GET)
