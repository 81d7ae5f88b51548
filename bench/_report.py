"""Write one benchmark's section of BENCHMARKS.md (between its markers), keeping the others."""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
_HEADER = (
    "# Benchmarks\n\n"
    "Written by the scripts in `bench/`; each section says the command that produced it.\n"
    "Speeds are measured with their baseline in the same run, on the machine named.\n"
)


def machine() -> str:
    cpus = os.cpu_count()
    return f"{platform.machine()}, {cpus} CPU cores, Python {platform.python_version()}"


def write_section(name: str, body: str) -> None:
    """Replace (or add) the section ``name`` of BENCHMARKS.md."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = BENCHMARKS.read_text(encoding="utf-8") if BENCHMARKS.exists() else _HEADER
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = f"{start}\n{body.rstrip()}\n\n_Measured {stamp} on {machine()}._\n{end}"
    if start in text and end in text:
        before, _, rest = text.partition(start)
        _, _, after = rest.partition(end)
        text = before + section + after
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    BENCHMARKS.write_text(text, encoding="utf-8")
