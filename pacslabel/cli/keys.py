"""``pacslabel keys rotate``: re-encrypt the linkage table with a new key."""

from __future__ import annotations

import argparse

from sqlalchemy.orm import Session

from pacslabel.cli.output import Output, Subcommands
from pacslabel.context import open_context
from pacslabel.errors import ExitCode
from pacslabel.linkage import load_keys, rotate_linkage_key
from pacslabel.settings import Settings

__all__ = ["add_parser", "run"]


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser("keys", help="the linkage key")
    actions = parser.add_subparsers(dest="keys_command", required=True, metavar="action")
    actions.add_parser("rotate", help="re-encrypt the linkage table with a new key")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    with open_context(settings) as ctx, Session(ctx.engine) as session:
        keys = load_keys(
            settings.secrets_dir, settings.deid.pseudonym_key, settings.deid.linkage_key
        )
        rotation = rotate_linkage_key(session, keys, settings.secrets_dir)
    out.print(
        f"{rotation.rows} linkage rows re-encrypted with key {rotation.new_key_id}; "
        f"the key is in {rotation.new_key_file}"
    )
    if settings.deid.linkage_key is not None:
        out.print(
            "The linkage key comes from PACSLABEL_DEID__LINKAGE_KEY: set it to the "
            "content of that file, then delete the file."
        )
    return ExitCode.OK
