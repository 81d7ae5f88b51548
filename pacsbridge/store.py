"""C-STORE SCU (PS3.4 B.2): send our SRs, or a folder of files, to a PACS."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom.association import Association
from pynetdicom.presentation import PresentationContext, build_context

from pacsbridge.association import associate, check_alive
from pacsbridge.errors import AssociationAborted, StoreFailed
from pacsbridge.node import LocalAE, Node
from pacsbridge.status import Service, describe, is_success, is_warning

__all__ = ["StoreReport", "store_files", "store_instance"]

logger = logging.getLogger(__name__)

_MAX_CONTEXTS = 128  # PS3.8 9.3.2.2: presentation context IDs are odd numbers 1-255


def _syntax(ds: Dataset) -> str:
    meta = getattr(ds, "file_meta", None)
    return (
        str(meta.get("TransferSyntaxUID", ExplicitVRLittleEndian))
        if meta
        else ExplicitVRLittleEndian
    )


def _contexts(pairs: Iterable[tuple[str, str]]) -> list[PresentationContext]:
    """One transfer syntax per context: a context proposing several gets only one
    accepted, and a compressed instance can travel only in its own syntax."""
    wanted = set(pairs)
    wanted |= {(sop_class, ExplicitVRLittleEndian) for sop_class, _ in wanted}
    return [build_context(sop_class, syntax) for sop_class, syntax in sorted(wanted)]


def _send(assoc: Association, node: Node, ds: Dataset) -> None:
    status = assoc.send_c_store(ds)
    check_alive(assoc, node, "C-STORE")
    if "Status" not in status:
        raise AssociationAborted(f"no C-STORE response from {node}")
    code = int(status.Status)
    if is_success(code) or is_warning(code, Service.C_STORE):
        return
    raise StoreFailed(f"{node} refused the instance: {describe(code, Service.C_STORE)}", code)


def store_instance(local: LocalAE, node: Node, ds: Dataset) -> None:
    """Send one instance to ``node``; warning statuses count as stored.

    Raises
    ------
    StoreFailed
        The PACS answered a failure status (the message gives it in words).
    AssociationRejected, AssociationAborted
    """
    with associate(local, node, _contexts([(str(ds.SOPClassUID), _syntax(ds))])) as assoc:
        _send(assoc, node, ds)


@dataclass(frozen=True, slots=True)
class StoreReport:
    """What :func:`store_files` did."""

    stored: int
    failed: tuple[tuple[str, str], ...]
    """(file name, reason) of each file not stored."""


def store_files(
    local: LocalAE,
    node: Node,
    paths: Sequence[Path],
    on_file: Callable[[], None] | None = None,
) -> StoreReport:
    """Send files to ``node``, as few associations as the context limit allows.

    A file that cannot be read or that the PACS refuses is reported and the
    rest are still sent.

    Raises
    ------
    AssociationRejected, AssociationAborted
        The PACS cannot be reached or dropped us.
    """
    headers: list[tuple[Path, str, str]] = []
    failed: list[tuple[str, str]] = []
    for path in paths:
        try:
            ds = dcmread(path, stop_before_pixels=True)
            headers.append((path, str(ds.SOPClassUID), _syntax(ds)))
        except (InvalidDicomError, OSError, AttributeError) as exc:
            failed.append((path.name, f"not readable: {exc}"))
    stored = 0
    batch: list[tuple[Path, str, str]] = []
    for item in [*headers, None]:
        pairs = {(sop, syntax) for _, sop, syntax in batch}
        if item is not None:
            grown = pairs | {(item[1], item[2]), (item[1], ExplicitVRLittleEndian)}
            if len(_contexts(grown)) <= _MAX_CONTEXTS:
                batch.append(item)
                continue
        if batch:
            with associate(local, node, _contexts(pairs)) as assoc:
                for path, _, _ in batch:
                    try:
                        _send(assoc, node, dcmread(path))
                        stored += 1
                    except (InvalidDicomError, OSError) as exc:
                        failed.append((path.name, f"not readable: {exc}"))
                    except StoreFailed as exc:
                        failed.append((path.name, str(exc)))
                    if on_file is not None:
                        on_file()
        batch = [item] if item is not None else []
    return StoreReport(stored, tuple(failed))
