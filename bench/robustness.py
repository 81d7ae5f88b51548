"""Robustness under load and under attack, as a user runs pacslabel (issue 13).

    .venv/bin/python bench/robustness.py hostile
    .venv/bin/python bench/robustness.py load --studies 2000

``hostile``: the hand-written hostile studies of tests/support/hostile.py among good ones,
in a real Orthanc, through ``pacslabel run`` (SQLite) twice, under ``/usr/bin/time -v``;
the baseline in the same run is the same pass over the good studies alone. Written: peak
memory (limit 2 GB), time, exit codes, and what became of each hostile study.

``load``: many small simulated studies through Orthanc in one pass (training included):
studies/s, peak memory, and every study's state against what it should be (reported,
unless the simulator gave it no standing AP + lateral pair: waiting for its pair).
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from _report import write_section
from sqlalchemy import select
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "integration"), str(ROOT / "tests" / "support")]
import hostile  # noqa: E402
from peers import Orthanc, pacslabel, pacslabel_config, peak_rss_mb, start_orthanc  # noqa: E402

from db import QuarantineEntry, Study, StudyState  # noqa: E402
from pacsbridge import LocalAE, store_files  # noqa: E402
from pacslabel.context import open_context  # noqa: E402
from pacslabel.settings import load_settings  # noqa: E402
from simhospital import generate_study, write_study  # noqa: E402

MAX_RSS_MB = 2048
GOOD = 6
TRAINING = """
[training]
image_size = 32
epochs = 1
batch_size = 16
min_studies = 4
device = "cpu"
augment = false
"""


def _upload(orthanc: Orthanc, data: bytes) -> bool:
    request = urllib.request.Request(
        f"http://127.0.0.1:{orthanc.http_port}/instances", data=data, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return bool(json.loads(response.read()).get("Status") in ("Success", "AlreadyStored"))
    except urllib.error.HTTPError:
        return False


def _pass(config: Path) -> tuple[int, float, float, str]:
    start = time.perf_counter()
    ran = pacslabel(config, "run", timeout=3600, measure=True)
    first_line = ran.stdout.splitlines()[0] if ran.stdout else ""
    return ran.returncode, time.perf_counter() - start, peak_rss_mb(ran), first_line


def _states(config: Path, uids: dict[str, str]) -> dict[str, tuple[str, str]]:
    with open_context(load_settings(config)) as ctx, Session(ctx.engine) as session:
        out = {}
        for key, uid in uids.items():
            study = session.scalar(
                select(Study).where(Study.study_uid == ctx.pseudonymiser.uid(uid))
            )
            if study is None:
                out[key] = ("not in the corpus", "")
                continue
            reason = f"{study.failed_stage or ''}: {study.failure_reason or ''}"
            file_reason = session.scalar(
                select(QuarantineEntry.reason)
                .where(
                    QuarantineEntry.study_uid == study.study_uid,
                    QuarantineEntry.path.is_not(None),
                )
                .limit(1)
            )
            if file_reason and study.state is not StudyState.QUARANTINED:
                reason = f"{reason.strip(': ')}; a file: {file_reason}"
            out[key] = (str(study.state), reason)
    return out


def _hostile_run(root: Path, with_hostile: bool) -> tuple[list[tuple[int, float, float]], dict]:
    orthanc = start_orthanc(root / "orthanc")
    try:
        for index in range(GOOD):
            for data in hostile.good_study(index).values():
                _upload(orthanc, data)
        corpus = hostile.corpus() if with_hostile else []
        refused: dict[str, int] = {}
        for study in corpus:
            if study.kind != "nested-500":  # it crashes Orthanc 1.10
                refused[study.kind] = sum(not _upload(orthanc, d) for d in study.files.values())
        config = pacslabel_config(root, orthanc, f"sqlite:///{root / 'db.sqlite'}", extra=TRAINING)
        pacslabel(config, "db", "upgrade")
        passes = [_pass(config)[:3], _pass(config)[:3]]
        states = _states(config, {s.kind: s.study_uid for s in corpus})
        return passes, {"refused": refused, "states": states, "corpus": corpus}
    finally:
        orthanc.stop()


def hostile_bench(write: bool) -> None:
    root = Path(tempfile.mkdtemp(prefix="pacslabel-hostile-"))
    try:
        baseline, _ = _hostile_run(root / "baseline", with_hostile=False)
        passes, found = _hostile_run(root / "hostile", with_hostile=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    corpus = found["corpus"]
    rows = []
    wrong = 0
    for study in corpus:
        state, reason = found["states"].get(study.kind, ("sent to our SCP only", ""))
        if study.kind == "nested-500":
            state, reason = "not sent (crashes Orthanc)", "refused by our SCP (tests)"
        ok = (state == "reported") == (study.expect == "reported") or study.kind == "nested-500"
        wrong += not ok
        refused = found["refused"].get(study.kind, 0)
        rows.append(
            f"| {study.kind} | {study.what} | {study.expect} | {state} | "
            f"{reason.strip(': ')[:170].replace('|', '/')} | {refused or ''} |"
        )
    table = "\n".join(rows)
    runs = "\n".join(
        f"| {label} | {n} | {code} | {seconds:.1f} s | {rss:.0f} MB |"
        for label, group in (("good studies only (baseline)", baseline), ("hostile + good", passes))
        for n, (code, seconds, rss) in enumerate(group, 1)
    )
    peak = max(rss for _, _, rss in passes)
    body = (
        "## Hostile studies through Orthanc (peak memory)\n\n"
        "`.venv/bin/python bench/robustness.py hostile`\n\n"
        f"{len(corpus)} hostile studies (tests/support/hostile.py) among {GOOD} good ones, "
        "in Orthanc 1.10, through `pacslabel run` (SQLite, training included) twice, each "
        "pass under `/usr/bin/time -v`; the baseline is the same two passes over the good "
        "studies alone.\n\n"
        "| corpus | pass | exit | time | peak RSS |\n|---|---|---|---|---|\n"
        f"{runs}\n\n"
        f"Peak memory with the hostile studies: **{peak:.0f} MB** (limit {MAX_RSS_MB} MB). "
        f"Studies not where they should be: **{wrong}**.\n\n"
        "| kind | what | must end | ended | reason | files Orthanc refused |\n"
        "|---|---|---|---|---|---|\n"
        f"{table}"
    )
    print(body)
    if write:
        write_section("hostile", body)


def _expected(study: object) -> str:
    views = set(getattr(study, "views", ()))
    standing = {"ap/standing", "lateral/standing"}
    return "reported" if standing <= views else "waiting_pair"


def load_bench(studies: int, scale: float, write: bool) -> None:
    root = Path(tempfile.mkdtemp(prefix="pacslabel-load-"))
    orthanc = start_orthanc(root / "orthanc")
    try:
        made = [generate_study(i, seed=2026, scale=scale) for i in range(studies)]
        files = [
            path
            for study in made
            for path in write_study(
                study, root / "archive" / study.study_instance_uid, root / "ris"
            )
        ]
        stored = store_files(LocalAE("UPLOADER"), orthanc.node, files)
        megabytes = sum(p.stat().st_size for p in files) / 1e6
        extra = (
            f'report_drop = "{root / "ris"}"\nassociations = 4\n'
            f"max_studies_per_run = {studies}\n{TRAINING}"
        )
        config = pacslabel_config(root, orthanc, f"sqlite:///{root / 'db.sqlite'}", extra=extra)
        pacslabel(config, "db", "upgrade")
        code, seconds, rss, summary = _pass(config)
        states = _states(config, {s.study_instance_uid: s.study_instance_uid for s in made})
    finally:
        orthanc.stop()
        shutil.rmtree(root, ignore_errors=True)
    counted = collections.Counter(state for state, _ in states.values())
    expected = {s.study_instance_uid: _expected(s) for s in made}
    wrong = [uid for uid, (state, _) in states.items() if state != expected[uid]]
    by_state = ", ".join(f"{state} {n}" for state, n in counted.most_common())
    body = (
        "## Load: many small studies through Orthanc in one pass\n\n"
        f"`.venv/bin/python bench/robustness.py load --studies {studies} --scale {scale}`\n\n"
        f"{studies} simulated studies ({stored.stored} instances, {megabytes:.0f} MB) in "
        "Orthanc 1.10; one `pacslabel run` (SQLite, 4 associations, training at 32 px for "
        "one epoch) under `/usr/bin/time -v`.\n\n"
        "| studies | exit | time | studies/s | peak RSS |\n|---|---|---|---|---|\n"
        f"| {studies} | {code} | {seconds:.0f} s | {studies / seconds:.2f} | {rss:.0f} MB |\n\n"
        f"The pass said: {summary}\n\nStates: {by_state}. Studies not in the state they "
        f"should be (reported, or waiting for a pair the simulator did not make): "
        f"**{len(wrong)}**."
    )
    print(body)
    if write:
        write_section("load", body)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("which", choices=["hostile", "load"])
    parser.add_argument("--studies", type=int, default=2000)
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.which == "hostile":
        hostile_bench(not args.no_write)
    else:
        load_bench(args.studies, args.scale, not args.no_write)


if __name__ == "__main__":
    main()
