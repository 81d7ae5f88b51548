"""``pacslabel workbench serve | user add``: the annotators' and researchers' browser
application, and its local accounts."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
from pathlib import Path

from sqlalchemy.orm import Session

from pacslabel.cli.output import Output, Subcommands
from pacslabel.context import open_context
from pacslabel.errors import ExitCode, UsageError
from pacslabel.settings import Settings
from pacslabel.workbench import Role, add_user, create_app

__all__ = ["add_parser", "run"]

logger = logging.getLogger(__name__)

PASSWORD_VARIABLE = "PACSLABEL_WORKBENCH_PASSWORD"


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser("workbench", help="the annotation and research workbench")
    actions = parser.add_subparsers(dest="workbench_command", required=True, metavar="action")
    serve = actions.add_parser("serve", help="serve it (workbench.bind_address, .port)")
    serve.add_argument("--host", help="default workbench.bind_address (127.0.0.1)")
    serve.add_argument("--port", type=int, help="default workbench.port (8765)")
    user = actions.add_parser("user", help="local accounts")
    user_actions = user.add_subparsers(dest="user_command", required=True, metavar="action")
    add = user_actions.add_parser("add", help="create an account, or reset its password")
    add.add_argument("name")
    add.add_argument("--role", choices=[r.value for r in Role], required=True)
    add.add_argument(
        "--password-file",
        type=Path,
        help=f"read the password from this file (else ${PASSWORD_VARIABLE}, else asked)",
    )
    parser.set_defaults(handler=run)


def _password(path: Path | None) -> str:
    if path is not None:
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UsageError(f"{path}: cannot read ({exc.strerror})") from None
    if os.environ.get(PASSWORD_VARIABLE):
        return os.environ[PASSWORD_VARIABLE]
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise UsageError("the two passwords differ")
    return first


def _serve(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    import uvicorn  # only the server needs it

    host = args.host or settings.workbench.bind_address
    port = args.port or settings.workbench.port
    with open_context(settings) as ctx:
        out.print(f"workbench on http://{host}:{port}/ (Ctrl-C stops it)")
        if host not in ("127.0.0.1", "::1", "localhost"):
            logger.warning("the workbench listens on %s: serve it behind TLS", host)
        uvicorn.run(create_app(ctx), host=host, port=port, log_level="warning")
    return ExitCode.OK


def run(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    if args.workbench_command == "serve":
        return _serve(args, settings, out)
    password = _password(args.password_file)
    with open_context(settings) as ctx, Session(ctx.engine) as session:
        created = add_user(session, args.name, password, Role(args.role))
        session.commit()
    out.print(f"{'created' if created else 'updated'} {args.name} ({args.role})")
    return ExitCode.OK
