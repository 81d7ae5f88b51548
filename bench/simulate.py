"""How fast the simulated hospital writes an archive to disk.

    .venv/bin/python bench/simulate.py --studies 10000 --workers 2

Studies are written in batches into a temporary folder; each finished batch
is deleted (10,000 full-size studies are ~170 GB), and the time of the
whole run, deletion included, is the figure. Target (issue 3): 10,000
studies in under 15 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from _report import write_section

from simhospital import write_archive


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--studies", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--no-write", action="store_true", help="print, do not touch BENCHMARKS.md")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="pacslabel-bench-"))
    studies = instances = written = 0
    start = time.perf_counter()
    try:
        for first in range(0, args.studies, args.batch):
            count = min(args.batch, args.studies - first)
            out = root / f"batch-{first}"
            summary = write_archive(out, count, seed=first, scale=args.scale, workers=args.workers)
            studies += summary.studies
            instances += summary.instances
            written += summary.bytes_written
            shutil.rmtree(out)
            elapsed = time.perf_counter() - start
            print(
                f"{studies} studies, {elapsed:.0f} s, {studies / elapsed:.2f} studies/s", flush=True
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    elapsed = time.perf_counter() - start
    body = (
        "## Simulated archive generation\n\n"
        f"`.venv/bin/python bench/simulate.py --studies {args.studies} --workers {args.workers}"
        f"{'' if args.scale == 1 else f' --scale {args.scale}'}`\n\n"
        "| studies | instances | written | time | studies/s | target |\n|---|---|---|---|---|---|\n"
        f"| {studies} | {instances} | {written / 1e9:.1f} GB | {elapsed / 60:.1f} min "
        f"| {studies / elapsed:.2f} | 10,000 in < 15 min (11.1/s) |\n\n"
        "Full-size images (2000–2336 rows, 12–16 bits, ~8% JPEG-LS/JPEG 2000), a report SR "
        "each, written as DICOM files, in batches deleted when done (the disk cannot hold "
        "10,000 full-size studies); the time includes writing and deleting."
    )
    print(body)
    if not args.no_write:
        write_section("simulate", body)


if __name__ == "__main__":
    main()
