"""Write-back speed into a real PACS (Orthanc): pacslabel's write-back stage against
dcmtk ``storescu`` sending the same SR files, in the same run (issue 18).

    .venv/bin/python bench/writeback.py --studies 1000

``--studies`` predicted studies are put in a fresh pacslabel database (rows, encrypted
linkage, a current model, twelve predictions each; no images needed). Rows:

* pacslabel write-back (``writeback_all``: read the predictions, decrypt the linkage,
  build, check and encode each SR, send it over ``writeback.associations`` associations
  kept open, record it) into Orthanc;
* the same stage as a dry run (``writeback.folder``): everything but the network — these
  files are what dcmtk then sends;
* dcmtk ``storescu`` of those files into a second, fresh Orthanc: one association, and
  as many ``storescu`` processes as pacslabel's associations;
* the write-back as it was before (a highdicom build and one association per SR), on a
  sample of 100, for comparison.
Target: pacslabel ≥ 20 SRs/s on 2 cores.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _report import write_section
from sqlalchemy import update
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integration"))
from peers import Orthanc, start_orthanc

from db import (
    Image,
    Model,
    ModelMode,
    ModelStatus,
    Prediction,
    SRExport,
    Study,
    StudyState,
    upgrade,
)
from pacsbridge import (
    FindingResult,
    LocalAE,
    OriginalIdentity,
    build_prediction_sr,
    receive_into_files,
    store_instance,
    uid_from,
)
from pacslabel.context import Context, open_context
from pacslabel.pipeline.stages.writeback import writeback_all
from pacslabel.settings import Settings, load_settings

DX = "1.2.840.10008.5.1.4.1.1.1.1"


def _identity(index: int, view: str) -> OriginalIdentity:
    return OriginalIdentity(
        patient_name=f"ROSSI^MARIO{index}",
        patient_id=f"MRN{index:08d}",
        patient_birth_date="19500101",
        patient_sex="M",
        study_instance_uid=uid_from("bench-study", str(index)),
        series_instance_uid=uid_from("bench-series", str(index), view),
        sop_instance_uid=uid_from("bench-sop", str(index), view),
        sop_class_uid=DX,
        accession_number=f"ACC{index:08d}",
        study_id=str(index),
        study_date="20240105",
        study_time="101500",
        referring_physician_name="BIANCHI^LUCA",
        modality="DX",
    )


def _seed(ctx: Context, count: int) -> list[list[OriginalIdentity]]:
    """``count`` predicted studies of a current model; returns their images' identities."""
    rng = np.random.default_rng(5)
    keys = ctx.task.finding_keys
    identities = []
    with Session(ctx.engine) as session:
        model = Model(
            version="bench-resnet18",
            architecture="resnet18",
            mode=ModelMode.ONE_STEP,
            task=ctx.task.name,
            findings=keys,
            path="-",
            config={},
            manifest_hash="b",
            code_version="bench",
            metrics={},
            thresholds={k: 0.5 for k in keys},
            status=ModelStatus.CURRENT,
        )
        session.add(model)
        session.flush()
        for index in range(count):
            pair = [_identity(index, "ap"), _identity(index, "lateral")]
            study = Study(
                study_uid=ctx.pseudonymiser.uid(pair[0].study_instance_uid),
                state=StudyState.PREDICTED,
                attempts=0,
            )
            session.add(study)
            session.flush()
            ctx.vault.put(session, study.study_uid, "study", pair[0])
            for view, image in zip(("ap", "lateral"), pair, strict=True):
                sop = ctx.pseudonymiser.uid(image.sop_instance_uid)
                session.add(
                    Image(
                        study_id=study.id,
                        sop_uid=sop,
                        series_uid="2.25.1",
                        sop_class_uid=DX,
                        modality="DX",
                        view_role=view,
                        view_reason="bench",
                        is_paired=True,
                        path="-",
                    )
                )
                ctx.vault.put(session, sop, "image", image)
            for key in keys:
                p = float(rng.random())
                session.add(
                    Prediction(
                        study_id=study.id,
                        model_id=model.id,
                        finding=key,
                        probability=p,
                        positive=p >= 0.5,
                        threshold=0.5,
                    )
                )
            identities.append(pair)
        session.commit()
    return identities


def _reset(ctx: Context) -> None:
    with Session(ctx.engine) as session:
        session.query(SRExport).delete()
        session.execute(update(Study).values(state=StudyState.PREDICTED))
        session.commit()


def _timed_writeback(settings: Settings) -> tuple[float, int]:
    with open_context(settings) as ctx:
        start = time.perf_counter()
        sent = writeback_all(ctx)
        return time.perf_counter() - start, sent


