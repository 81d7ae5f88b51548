"""The ``pacslabel`` entry point: global options, one subcommand, errors → exit codes.

Each subcommand is a module of this package with ``add_parser`` (its
arguments) and ``run`` (parse → library call → exit code). The exit codes
are :class:`pacslabel.errors.ExitCode` (documented in the README).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.exc import DBAPIError

from labeller import LabellerError
from pacsbridge import PacsBridgeError, quiet_identifier_logging, receive_into_files
from pacslabel import __version__
from pacslabel.cli import (
    audit_phi,
    check,
    db,
    demo,
    explain,
    export,
    gallery,
    keys,
    labeller,
    labels,
    model,
    quarantine,
    reports,
    run,
    serve,
    settings,
    simulate,
    status,
    task,
    train,
    workbench,
)
from pacslabel.cli.output import Handler, Output
from pacslabel.errors import (
    ExitCode,
    InvalidSettings,
    PacslabelError,
    environment_fault,
    exit_code,
)
from pacslabel.logs import configure_logging
from pacslabel.settings import load_settings
from trainer import TrainerError

__all__ = ["entry", "main"]

logger = logging.getLogger("pacslabel")

#: The subcommands, in the order ``pacslabel --help`` lists them.
COMMANDS = (
    demo,
    run,
    serve,
    train,
    check,
    db,
    simulate,
    gallery,
    audit_phi,
    keys,
    labeller,
    labels,
    model,
    export,
    workbench,
    explain,
    quarantine,
    reports,
    status,
    settings,
    task,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pacslabel",
        description="De-identified, NLP-labelled research corpus and AI findings from a PACS.",
    )
    parser.add_argument("--version", action="version", version=f"pacslabel {__version__}")
    parser.add_argument("--config", type=Path, help="TOML settings file")
    parser.add_argument("--data-dir", type=Path, help="data folder (database, cache, models)")
    parser.add_argument(
        "--database-url", help="SQLAlchemy URL (default: SQLite in the data folder)"
    )
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pacslabel`` command; returns the exit code."""
    args = _parser().parse_args(argv)
    out = Output()
    try:
        loaded = load_settings(
            args.config,
            data_dir=args.data_dir,
            database_url=args.database_url,
            log_level=args.log_level,
        )
    except InvalidSettings as exc:
        out.error(exc)
        return ExitCode.USAGE
    configure_logging(loaded.log_level, loaded.log_format, out.err)
    quiet_identifier_logging()  # query identifiers carry patient data
    receive_into_files()  # received instances go to disk as they arrive, not to memory
    logger.debug("pacslabel %s starting: %s", __version__, json.dumps(loaded.redacted()))
    handler: Handler = args.handler
    try:
        return int(handler(args, loaded, out))
    except (PacslabelError, PacsBridgeError, LabellerError, TrainerError) as exc:
        out.error(exc)
        return exit_code(exc)
    except KeyboardInterrupt:
        out.err.print("interrupted; every stage resumes where it stopped on the next run")
        return ExitCode.INTERRUPTED
    except (DBAPIError, OSError) as exc:
        fault = environment_fault(exc)
        if fault is None:
            raise
        logger.debug("environment fault", exc_info=exc)
        out.error(fault)
        return ExitCode.ENVIRONMENT


def forget_main_script() -> None:
    """Tell multiprocessing there is no main script to run again in a worker.

    The de-identification workers start from a forkserver, which runs the main script
    again unless the main module is a package's ``__main__`` (``python -m
    pacslabel.cli``). The ``pacslabel`` console script is a file that imports the whole
    application, torch included: seconds of CPU per process, for nothing (the workers
    import what they run by name). The entry point owns this process, so its main
    module forgets its file for good.
    """
    script = sys.modules.get("__main__")
    if script is not None and getattr(script, "__spec__", None) is None:
        script.__dict__.pop("__file__", None)


def entry() -> None:
    """The ``pacslabel`` executable: files and folders it creates are its user's alone
    (0600 and 0700: the database, keys, received instances, quarantine, caches, models),
    whatever the umask it was started with; no worker runs the script again
    (:func:`forget_main_script`); then :func:`main`."""
    os.umask(0o077)
    forget_main_script()
    sys.exit(main())
