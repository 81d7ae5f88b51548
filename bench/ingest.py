"""Ingest speed from a real PACS: pacslabel against dcmtk, in the same run (issue 4).

    .venv/bin/python bench/ingest.py --studies 60 --scale 0.5

A fresh Orthanc holds the simulated studies. Baseline: dcmtk ``movescu``
moves every study, one C-MOVE after another over a single association, into
dcmtk ``storescp`` (bytes to disk, nothing else). pacslabel: C-FIND + C-MOVE
(``ingest.associations`` in parallel) + de-identification + pairing + report
text + database rows, i.e. ``discover``, ``retrieve`` and ``anonymise_all``.
Target: pacslabel at least as fast as the single-association dcmtk transfer.
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
from pacsbridge import LocalAE, StorageSCP, store_files
from pacslabel.context import open_context
from pacslabel.pipeline.stages import anonymise_all, discover, retrieve
from pacslabel.settings import load_settings
from simhospital import generate_study, write_study


def _dcmtk(orthanc_port: int, uids: list[str], root: Path, scp_port: int) -> float:
    out = root / "storescp"
    out.mkdir()
    queries = []
    for index, uid in enumerate(uids):
        query = Dataset()
        query.QueryRetrieveLevel = "STUDY"
        query.StudyInstanceUID = uid
        path = root / f"query-{index:04d}.dcm"
        query.save_as(path, implicit_vr=True, little_endian=True)
        queries.append(str(path))
    server = subprocess.Popen(
        ["storescp", "+xa", "-aet", "DCMTKSCP", "-od", str(out), str(scp_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        start = time.perf_counter()
        result = subprocess.run(
            [
                "movescu",
                "-S",
                "-aet",
                "DCMTK",
                "-aec",
                "ORTHANC",
                "-aem",
                "DCMTKSCP",
                "127.0.0.1",
                str(orthanc_port),
                *queries,
            ],
            capture_output=True,
            text=True,
        )
        elapsed = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait()
    if result.returncode != 0:
        raise RuntimeError(f"movescu failed: {result.stdout}{result.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--studies", type=int, default=60)
    parser.add_argument("--scale", type=float, default=0.5)
    parser.add_argument("--associations", type=int, default=4)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="pacslabel-ingest-bench-"))
    dcmtk_port, our_port = free_port(), free_port()
    orthanc = start_orthanc(
        root / "orthanc",
        modalities={
            "dcmtk": ["DCMTKSCP", "127.0.0.1", dcmtk_port],
            "pacslabel": ["PACSLABEL", "127.0.0.1", our_port],
        },
    )
    try:
        studies = [generate_study(i, seed=77, scale=args.scale) for i in range(args.studies)]
        files = [
            p
            for s in studies
            for p in write_study(s, root / "archive" / s.study_instance_uid, root / "ris")
        ]
        store_files(LocalAE("UPLOADER"), orthanc.node, files)
        megabytes = sum(p.stat().st_size for p in files) / 1e6
        dcmtk_s = _dcmtk(
            orthanc.dicom_port, [s.study_instance_uid for s in studies], root, dcmtk_port
        )
        settings = load_settings(
            data_dir=root / "pacslabel",
            log_level="WARNING",
            pacs={"ae_title": "ORTHANC", "host": "127.0.0.1", "port": orthanc.dicom_port},
            local={"storage_port": our_port},
            ingest={"associations": args.associations, "report_drop": root / "ris"},
        )
        upgrade(settings.resolved_database_url)
        with open_context(settings) as ctx:
            start = time.perf_counter()
            with StorageSCP(
                ctx.local,
                ctx.paths.incoming,
                ctx.paths.quarantine,
                ctx.pseudonymiser.uid,
                ["ORTHANC"],
            ) as scp:
                found = discover(ctx)
                moved = retrieve(ctx, scp)
            anonymised = anonymise_all(ctx)
            ours_s = time.perf_counter() - start
        if (found.new, moved, anonymised) != (args.studies,) * 3:
            raise RuntimeError(f"pacslabel ingested {found.new}/{moved}/{anonymised}")
    finally:
        orthanc.stop()
        shutil.rmtree(root, ignore_errors=True)
    n = args.studies
    body = (
        "## Ingest from a PACS (Orthanc) into the database\n\n"
        f"`.venv/bin/python bench/ingest.py --studies {n} --scale {args.scale} "
        f"--associations {args.associations}`\n\n"
        f"{n} simulated studies ({len(files)} instances, {megabytes:.0f} MB; detectors at "
        f"scale {args.scale}) in Orthanc 1.10 on this machine.\n\n"
        "| transfer | what it does | time | studies/s | MB/s |\n|---|---|---|---|---|\n"
        f"| dcmtk `movescu` → `storescp` (baseline) | C-MOVE, one association, bytes to disk "
        f"| {dcmtk_s:.1f} s | {n / dcmtk_s:.2f} | {megabytes / dcmtk_s:.1f} |\n"
        f"| pacslabel, {args.associations} associations | C-FIND + C-MOVE + de-identify + pair "
        f"+ report + database | {ours_s:.1f} s | {n / ours_s:.2f} | {megabytes / ours_s:.1f} |\n\n"
        f"pacslabel / dcmtk: **{dcmtk_s / ours_s:.2f}×** (target ≥ 1)."
    )
    print(body)
    if not args.no_write:
        write_section("ingest", body)


if __name__ == "__main__":
    main()
