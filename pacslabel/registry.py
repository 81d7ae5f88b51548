"""The model registry as the application uses it: which models are current, which
report labeller the settings choose, and the code version recorded with each model.

Rows live in the ``models`` table (:class:`db.Model`, queried by :mod:`db.queries`):
image models by mode (:class:`db.ModelMode`), report labellers with mode ``nlp``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db.queries import newest_labeller
from labeller import Labeller, LabellerError, RuleLabeller
from labeller.bert import BertLabeller
from pacslabel import __version__
from pacslabel.settings import LabellingSettings

__all__ = ["code_version", "configured_labeller", "load_labeller"]


def code_version() -> str:
    """The package version and, in a git checkout, the commit."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parent,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{__version__}+{commit}" if commit else __version__


def load_labeller(engine: Engine, task: str, name: str | None) -> BertLabeller:
    """A trained report labeller by registered version or saved folder; ``None``: the
    newest registered for ``task``.

    Raises
    ------
    LabellerError
        No such labeller.
    """
    with Session(engine) as session:
        row = newest_labeller(session, task, name)
    if row is not None:
        return BertLabeller.load(Path(row.path))
    if name is not None and Path(name).is_dir():
        return BertLabeller.load(Path(name))
    if name is None:
        raise LabellerError(
            "no BERT labeller is registered: train one with `pacslabel labeller train`"
        )
    raise LabellerError(f"{name!r} is neither a registered labeller nor a saved model folder")


def configured_labeller(
    settings: LabellingSettings, rules: RuleLabeller, engine: Engine, task: str, findings: list[str]
) -> Labeller:
    """The labeller ``labelling.labeller`` chooses: ``rules``, or a trained one for
    ``findings``.

    Raises
    ------
    LabellerError
        No such trained labeller, or one trained for other findings.
    """
    if settings.labeller == "rules":
        return rules
    labeller = load_labeller(engine, task, settings.bert_model)
    if labeller.findings != findings:
        raise LabellerError(
            f"labeller {labeller.version} was trained for other findings than task {task}"
        )
    return labeller
