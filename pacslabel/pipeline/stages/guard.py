"""One study's failure never stops the others.

Every per-study step of a stage runs inside :func:`isolated`: an exception for
that study — a hostile file, a value no code expected — undoes that study's
uncommitted work, quarantines it with the stage, the exception's class and a
one-line reason, commits, and the stage goes on with the next study. A
quarantined study is not retried by later passes (an operator can, with
``pacslabel quarantine retry``).

What is not the study's fault goes on up instead, to stop the pass with a
clear message (:class:`~pacslabel.errors.EnvironmentFault`): the database gone
(PostgreSQL restarted, the network down) or a data folder that cannot be
written (full, read-only, not ours).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy.orm import Session

from db import Study
from db.queries import quarantine
from pacslabel.errors import environment_fault, one_line

__all__ = ["each_isolated", "isolated"]

logger = logging.getLogger(__name__)


@contextmanager
def isolated(session: Session, study: Study, stage: str) -> Iterator[None]:
    """Run one study's step; quarantine the study if it raises (see the module doc).

    Raises
    ------
    EnvironmentFault
        The database or the data folder failed, not the study.
    """
    study_id, uid = study.id, study.study_uid
    try:
        yield
    except Exception as exc:
        fault = environment_fault(exc)
        if fault is not None:
            raise fault from exc
        reason = one_line(exc)
        logger.error("study %s: %s failed (%s); quarantined", uid, stage, reason)
        logger.debug("where: %s", "".join(traceback.format_tb(exc.__traceback__)))
        session.rollback()
        fresh = session.get(Study, study_id)
        if fresh is not None:
            quarantine(session, fresh, stage, reason)
            session.commit()


def each_isolated(
    session: Session,
    studies: Sequence[Study],
    stage: str,
    step: Callable[[Sequence[Study]], None],
) -> int:
    """Run ``step`` on ``studies`` together (a batch is faster), then commit; if it raises,
    undo and run it on each study alone, inside :func:`isolated`. Returns how many studies
    went through.

    Raises
    ------
    EnvironmentFault
        The database or the data folder failed, not a study.
    """
    ids = [study.id for study in studies]
    try:
        step(studies)
        session.commit()
        return len(studies)
    except Exception as exc:
        fault = environment_fault(exc)
        if fault is not None:
            raise fault from exc
        session.rollback()
    done = 0
    for study_id in ids:
        study = session.get(Study, study_id)
        if study is None:
            continue
        with isolated(session, study, stage):
            step([study])
            session.commit()
            done += 1
    return done
