"""Training beside the passes: the training lock, what a pass leaves alone while a
training runs, and ``pacslabel train``."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import ModelMode, RunStatus, TrainingRun, upgrade
from pacslabel.cli import main
from pacslabel.context import Context, open_context
from pacslabel.errors import ExitCode, TrainingInProgress
from pacslabel.pipeline.recovery import recover_interrupted, train_lock
from pacslabel.pipeline.stages import TrainStatus
from pacslabel.pipeline.training import train_pass
from pacslabel.settings import Settings


def _training_leftovers(ctx: Context) -> tuple[int, Path, Path]:
    """A run marked running, a model folder without a checkpoint, a half-written shard."""
    with Session(ctx.engine) as session:
        run = TrainingRun(
            status=RunStatus.RUNNING, mode=ModelMode.ONE_STEP, config={}, manifest_hash="x"
        )
        session.add(run)
        session.commit()
        run_id = run.id
    folder = ctx.paths.models / "lumbar_spine-resnet18-000000000000"
    folder.mkdir(parents=True)
    (folder / "targets.csv").write_text("study_instance_uid\n")
    shard = ctx.paths.cache / "32" / "shards" / "shard-00000.npy.part"
    shard.parent.mkdir(parents=True)
    shard.write_bytes(b"half")
    return run_id, folder, shard


def _status(ctx: Context, run_id: int) -> RunStatus:
    with Session(ctx.engine) as session:
        return session.scalars(select(TrainingRun.status).where(TrainingRun.id == run_id)).one()


def test_a_pass_leaves_a_running_training_alone(settings: Settings) -> None:
    upgrade(settings.resolved_database_url)
    with open_context(settings) as ctx:
        run_id, folder, shard = _training_leftovers(ctx)
        with train_lock(ctx.paths):  # a training runs (the lock is per open file)
            left = recover_interrupted(ctx)
            assert left.training_runs == 0
            assert _status(ctx, run_id) is RunStatus.RUNNING
            assert folder.is_dir() and shard.is_file()
            busy = train_pass(ctx)
            assert busy.status is TrainStatus.BUSY and "a training is running" in busy.reason
            with pytest.raises(TrainingInProgress, match="in process"), train_lock(ctx.paths):
                pass
        # the training's process is gone: the next pass cleans up after it
        left = recover_interrupted(ctx)
        assert left.training_runs == 1 and left.partial_files == 1
        assert _status(ctx, run_id) is RunStatus.FAILED
        assert not folder.exists() and not shard.exists()


def test_train_command(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data-dir", str(settings.data_dir), "--log-level", "WARNING"]
    assert main([*data, "db", "upgrade"]) == ExitCode.OK
    capsys.readouterr()
    assert main([*data, "train"]) == ExitCode.OK
    assert "Training: skipped (0 labelled studies" in capsys.readouterr().out
    with open_context(settings) as ctx, train_lock(ctx.paths):
        assert main([*data, "train", "--wait", "0.5"]) == ExitCode.BUSY
    assert "Training: busy (a training is running on" in capsys.readouterr().out
