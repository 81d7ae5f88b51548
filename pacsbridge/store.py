"""C-STORE SCU (PS3.4 B.2): send a dataset (our SR) to the PACS."""

from __future__ import annotations

import logging

from pydicom.dataset import Dataset
from pynetdicom.presentation import build_context

from pacsbridge._association import associate, check_alive
from pacsbridge.errors import AssociationAborted, StoreFailed
from pacsbridge.node import LocalAE, Node

__all__ = ["store_instance"]

logger = logging.getLogger(__name__)

_WARNINGS = (0xB000, 0xB006, 0xB007)


def store_instance(local: LocalAE, node: Node, ds: Dataset) -> None:
    """Send one instance to ``node``; warning statuses count as stored.

    Raises
    ------
    StoreFailed
        The PACS answered a failure status (the message gives it in words).
    AssociationRejected, AssociationAborted
    """
    meta = getattr(ds, "file_meta", None)
    transfer_syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if transfer_syntax:
        context = build_context(ds.SOPClassUID, transfer_syntax)
    else:
        context = build_context(ds.SOPClassUID)
    with associate(local, node, [context]) as assoc:
        status = assoc.send_c_store(ds)
        check_alive(assoc, node, "C-STORE")
        if "Status" not in status:
            raise AssociationAborted(f"no C-STORE response from {node}")
        code = int(status.Status)
    if code == 0x0000 or code in _WARNINGS:
        return
    meaning = {
        0xA700: "out of resources",
        0xA900: "data set does not match SOP class",
        0x0122: "SOP class not supported",
    }.get(code, "cannot understand" if 0xC000 <= code <= 0xCFFF else "refused")
    raise StoreFailed(f"{node} refused the instance: 0x{code:04X} {meaning}", code)
