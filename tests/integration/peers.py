"""Third-party peers the integration tests start: a real Orthanc on free ports."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest

from pacsbridge import Node


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Orthanc:
    """A running Orthanc (Debian package) with its own storage, on free ports."""

    dicom_port: int
    http_port: int
    folder: Path
    process: subprocess.Popen[bytes]
    log: IO[bytes]
    ae_title: str = "ORTHANC"

    @property
    def node(self) -> Node:
        return Node(self.ae_title, "127.0.0.1", self.dicom_port)

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=10) as r:
            return json.loads(r.read())

    def post(self, path: str, body: Any) -> Any:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}{path}",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def put(self, path: str, body: Any) -> None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}{path}",
            data=json.dumps(body).encode(),
            method="PUT",
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=10).close()

    def delete(self, path: str) -> None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}{path}", method="DELETE"
        )
        urllib.request.urlopen(request, timeout=10).close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        self.log.close()


def start_orthanc(folder: Path, modalities: dict[str, list[Any]] | None = None) -> Orthanc:
    if shutil.which("Orthanc") is None:
        pytest.fail("Orthanc is not installed: run scripts/ensure-tools")
    folder.mkdir(parents=True, exist_ok=True)
    dicom_port, http_port = free_port(), free_port()
    config = {
        "Name": "pacslabel-test",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "index"),
        "DicomAet": "ORTHANC",
        "DicomPort": dicom_port,
        "HttpPort": http_port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomCheckCalledAet": False,
        "Plugins": [],
        "DicomModalitiesInDatabase": True,
        # Answer C-FIND/C-MOVE/C-GET from AEs it does not know (a move destination it
        # does not know is another matter: 0xA801).
        "DicomAlwaysAllowFind": True,
        "DicomAlwaysAllowMove": True,
        "DicomAlwaysAllowGet": True,
        "ConcurrentJobs": 2,
        "DicomScuTimeout": 10,
    }
    (folder / "orthanc.json").write_text(json.dumps(config))
    log = (folder / "orthanc.log").open("wb")
    process = subprocess.Popen(
        ["Orthanc", str(folder / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT
    )
    orthanc = Orthanc(dicom_port, http_port, folder, process, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            orthanc.get("/system")
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.2)
            continue
        for name, (ae_title, host, port) in (modalities or {}).items():
            # Kept in Orthanc's database (DicomModalitiesInDatabase), so a restart keeps them.
            orthanc.put(f"/modalities/{name}", {"AET": ae_title, "Host": host, "Port": port})
        return orthanc
    orthanc.stop()
    pytest.fail(f"Orthanc did not start: {(folder / 'orthanc.log').read_text()[-2000:]}")


def reset_orthanc(orthanc: Orthanc) -> None:
    """Delete every patient (their studies and files) and every modality: the state of a
    new Orthanc, without the seconds a new one costs."""
    for patient in orthanc.get("/patients"):
        orthanc.delete(f"/patients/{patient}")
    for name in orthanc.get("/modalities"):
        orthanc.delete(f"/modalities/{name}")
    left = orthanc.get("/statistics")
    if left["CountInstances"] or orthanc.get("/modalities"):
        raise RuntimeError(f"Orthanc kept {left['CountInstances']} instances after a reset")


def restart_orthanc(previous: Orthanc) -> Orthanc:
    """Start Orthanc again on the same ports and storage (after a crash, say)."""
    previous.stop()
    log = (previous.folder / "orthanc.log").open("ab")
    process = subprocess.Popen(
        ["Orthanc", str(previous.folder / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT
    )
    orthanc = Orthanc(previous.dicom_port, previous.http_port, previous.folder, process, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            orthanc.get("/system")
            return orthanc
        except OSError:
            time.sleep(0.2)
    orthanc.stop()
    raise RuntimeError("Orthanc did not restart")


def pacslabel_config(
    folder: Path, orthanc: Orthanc, database_url: str, *, method: str = "move", extra: str = ""
) -> Path:
    """A configuration file for ``pacslabel`` against ``orthanc`` (our storage port
    registered there), data in ``folder/data``; ``extra``: more TOML at the end."""
    port = free_port()
    orthanc.put("/modalities/pacslabel", {"AET": "PACSLABEL", "Host": "127.0.0.1", "Port": port})
    config = folder / "pacslabel.toml"
    config.write_text(
        f'data_dir = "{folder / "data"}"\n'
        f'database_url = "{database_url}"\n'
        f'[pacs]\nae_title = "ORTHANC"\nhost = "127.0.0.1"\nport = {orthanc.dicom_port}\n'
        f"[local]\nstorage_port = {port}\nnetwork_timeout_s = 10\nmove_timeout_s = 60\n"
        f'[ingest]\nretrieve_method = "{method}"\nretry_backoff_s = 0.2\n{extra}',
        encoding="utf-8",
    )
    return config


def pacslabel(
    config: Path, *args: str, timeout: float = 300, measure: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run the ``pacslabel`` command as a user does (no PACSLABEL_* from this process);
    with ``measure``, under ``/usr/bin/time -v`` (its report ends stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACSLABEL_")}
    command = [sys.executable, "-m", "pacslabel.cli", "--config", str(config), *args]
    if measure:
        command = ["/usr/bin/time", "-v", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)


def peak_rss_mb(ran: subprocess.CompletedProcess[str]) -> float:
    """The peak resident memory ``/usr/bin/time -v`` reported for a run, in MB."""
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", ran.stderr)
    if match is None:
        raise AssertionError(f"no /usr/bin/time report in: {ran.stderr[-500:]}")
    return int(match[1]) / 1024


def run(command: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a dcmtk tool; its output (stdout and stderr) comes back as text."""
    if shutil.which(command[0]) is None:
        pytest.fail(f"{command[0]} is not installed: run scripts/ensure-tools")
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


class TcpProxy:
    """A TCP relay to ``target`` on a fixed local port that can be cut (every connection
    closed, no new one accepted) and restored: a database server going away and coming
    back, without touching the server itself."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._server: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> TcpProxy:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(16)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()
        return self

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return  # cut
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._connections += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Close the listening socket and every relayed connection."""
        if self._server is not None:
            with contextlib.suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)  # wakes the thread in accept()
            self._server.close()
            self._server = None
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()
