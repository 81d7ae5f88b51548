"""The task definition is data, validated at load."""

from __future__ import annotations

from pathlib import Path

import pytest

from pacslabel.errors import InvalidTask
from pacslabel.task import load_task
from simhospital import FINDINGS


def test_shipped_lumbar_task() -> None:
    task = load_task("lumbar_spine")
    assert task.finding_keys == list(FINDINGS)  # the simulator speaks the same task
    assert len(task.findings) == 12
    assert task.study_filter().modalities == ("CR", "DX")
    assert "LL" in task.view_rules().lateral_view_positions
    schemes = {f.code.scheme for f in task.findings}
    assert schemes <= {"SCT", "99PACSLABEL"}
    assert len(task.digest) == 64
    assert task.lexicon().version.startswith("lumbar_spine-v1-")


def test_unknown_task_name() -> None:
    with pytest.raises(InvalidTask, match="no task named 'knee'"):
        load_task("knee")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "task.toml"
    path.write_text(text)
    return path


_HEADER = """
name = "t"
title = "T"
version = 1
language = "it"
[query]
modalities = ["DX"]
[views.ap]
channel = "red"
description_words = ["ap"]
[views.lateral]
channel = "blue"
description_words = ["lat"]
[language_rules]
negation_before = ["non"]
uncertainty_before = ["forse"]
"""


def test_duplicate_finding_keys_are_refused(tmp_path: Path) -> None:
    finding = (
        '[[findings]]\nkey = "a"\nname_en = "A"\nname_it = "A"\n'
        'code = { scheme = "X", value = "1", meaning = "A" }\nlexicon = ["a"]\n'
    )
    with pytest.raises(InvalidTask, match="repeated: a"):
        load_task(str(_write(tmp_path, _HEADER + finding + finding)))


def test_bad_regex_is_refused_with_the_finding(tmp_path: Path) -> None:
    finding = (
        '[[findings]]\nkey = "a"\nname_en = "A"\nname_it = "A"\n'
        'code = { scheme = "X", value = "1", meaning = "A" }\nlexicon = ["re:(unclosed"]\n'
    )
    with pytest.raises(InvalidTask, match="finding a: bad regular expression"):
        load_task(str(_write(tmp_path, _HEADER + finding)))


def test_missing_section_is_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidTask, match="findings"):
        load_task(str(_write(tmp_path, _HEADER)))


def test_the_views_choose_the_model_input_channels(tmp_path: Path) -> None:
    assert load_task("lumbar_spine").channels() == (0, 2)  # the paper: AP red, lateral blue
    finding = (
        '[[findings]]\nkey = "a"\nname_en = "A"\nname_it = "A"\n'
        'code = { scheme = "X", value = "1", meaning = "A" }\nlexicon = ["a"]\n'
    )
    swapped = _HEADER.replace('channel = "red"', 'channel = "green"')
    assert load_task(str(_write(tmp_path, swapped + finding))).channels() == (1, 2)
    same = _HEADER.replace('channel = "red"', 'channel = "blue"')
    with pytest.raises(InvalidTask, match="share the blue channel"):
        load_task(str(_write(tmp_path, same + finding)))
