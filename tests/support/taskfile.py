"""The shipped lumbar spine task file, read as data.

Tests of the domain packages import no ``pacslabel``: they build the inputs
each package takes (a study filter, view rules, a lexicon) from the task file
itself, with the same ``from_mapping`` constructors the application uses.
"""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path
from typing import Any

from labeller import Lexicon
from pacsbridge import StudyFilter, ViewRules

PATH = Path(__file__).resolve().parents[2] / "pacslabel" / "tasks" / "lumbar_spine.toml"
TASK: dict[str, Any] = tomllib.loads(PATH.read_text(encoding="utf-8"))
#: The lexicon version the application gives this file (``Task.lexicon``).
VERSION = f"{TASK['name']}-v{TASK['version']}-{hashlib.sha256(PATH.read_bytes()).hexdigest()[:12]}"
FINDING_KEYS: list[str] = [finding["key"] for finding in TASK["findings"]]


def study_filter() -> StudyFilter:
    return StudyFilter.from_mapping(TASK["query"])


def view_rules() -> ViewRules:
    return ViewRules.from_mapping(TASK["views"])


def lexicon() -> Lexicon:
    return Lexicon.from_mapping(
        TASK["findings"], TASK["language_rules"], VERSION, syntax=TASK.get("syntax")
    )
