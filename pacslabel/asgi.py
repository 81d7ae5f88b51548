"""An ASGI application served by uvicorn in a thread of this process (``serve``'s
health and metrics, tests of the workbench): the socket is bound when the server is
made, so a port that cannot be had is an ``OSError`` there, not in a thread."""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

import uvicorn

__all__ = ["ThreadedServer"]

logger = logging.getLogger(__name__)


class ThreadedServer:
    """``app`` on ``host:port`` (0: a free port), in a daemon thread.

    Raises
    ------
    OSError
        The address cannot be bound (in use, not this host's).
    """

    def __init__(self, app: Any, host: str, port: int, *, name: str = "pacslabel-http") -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host, port))
            self._socket.listen(64)
        except OSError:
            self._socket.close()
            raise
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name=name, daemon=True
        )

    @property
    def host(self) -> str:
        return str(self._socket.getsockname()[0])

    @property
    def port(self) -> int:
        return int(self._socket.getsockname()[1])

    def start(self, timeout_s: float = 20) -> ThreadedServer:
        """Serve; returns once the server answers (or ``timeout_s`` passed)."""
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started and self._thread.is_alive():
            if time.monotonic() > deadline:
                raise OSError(f"the server on {self.host}:{self.port} did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(10)
        self._socket.close()
