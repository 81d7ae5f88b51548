"""pacsbridge: everything DICOM.

C-FIND / C-MOVE / C-GET SCU, our storage SCP, de-identification of headers
(:mod:`pacsbridge.deid`), view pairing, report extraction, display pixels,
the SR we write and its C-STORE. Callers above this package never see a
DIMSE status code: failures arrive as :mod:`pacsbridge.errors`, their
statuses in words from :mod:`pacsbridge.status`. The simulated hospital is a
sibling package, :mod:`simhospital`, built on this package's public API.
"""

from pacsbridge.association import (
    application_entity,
    echo,
    quiet_identifier_logging,
    receive_into_files,
)
from pacsbridge.deid import (
    DeidCase,
    DeidentifiedInstance,
    DeidOptions,
    IdentifierKind,
    KnownIdentifier,
    OriginalIdentity,
    Pseudonymiser,
    deidentify,
    deidentify_text,
    find_identifiers,
    header_identifiers,
    identifier_recall,
    load_profile,
)
from pacsbridge.errors import (
    AmbiguousReport,
    AssociationAborted,
    AssociationError,
    AssociationRejected,
    DimseError,
    InstancesRefused,
    InvalidInstance,
    MoveDestinationUnknown,
    MoveFailed,
    MoveIncomplete,
    PacsBridgeError,
    PairingError,
    QueryFailed,
    ReportNotFound,
    SenderRejected,
    StoreFailed,
)
from pacsbridge.files import PARTIAL_SUFFIX, WRITING_SUFFIX
from pacsbridge.limits import Limits, check_pixels, read_instance
from pacsbridge.node import LocalAE, Node
from pacsbridge.pairing import Pair, ViewInfo, ViewRules, classify_view, pair_views
from pacsbridge.peers import Peer, PeerRefusal
from pacsbridge.pixels import display_pixels
from pacsbridge.query import (
    StudyFilter,
    StudyRecord,
    find_images,
    find_series,
    find_studies,
    find_study,
)
from pacsbridge.received import DeidJob, FileOutcome, deidentify_file, write_deidentified
from pacsbridge.report import (
    OWN_MANUFACTURER,
    REPORT_TITLES,
    DocumentKind,
    ReportCandidate,
    ReportDrop,
    choose_report,
    classify_document,
    is_report,
    report_candidate,
    report_text,
)
from pacsbridge.retrieve import MoveResult, get_study, is_transient, move_study
from pacsbridge.sender import ParallelStore
from pacsbridge.sr import FindingCode, FindingResult, build_prediction_sr
from pacsbridge.sr_check import InvalidSR, sr_problems
from pacsbridge.sr_factory import PredictionSRFactory
from pacsbridge.status import Service
from pacsbridge.storage import Receiver, Refusal, StorageSCP
from pacsbridge.store import StoreReport, store_files, store_instance
from pacsbridge.uids import uid_from
from pacsbridge.values import (
    clean_string,
    first,
    items,
    lenient_age,
    lenient_date,
    lenient_int,
    lenient_sex,
    lenient_time,
    single_uid,
)
from pacsbridge.workers import DeidWorkers

__all__ = [
    "OWN_MANUFACTURER",
    "PARTIAL_SUFFIX",
    "REPORT_TITLES",
    "WRITING_SUFFIX",
    "AmbiguousReport",
    "AssociationAborted",
    "AssociationError",
    "AssociationRejected",
    "DeidCase",
    "DeidJob",
    "DeidOptions",
    "DeidWorkers",
    "DeidentifiedInstance",
    "DimseError",
    "DocumentKind",
    "FileOutcome",
    "FindingCode",
    "FindingResult",
    "IdentifierKind",
    "InstancesRefused",
    "InvalidInstance",
    "InvalidSR",
    "KnownIdentifier",
    "Limits",
    "LocalAE",
    "MoveDestinationUnknown",
    "MoveFailed",
    "MoveIncomplete",
    "MoveResult",
    "Node",
    "OriginalIdentity",
    "PacsBridgeError",
    "Pair",
    "PairingError",
    "ParallelStore",
    "Peer",
    "PeerRefusal",
    "PredictionSRFactory",
    "Pseudonymiser",
    "QueryFailed",
    "Receiver",
    "Refusal",
    "ReportCandidate",
    "ReportDrop",
    "ReportNotFound",
    "SenderRejected",
    "Service",
    "StorageSCP",
    "StoreFailed",
    "StoreReport",
    "StudyFilter",
    "StudyRecord",
    "ViewInfo",
    "ViewRules",
    "application_entity",
    "build_prediction_sr",
    "check_pixels",
    "choose_report",
    "classify_document",
    "classify_view",
    "clean_string",
    "deidentify",
    "deidentify_file",
    "deidentify_text",
    "display_pixels",
    "echo",
    "find_identifiers",
    "find_images",
    "find_series",
    "find_studies",
    "find_study",
    "first",
    "get_study",
    "header_identifiers",
    "identifier_recall",
    "is_report",
    "is_transient",
    "items",
    "lenient_age",
    "lenient_date",
    "lenient_int",
    "lenient_sex",
    "lenient_time",
    "load_profile",
    "move_study",
    "pair_views",
    "quiet_identifier_logging",
    "read_instance",
    "receive_into_files",
    "report_candidate",
    "report_text",
    "single_uid",
    "sr_problems",
    "store_files",
    "store_instance",
    "uid_from",
    "write_deidentified",
]
