"""``pacslabel check``: is this installation ready, and if not, what to change.

Each check gives one line, OK, FAIL or SKIP (could not be tried, and why), with what
it found; a FAIL names the setting to change or the command to run. Nothing is
written to the corpus: the C-MOVE test receives into a temporary folder.
"""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy.exc import SQLAlchemyError

from db import current_revision, head_revision, make_engine
from pacsbridge import (
    LocalAE,
    MoveDestinationUnknown,
    Node,
    PacsBridgeError,
    StorageSCP,
    echo,
    find_studies,
    move_study,
)
from pacslabel.errors import one_line
from pacslabel.settings import Settings
from pacslabel.task import load_task
from pacslabel.tls import local_ae, pacs_node

__all__ = ["CheckLine", "run_checks"]

Outcome = Literal["OK", "FAIL", "SKIP"]

#: Less free space than this in the data folder fails (a day of studies, a model).
MIN_FREE_GIB = 5.0


@dataclass(frozen=True)
class CheckLine:
    what: str
    outcome: Outcome
    detail: str


def _database(settings: Settings) -> CheckLine:
    engine = make_engine(settings.resolved_database_url)
    try:
        current, head = current_revision(engine), head_revision()
    except SQLAlchemyError as exc:
        return CheckLine(
            "database", "FAIL", f"cannot connect: {one_line(exc)} (setting database_url)"
        )
    finally:
        engine.dispose()
    if current != head:
        return CheckLine(
            "database",
            "FAIL",
            f"schema {current or 'none'}, this pacslabel needs {head}: run `pacslabel db upgrade`",
        )
    return CheckLine("database", "OK", f"reachable, schema at {head}")


def _keys(settings: Settings) -> list[CheckLine]:
    lines = []
    for name, given in (
        ("pseudonym.key", settings.deid.pseudonym_key),
        ("linkage.key", settings.deid.linkage_key),
    ):
        path = settings.secrets_dir / name
        if given is not None:
            lines.append(CheckLine(name, "OK", "given in the settings (environment)"))
        elif not path.is_file():
            lines.append(
                CheckLine(
                    name,
                    "FAIL",
                    f"{path} is missing: the first run creates it; if studies were ingested, "
                    "restore it from the backup (deid.secrets_dir)",
                )
            )
        elif path.stat().st_mode & 0o077:
            mode = oct(path.stat().st_mode & 0o777)
            lines.append(CheckLine(name, "FAIL", f"{path} has mode {mode}: `chmod 600 {path}`"))
        else:
            lines.append(CheckLine(name, "OK", f"{path}, readable by its owner only"))
    return lines


def _disk(settings: Settings) -> CheckLine:
    folder = settings.data_dir.resolve()
    while not folder.exists():
        folder = folder.parent
    free = shutil.disk_usage(folder).free / 2**30
    if free < MIN_FREE_GIB:
        return CheckLine(
            "disk",
            "FAIL",
            f"{free:.1f} GiB free for {settings.data_dir} (at least {MIN_FREE_GIB:g}): free "
            "space or move data_dir",
        )
    return CheckLine("disk", "OK", f"{free:.1f} GiB free for {settings.data_dir}")