def _storescu(orthanc: Orthanc, files: list[Path], processes: int) -> float:
    chunks = [files[i::processes] for i in range(processes)]
    start = time.perf_counter()
    running = [
        subprocess.Popen(
            [
                "storescu",
                "-R",  # propose the files' own SOP classes (SR 3D is not in the default list)
                "-aet",
                "DCMTK",
                "-aec",
                "ORTHANC",
                "127.0.0.1",
                str(orthanc.dicom_port),
                *map(str, chunk),
            ],
            stdout=subprocess.DEVNULL,
            stderr=None,
        )
        for chunk in chunks
    ]
    codes = [process.wait() for process in running]
    if any(codes):
        raise RuntimeError(f"storescu failed: exit {codes}")
    return time.perf_counter() - start


def _before(orthanc: Orthanc, identities: list[list[OriginalIdentity]], ctx: Context) -> float:
    """The write-back as it was: a highdicom build and an association per SR."""
    codes = ctx.task.finding_codes()
    start = time.perf_counter()
    for index, pair in enumerate(identities):
        results = [FindingResult(code, 0.3, False) for code in codes]
        sr = build_prediction_sr(
            pair,
            results,
            algorithm_name="pacslabel ResNet-18",
            algorithm_version="bench-before",
            sop_instance_uid=uid_from("before", str(index)),
        )
        store_instance(LocalAE("PACSLABEL"), orthanc.node, sr)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--studies", type=int, default=1000)
    parser.add_argument("--associations", type=int, default=4)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    receive_into_files()  # as the pacslabel command does: files are sent as they are
    root = Path(tempfile.mkdtemp(prefix="pacslabel-writeback-bench-"))
    first, second = start_orthanc(root / "orthanc1"), start_orthanc(root / "orthanc2")
    n = args.studies
    try:
        base = {
            "data_dir": root / "data",
            "log_level": "WARNING",
            "pacs": {"ae_title": "ORTHANC", "host": "127.0.0.1", "port": first.dicom_port},
        }
        settings = load_settings(**base, writeback={"associations": args.associations})
        dry = load_settings(**base, writeback={"folder": root / "srs"})
        upgrade(settings.resolved_database_url)
        with open_context(settings) as ctx:
            identities = _seed(ctx, n)
        dry_s, written = _timed_writeback(dry)
        with open_context(settings) as ctx:
            _reset(ctx)
        ours_s, sent = _timed_writeback(settings)
        if (written, sent) != (n, n):
            raise RuntimeError(f"pacslabel wrote {written} and sent {sent} of {n}")
        stored = len(first.get("/instances"))
        files = sorted((root / "srs").rglob("*.dcm"))
        one_s = _storescu(second, files, 1)
        many_s = _storescu(second, files, args.associations)
        sample = identities[:100]
        with open_context(settings) as ctx:
            before_s = _before(second, sample, ctx)
    finally:
        first.stop()
        second.stop()
        shutil.rmtree(root, ignore_errors=True)
    rows = [
        (
            "pacslabel write-back (this version)",
            f"read, decrypt, build + check + encode, send over {args.associations} associations, "
            "record",
            n,
            ours_s,
        ),
        ("pacslabel write-back, dry run", "the same without the network (files)", n, dry_s),
        ("dcmtk `storescu`, 1 association", "the same SR files, sent", n, one_s),
        (f"dcmtk `storescu`, {args.associations} processes", "the same SR files, sent", n, many_s),
        (
            "write-back before (highdicom build, association per SR)",
            "build + send",
            len(sample),
            before_s,
        ),
    ]
    table = "\n".join(
        f"| {name} | {what} | {count} | {s:.1f} s | {count / s:.1f} |"
        for name, what, count, s in rows
    )
    body = (
        "## Write-back of SRs into a PACS (Orthanc)\n\n"
        f"`.venv/bin/python bench/writeback.py --studies {n} --associations {args.associations}`"
        f"\n\n{n} predicted studies, twelve findings each; Orthanc 1.10 on this machine held "
        f"{stored} SRs afterwards.\n\n"
        "| sender | what it does | SRs | time | SRs/s |\n|---|---|---|---|---|\n"
        f"{table}\n\n"
        f"pacslabel: **{n / ours_s:.1f} SRs/s** (target ≥ 20); "
        f"{one_s / ours_s:.2f}× dcmtk over one association, {many_s / ours_s:.2f}× dcmtk with "
        f"{args.associations} processes."
    )
    print(body)
    if not args.no_write:
        write_section("writeback", body)


if __name__ == "__main__":
    main()
