"""DIMSE statuses in words, once, from pynetdicom's tables of PS3.4 and PS3.7 C.

Each DIMSE service we use has its table (:data:`pynetdicom.status`), the
general statuses of PS3.7 C included. Callers above :mod:`pacsbridge` never
see a code: the modules that speak DIMSE raise :mod:`pacsbridge.errors` whose
message comes from :func:`describe`.
"""

from __future__ import annotations

import enum

from pynetdicom import status as _tables

__all__ = ["Service", "category", "describe", "is_pending", "is_success", "is_warning"]


class Service(enum.StrEnum):
    """The DIMSE services pacsbridge uses, named as PS3.7 does."""

    C_FIND = "C-FIND"
    C_MOVE = "C-MOVE"
    C_GET = "C-GET"
    C_STORE = "C-STORE"


_TABLES: dict[Service, dict[int, tuple[str, str]]] = {
    Service.C_FIND: _tables.QR_FIND_SERVICE_CLASS_STATUS,
    Service.C_MOVE: _tables.QR_MOVE_SERVICE_CLASS_STATUS,
    Service.C_GET: _tables.QR_GET_SERVICE_CLASS_STATUS,
    Service.C_STORE: _tables.STORAGE_SERVICE_CLASS_STATUS,
}


def category(code: int, service: Service) -> str:
    """``Success``, ``Warning``, ``Failure``, ``Cancel``, ``Pending`` or ``Unknown``."""
    entry = _TABLES[service].get(code)
    if entry is not None:
        return entry[0]
    return str(_tables.code_to_category(code))


def is_success(code: int) -> bool:
    return code == 0x0000


def is_pending(code: int, service: Service) -> bool:
    return category(code, service) == _tables.STATUS_PENDING


def is_warning(code: int, service: Service) -> bool:
    return category(code, service) == _tables.STATUS_WARNING


def describe(code: int, service: Service) -> str:
    """The status as an operator reads it: ``0xA700 (Failure: Refused: Out of Resources)``."""
    entry = _TABLES[service].get(code)
    if entry is None:
        return f"0x{code:04X} ({category(code, service)}: not a status of {service})"
    kind, meaning = entry
    return f"0x{code:04X} ({kind}: {meaning})" if meaning else f"0x{code:04X} ({kind})"