def _port_free(settings: Settings) -> bool:
    local = settings.local
    with socket.socket(socket.AF_INET6 if ":" in local.bind_address else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((local.bind_address, local.storage_port))
        except OSError:
            return False
    return True


def _storage_port(settings: Settings, local: LocalAE) -> CheckLine:
    where = f"{settings.local.bind_address}:{settings.local.storage_port}"
    if _port_free(settings):
        return CheckLine("storage port", "OK", f"{where} is free for our storage SCP")
    ours = Node(settings.local.ae_title, "127.0.0.1", settings.local.storage_port)
    try:
        echo(local, ours)
    except PacsBridgeError:
        return CheckLine(
            "storage port",
            "FAIL",
            f"{where} is taken by another program (setting local.storage_port)",
        )
    return CheckLine("storage port", "OK", f"{where}: our storage SCP answers (serve is running)")


def _pacs_echo(settings: Settings, local: LocalAE, node: Node) -> CheckLine:
    try:
        echo(local, node)
    except PacsBridgeError as exc:
        return CheckLine(
            "PACS C-ECHO",
            "FAIL",
            f"{one_line(exc)} (settings pacs.host, pacs.port, pacs.ae_title; the PACS must "
            f"accept our AE title {settings.local.ae_title!r}, local.ae_title)",
        )
    return CheckLine("PACS C-ECHO", "OK", f"{node} answers us as {settings.local.ae_title}")


def _find(
    settings: Settings, local: LocalAE, node: Node, days: int
) -> tuple[CheckLine, str | None]:
    """The C-FIND dry run; the first study found (to test C-MOVE with), if any."""
    since = (dt.date.today() - dt.timedelta(days=days - 1)).strftime("%Y%m%d")
    try:
        task = load_task(settings.task)
        records = find_studies(local, node, task.study_filter(), date_from=since)
    except PacsBridgeError as exc:
        rights = f"the PACS's query rights for {settings.local.ae_title}; pacs.*"
        return CheckLine("PACS C-FIND", "FAIL", f"{one_line(exc)} ({rights})"), None
    first = records[0].study_instance_uid if records else None
    detail = f"{len(records)} studies of task {task.name} since {since}"
    return CheckLine("PACS C-FIND", "OK", detail), first


def _move(settings: Settings, local: LocalAE, node: Node, study: str | None) -> CheckLine:
    if study is None:
        return CheckLine("PACS C-MOVE", "SKIP", "no study found to move (try --days 7)")
    if not _port_free(settings):
        return CheckLine("PACS C-MOVE", "SKIP", "our storage port is in use (serve running?)")
    with tempfile.TemporaryDirectory(prefix="pacslabel-check-") as folder:
        scp = StorageSCP(
            local,
            Path(folder) / "in",
            Path(folder) / "out",
            lambda uid: "study",
            allowed_calling_ae_titles=[settings.pacs.ae_title],
        )
        try:
            with scp:
                result = move_study(local, node, study, scp)
        except MoveDestinationUnknown as exc:
            return CheckLine("PACS C-MOVE", "FAIL", one_line(exc))
        except PacsBridgeError as exc:
            return CheckLine("PACS C-MOVE", "FAIL", f"{one_line(exc)} (pacs.*, local.*)")
    return CheckLine(
        "PACS C-MOVE", "OK", f"the PACS sent {result.received} instances to our storage SCP"
    )


def _gpu(settings: Settings) -> CheckLine:
    device = settings.training.device
    if not device.startswith("cuda"):
        return CheckLine("training device", "OK", f"{device}")
    import torch

    if not torch.cuda.is_available():
        return CheckLine(
            "training device",
            "FAIL",
            f"training.device = {device} but no CUDA device is usable: set training.device "
            "= cpu or install the GPU's driver",
        )
    return CheckLine("training device", "OK", f"{device}: {torch.cuda.get_device_name(0)}")


def run_checks(
    settings: Settings, *, days: int = 1, on_line: Callable[[CheckLine], None] | None = None
) -> list[CheckLine]:
    """Every check, in order; ``on_line`` sees each line as it is known. The C-FIND dry
    run looks at the last ``days`` days.

    Raises
    ------
    InvalidSettings
        The TLS files are misconfigured.
    """
    local, node = local_ae(settings), pacs_node(settings)
    lines: list[CheckLine] = []

    def add(*found: CheckLine) -> None:
        for line in found:
            lines.append(line)
            if on_line is not None:
                on_line(line)

    add(_database(settings), *_keys(settings), _disk(settings), _gpu(settings))
    add(_storage_port(settings, local), pacs := _pacs_echo(settings, local, node))
    if pacs.outcome == "OK":
        found, study = _find(settings, local, node, days)
        add(found, _move(settings, local, node, study))
    return lines
