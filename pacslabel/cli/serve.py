"""``pacslabel serve``: the loop on its schedule until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import threading

from pacslabel.cli.output import Output, Subcommands
from pacslabel.context import Context, open_context
from pacslabel.errors import ExitCode, UsageError
from pacslabel.pipeline import Service
from pacslabel.pipeline.health import HealthServer
from pacslabel.settings import Settings

__all__ = ["add_parser", "run"]

logger = logging.getLogger(__name__)


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "serve", help="run the loop on its schedule until stopped (SIGTERM or Ctrl-C)"
    )
    parser.set_defaults(handler=run)


def _health(ctx: Context, service: Service, settings: Settings) -> HealthServer | None:
    """The health and metrics endpoints (``health.port``; 0: none).

    Raises
    ------
    UsageError
        The port cannot be bound.
    """
    health = settings.health
    if health.port == 0:
        return None
    try:
        return HealthServer(ctx, service, health.bind_address, health.port).start()
    except OSError as exc:
        raise UsageError(
            f"cannot serve health and metrics on {health.bind_address}:{health.port}: "
            f"{exc.strerror or exc} (settings health.port, health.bind_address; 0: none)"
        ) from None


def _notify(message: str) -> None:
    """Tell systemd (``Type=notify``) ``message`` — ``READY=1``, ``WATCHDOG=1``,
    ``STOPPING=1`` (sd_notify(3)); nothing when systemd did not start us."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as exc:
        logger.warning("cannot notify systemd (%s): %s", message, exc)


def run(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    """Start the scheduled passes; on SIGTERM or SIGINT let the pass in progress finish."""
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        logger.info("%s received: stopping after the pass in progress", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with open_context(settings, out.progress) as ctx:
            service = Service(ctx, settings.schedule)
            server = _health(ctx, service, settings)
            service.start()
            _notify("READY=1")
            out.err.print(
                f"serving: an ingest pass every {settings.schedule.ingest_every_minutes:g} min, "
                f"the nightly pass at {settings.schedule.train_at}; SIGTERM or Ctrl-C stops",
                soft_wrap=True,
            )
            while not stop.wait(1.0):
                if service.running:  # the watchdog (WatchdogSec=) restarts a dead scheduler
                    _notify("WATCHDOG=1")
            _notify("STOPPING=1")
            service.stop(wait=True)
            if server is not None:
                server.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    out.err.print("stopped; the next start resumes where this one stopped")
    return ExitCode.OK
