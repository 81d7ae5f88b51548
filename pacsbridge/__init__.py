"""pacsbridge: everything DICOM.

C-FIND / C-MOVE SCU, our storage SCP, de-identification of headers, view
pairing, report extraction, the SR we write and its C-STORE. The simulated
PACS lives in :mod:`pacsbridge.simulator`. Callers above this package never
see a DIMSE status code: failures arrive as :mod:`pacsbridge.errors`.
"""

from pacsbridge.anonymise import AnonymisedInstance, OriginalIdentity, Pseudonymiser, anonymise
from pacsbridge.errors import (
    AssociationAborted,
    AssociationError,
    AssociationRejected,
    DimseError,
    InvalidInstance,
    MoveDestinationUnknown,
    MoveFailed,
    MoveIncomplete,
    PacsBridgeError,
    PairingError,
    QueryFailed,
    ReportNotFound,
    StoreFailed,
)
from pacsbridge.node import LocalAE, Node
from pacsbridge.pairing import Pair, ViewInfo, ViewRules, classify_view, pair_views
from pacsbridge.pixels import display_pixels
from pacsbridge.profile import DeidOptions, load_profile
from pacsbridge.query import StudyFilter, StudyRecord, find_images, find_series, find_studies
from pacsbridge.report import ReportDrop, is_report, report_text
from pacsbridge.retrieve import MoveResult, get_study, is_transient, move_study
from pacsbridge.sr import FindingCode, FindingResult, build_prediction_sr
from pacsbridge.storage import Receiver, StorageSCP
from pacsbridge.store import StoreReport, store_files, store_instance

__all__ = [
    "AnonymisedInstance",
    "AssociationAborted",
    "AssociationError",
    "AssociationRejected",
    "DeidOptions",
    "DimseError",
    "FindingCode",
    "FindingResult",
    "InvalidInstance",
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
    "Pseudonymiser",
    "QueryFailed",
    "Receiver",
    "ReportDrop",
    "ReportNotFound",
    "StorageSCP",
    "StoreFailed",
    "StoreReport",
    "StudyFilter",
    "StudyRecord",
    "ViewInfo",
    "ViewRules",
    "anonymise",
    "build_prediction_sr",
    "classify_view",
    "display_pixels",
    "find_images",
    "find_series",
    "find_studies",
    "get_study",
    "is_report",
    "is_transient",
    "load_profile",
    "move_study",
    "pair_views",
    "report_text",
    "store_files",
    "store_instance",
]
