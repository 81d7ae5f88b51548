"""Ingest speed from a real PACS: pacslabel against dcmtk, like with like, in one run
(issues 4 and 19).

    .venv/bin/python bench/ingest.py --studies 60 --scale 1.0

A fresh Orthanc holds the simulated studies; every row moves all of them out of it:

- dcmtk ``movescu`` → ``storescp``, one association: one C-MOVE after another
  (bytes to disk, nothing else);
- dcmtk with as many parallel associations as pacslabel (``--associations``
  ``movescu`` processes, each moving its share; ``storescp --fork``);
- pacslabel, transfer only: C-FIND + C-MOVE into our storage SCP, nothing
  de-identified (``ingest.deid_workers = 0``, no de-identification stage);
- pacslabel, the full path: C-FIND + C-MOVE + de-identification (worker
  processes fed as instances arrive) + pairing + report + database;
- pacslabel, the full path with de-identification in the main process after
  the transfer (``ingest.deid_workers = 0``), as before issue 19.

Both dcmtk peers accept PDUs of 128 kB (``--max-pdu 131072``, dcmtk's largest);
pacslabel its default (``local.max_pdu_kb``). pacslabel runs as the ``pacslabel``
command does: received data sets are written to disk as they arrive. Its worker
processes are started before the timed part (as ``serve`` holds them; ``run``
starts them while it queries the PACS).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import write_section
from pydicom.dataset import Dataset

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integration"))
from peers import free_port, start_orthanc

from db import upgrade
from pacsbridge import LocalAE, receive_into_files, store_files
from pacslabel.context import open_context
from pacslabel.pipeline.loop import storage_scp
from pacslabel.pipeline.stages import deidentify_all, discover, retrieve
from pacslabel.settings import IngestSettings, load_settings
from simhospital import generate_study, write_study

_STORESCP = ["storescp", "--fork", "+xa", "--max-pdu", "131072", "-aet", "DCMTKSCP"]


def _queries(uids: list[str], root: Path) -> list[str]:
    paths = []
    for index, uid in enumerate(uids):
        query = Dataset()
        query.QueryRetrieveLevel = "STUDY"
        query.StudyInstanceUID = uid
        path = root / f"query-{index:04d}.dcm"
        query.save_as(path, implicit_vr=True, little_endian=True)
        paths.append(str(path))
    return paths


def _dcmtk(
    orthanc_port: int, uids: list[str], root: Path, scp_port: int, parallel: int
) -> tuple[float, int]:
    """Seconds for ``parallel`` movescu processes to move ``uids`` (each a share) into one
    storescp; the files it received are counted, then deleted."""
    out = root / f"storescp-{parallel}"
    out.mkdir()
    queries = _queries(uids, root)
    server = subprocess.Popen(
        [*_STORESCP, "-od", str(out), str(scp_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    command = ["movescu", "-S", "-aet", "DCMTK", "-aec", "ORTHANC", "-aem", "DCMTKSCP"]
    command += ["127.0.0.1", str(orthanc_port)]
    try:
        time.sleep(0.5)
        start = time.perf_counter()
        movers = [
            subprocess.Popen(
                [*command, *queries[share::parallel]],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for share in range(parallel)
        ]
        outputs = [mover.communicate()[0] for mover in movers]
        elapsed = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait()
    failed = [out for mover, out in zip(movers, outputs, strict=True) if mover.returncode]
    if failed:
        raise RuntimeError(f"movescu failed: {failed[0]}")
    received = sum(1 for path in out.rglob("*") if path.is_file())
    shutil.rmtree(out)
    return elapsed, received


def _pacslabel(root: Path, name: str, orthanc_port: int, our_port: int, **ingest: object) -> float:
    """Seconds for pacslabel to ingest every study of the PACS into a fresh data folder;
    ``deidentify=False`` stops after the transfer."""
    deidentify = bool(ingest.pop("deidentify", True))
    settings = load_settings(
        data_dir=root / name,
        log_level="WARNING",
        pacs={"ae_title": "ORTHANC", "host": "127.0.0.1", "port": orthanc_port},
        local={"storage_port": our_port},
        ingest={"report_drop": root / "ris", **ingest},
    )
    upgrade(settings.resolved_database_url)
    with open_context(settings) as ctx:
        ctx.deid.start(wait=True)
        start = time.perf_counter()
        with storage_scp(ctx) as scp:
            found = discover(ctx)
            moved = retrieve(ctx, scp)
        deidentified = deidentify_all(ctx) if deidentify else moved
        elapsed = time.perf_counter() - start
    if not found.new == moved == deidentified:
        raise RuntimeError(f"pacslabel {name}: {found.new} found, {moved}, {deidentified}")
    shutil.rmtree(root / name, ignore_errors=True)
    return elapsed


def _row(what: str, does: str, seconds: float, n: int, megabytes: float, base: float) -> str:
    return (
        f"| {what} | {does} | {seconds:.1f} s | {n / seconds:.2f} | {megabytes / seconds:.1f} "
        f"| {base / seconds:.2f}× |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--studies", type=int, default=60)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--associations", type=int, default=4)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    receive_into_files()  # as the pacslabel command does
    root = Path(tempfile.mkdtemp(prefix="pacslabel-ingest-bench-"))
    dcmtk_port, our_port = free_port(), free_port()
    orthanc = start_orthanc(
        root / "orthanc",
        modalities={
            "dcmtk": ["DCMTKSCP", "127.0.0.1", dcmtk_port],
            "pacslabel": ["PACSLABEL", "127.0.0.1", our_port],
        },
    )
    n, parallel = args.studies, args.associations
    try:
        studies = [generate_study(i, seed=77, scale=args.scale) for i in range(n)]
        files = [
            p
            for s in studies
            for p in write_study(s, root / "archive" / s.study_instance_uid, root / "ris")
        ]
        store_files(LocalAE("UPLOADER"), orthanc.node, files)
        megabytes = sum(p.stat().st_size for p in files) / 1e6
        shutil.rmtree(root / "archive")
        uids = [s.study_instance_uid for s in studies]
        port = orthanc.dicom_port
        one, received_one = _dcmtk(port, uids, root, dcmtk_port, 1)
        many, received_many = _dcmtk(port, uids, root, dcmtk_port, parallel)
        if received_one != len(files) or received_many != len(files):
            raise RuntimeError(f"dcmtk received {received_one} and {received_many} of {len(files)}")
        bare = _pacslabel(
            root, "bare", port, our_port, associations=parallel, deid_workers=0, deidentify=False
        )
        full = _pacslabel(root, "full", port, our_port, associations=parallel)
        inline = _pacslabel(root, "inline", port, our_port, associations=parallel, deid_workers=0)
    finally:
        orthanc.stop()
        shutil.rmtree(root, ignore_errors=True)
    workers = IngestSettings().resolved_deid_workers
    rows = [
        _row(
            "dcmtk, 1 association", "`movescu` → `storescp`: bytes to disk", one, n, megabytes, one
        ),
        _row(
            f"dcmtk, {parallel} associations",
            f"{parallel} `movescu` → `storescp --fork`: bytes to disk",
            many,
            n,
            megabytes,
            one,
        ),
        _row(
            f"pacslabel, {parallel} associations, transfer only",
            "C-FIND + C-MOVE into its storage SCP, nothing de-identified",
            bare,
            n,
            megabytes,
            one,
        ),
        _row(
            f"**pacslabel, {parallel} associations, full path**",
            f"C-FIND + C-MOVE + de-identification in {workers} worker processes as instances "
            "arrive + pairing + report + database",
            full,
            n,
            megabytes,
            one,
        ),
        _row(
            f"pacslabel, {parallel} associations, de-identification after the transfer",
            "the same, de-identified in the main process once all arrived (`deid_workers = 0`)",
            inline,
            n,
            megabytes,
            one,
        ),
    ]
    body = (
        "## Ingest from a PACS (Orthanc) into the database\n\n"
        f"`.venv/bin/python bench/ingest.py --studies {n} --scale {args.scale} "
        f"--associations {parallel}`\n\n"
        f"{n} simulated studies ({len(files)} instances, {megabytes:.0f} MB; detectors at "
        f"scale {args.scale}) in Orthanc 1.10 on this machine, moved out of it five times, "
        "one row after the other. dcmtk accepts PDUs of 128 kB (its largest), pacslabel "
        "1 MB (`local.max_pdu_kb`); pacslabel writes received data sets to disk as they "
        "arrive, as the `pacslabel` command does; its worker processes are started before "
        "the clock (`serve` holds them; `run` starts them while it queries the PACS).\n\n"
        "| transfer | what it does | time | studies/s | MB/s | vs dcmtk, 1 association |\n"
        "|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
        f"pacslabel full path / dcmtk at equal parallelism ({parallel} associations): "
        f"**{many / full:.2f}×** (target ≥ 1); / dcmtk over one association: "
        f"**{one / full:.2f}×** (target ≥ 1.5)."
    )
    print(body)
    if not args.no_write:
        write_section("ingest", body)


if __name__ == "__main__":
    main()
