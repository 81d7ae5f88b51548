"""``pacslabel quarantine list|show|retry|release``: the studies held out of the corpus."""

from __future__ import annotations

import argparse

from sqlalchemy.orm import Session

from pacslabel.cli.output import Output, Subcommands
from pacslabel.context import open_context
from pacslabel.errors import ExitCode, UsageError
from pacslabel.settings import Settings
from pacslabel.tools.quarantine import held, loose_files, release, retry, show

__all__ = ["add_parser", "run"]


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "quarantine", help="studies waiting or quarantined: list, show, retry, release"
    )
    actions = parser.add_subparsers(dest="quarantine_command", required=True, metavar="action")
    listing = actions.add_parser("list", help="every study held out of the corpus, and why")
    listing.add_argument("--released", action="store_true", help="released ones too")
    one = actions.add_parser("show", help="everything known of one study")
    one.add_argument("study", help="Study Instance UID (pseudonymous or original)")
    again = actions.add_parser("retry", help="retrieve a study again and run it through anew")
    again.add_argument("study", nargs="?", help="Study Instance UID (pseudonymous or original)")
    again.add_argument("--all", action="store_true", help="every quarantined study")
    aside = actions.add_parser("release", help="set a study aside for good (marks it resolved)")
    aside.add_argument("study", help="Study Instance UID (pseudonymous or original)")
    parser.set_defaults(handler=run)


def _list(session: Session, out: Output, *, released: bool) -> None:
    items = held(session, released=released)
    for item in items:
        files = f" ({item.files} files quarantined)" if item.files else ""
        out.print(
            f"{item.study_uid}  {item.state}  since {item.since:%Y-%m-%d %H:%M}  "
            f"{item.stage}: {item.reason}{files}",
            markup=False,
        )
    out.print(f"{len(items)} studies held")
    entries = loose_files(session)
    for entry in entries:
        of = f" (study {entry.study_uid})" if entry.study_uid else ""
        out.print(
            f"{entry.at:%Y-%m-%d %H:%M}  {entry.stage}{of}: {entry.reason}  [{entry.path}]",
            markup=False,
        )
    if entries:
        out.print(f"{len(entries)} files in quarantine apart from held studies")


def run(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    with open_context(settings) as ctx, Session(ctx.engine) as session:
        if args.quarantine_command == "list":
            _list(session, out, released=args.released)
        elif args.quarantine_command == "show":
            for line in show(ctx, session, args.study):
                out.print(line, markup=False)
        elif args.quarantine_command == "retry":
            if (args.study is None) == (not args.all):
                raise UsageError("quarantine retry: give a study UID or --all")
            count = retry(ctx, session, args.study)
            session.commit()
            out.print(f"{count} studies will be retrieved again by the next pass")
        else:
            study = release(ctx, session, args.study)
            session.commit()
            out.print(f"study {study.study_uid} released: no longer retried")
    return ExitCode.OK
