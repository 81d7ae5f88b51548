"""``python -m trainer``: a run reproduced from its targets file, without the daemon."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import Interpreter
from trainer import PixelCache, TrainConfig, fit
from trainer.__main__ import get_args_parser
from trainer.runs import read_targets, training_command, write_targets


def _cache(root: Path, n: int = 12) -> tuple[list[str], np.ndarray]:
    cache = PixelCache(root, 32)
    rng = np.random.default_rng(0)
    keys, targets = [], []
    for i in range(n):
        ap = rng.random((40, 30)).astype(np.float32) * 0.3 + 0.6 * (i % 2)
        cache.put(f"k{i}", ap, rng.random((40, 30)).astype(np.float32))
        keys.append(f"k{i}")
        targets.append([i % 2, np.nan if i == 3 else 0.0])
    return keys, np.array(targets, dtype=np.float32)


def test_the_recorded_command_reproduces_the_run(
    tmp_path: Path, new_interpreter: Interpreter
) -> None:
    keys, targets = _cache(tmp_path / "cache")
    config = TrainConfig(
        findings=("bright", "other"),
        image_size=32,
        epochs=2,
        batch_size=4,
        learning_rate=0.01,
        device="cpu",
        precision="fp32",
    )
    run = tmp_path / "run"
    write_targets(
        run / "targets.csv", config.findings, (keys[:8], targets[:8]), (keys[8:], targets[8:])
    )
    findings, splits = read_targets(run / "targets.csv")
    assert findings == ["bright", "other"] and splits["held_out"][0] == keys[8:]
    assert np.isnan(splits["train"][1][3, 1])  # an empty cell is "not labelled"
    in_process = fit(
        config,
        PixelCache(tmp_path / "cache", 32),
        keys[:8],
        targets[:8],
        keys[8:],
        tmp_path / "direct.pt",
        manifest_hash="m",
        code_version="t",
    )

    command = training_command(config, tmp_path / "cache", run / "targets.csv", run)
    assert command[:3] == ["python", "-m", "trainer"]
    done = subprocess.run(
        new_interpreter.argv(*command[1:]), capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert (run / "model.pt").is_file()
    with (run / "held_out.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["key"] for r in rows] == keys[8:]
    probabilities = np.array([[float(r["bright"]), float(r["other"])] for r in rows])
    np.testing.assert_allclose(probabilities, in_process.held_out_probabilities, atol=1e-5)
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    assert set(metrics["held_out_auc"]) == {"bright", "other"}


def test_a_bad_targets_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("key,a\nx,1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="key and split"):
        read_targets(path)
    path.write_text("key,a,split\nx,yes,train\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2: a target is not a number"):
        read_targets(path)


def _run(command: list[str], env: dict[str, str] | None = None) -> None:
    done = subprocess.run(
        command, capture_output=True, text=True, check=False, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_two_processes_under_torchrun_learn_what_one_does(
    tmp_path: Path, new_interpreter: Interpreter
) -> None:
    keys, targets = _cache(tmp_path / "cache", 40)
    write_targets(
        tmp_path / "targets.csv",
        ("bright", "other"),
        (keys[:28], targets[:28]),
        (keys[28:], targets[28:]),
    )
    common = [
        "--cache",
        str(tmp_path / "cache"),
        "--size",
        "32",
        "--targets",
        str(tmp_path / "targets.csv"),
        "--epochs",
        "6",
        "--batch-size",
        "16",  # global: 8 per process; BatchNorm over 4 samples per process is too noisy
        "--lr",
        "0.05",
        "--device",
        "cpu",
        "--precision",
        "fp32",
    ]
    _run(new_interpreter.argv("-m", "trainer", *common, "--output", str(tmp_path / "one")))
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK")}
    _run(
        new_interpreter.argv(
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "trainer",
            *common,
            "--output",
            str(tmp_path / "two"),
        ),
        env=env,
    )
    one = json.loads((tmp_path / "one" / "metrics.json").read_text(encoding="utf-8"))
    two = json.loads((tmp_path / "two" / "metrics.json").read_text(encoding="utf-8"))
    # the same data, split between two processes (gloo): the learnable finding is learnt
    # by both, within tolerance
    assert one["held_out_auc"]["bright"] == pytest.approx(two["held_out_auc"]["bright"], abs=0.1)
    assert two["held_out_auc"]["bright"] >= 0.9
    assert (tmp_path / "two" / "model.pt").is_file()


def test_the_command_line_is_the_configuration() -> None:
    """``parse(command(c)) == c``: the options are generated from the configuration."""
    parser = get_args_parser()
    files = ["--cache", "c", "--targets", "t.csv", "--output", "o"]
    for config in (
        TrainConfig(findings=("a", "b")),
        TrainConfig(
            findings=("a",),
            image_size=64,
            epochs=3,
            batch_size=8,
            learning_rate=0.0125,
            momentum=0.5,
            weight_decay=0.0,
            seed=7,
            augment=False,
            device="cpu",
            pretrained_weights="/w.pt",
            lr_schedule="constant",
            channels=(1, 0),
            precision="bf16",
            compile=True,
            scale_learning_rate=True,
            workers=2,
            init_checkpoint="/m.pt",
        ),
    ):
        args = parser.parse_args([*files, *config.command_args()])
        assert TrainConfig.from_args(args, config.findings) == config
        command = training_command(config, Path("c"), Path("t.csv"), Path("o"))
        assert TrainConfig.from_args(parser.parse_args(command[3:]), config.findings) == config
    defaults = TrainConfig.from_args(parser.parse_args(files), ("a",))
    assert defaults == TrainConfig(findings=("a",))  # the parser's defaults are the config's


def test_a_configuration_is_checked_when_it_is_made() -> None:
    for wrong, named in (
        ({"lr_schedule": "step"}, "lr_schedule"),
        ({"precision": "fp8"}, "precision"),
        ({"channels": (0, 0)}, "channels"),
        ({"epochs": 0}, "epochs"),
        ({"learning_rate": -1.0}, "learning_rate"),
    ):
        with pytest.raises(ValueError, match=named):
            TrainConfig(findings=("a",), **wrong)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="findings"):
        TrainConfig(findings=())
