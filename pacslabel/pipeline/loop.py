"""The loop, composed in one place: ingest (and a look at the waiting studies) → label →
cache → train → predict → write back."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from pacsbridge import PacsBridgeError, StorageSCP
from pacslabel.context import Context
from pacslabel.pipeline.stages import (
    DiscoverResult,
    TrainOutcome,
    TrainStatus,
    anonymise_all,
    cache_all,
    discover,
    expire_or_attach,
    in_window,
    label_all,
    predict_all,
    recheck_waiting,
    retrieve,
    train_model,
    writeback_all,
)

__all__ = ["RunReport", "run_once"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunReport:
    """What one pass of the loop did."""

    found: int
    new: int
    retrieved: int
    anonymised: int
    labelled: int
    cached: int
    training: TrainOutcome
    predicted: int
    reported: int
    ingest_error: PacsBridgeError | OSError | None = None
    """Why ingest stopped early (the PACS or our storage SCP); later stages still ran."""


def run_once(
    ctx: Context,
    *,
    on_listening: Callable[[StorageSCP], None] | None = None,
    retrain: bool = True,
    full_query: bool = False,
) -> RunReport:
    """One pass of the whole loop; every stage picks up where the last run stopped.

    Parameters
    ----------
    on_listening
        Called with the running storage SCP before any C-MOVE (the demo
        uses it to register our port with the simulated PACS).
    retrain
        Whether this pass may train a model (the scheduler trains nightly).
    full_query
        Query the PACS over the whole configured date range instead of from
        the watermark (finds late studies with old dates).

    When the PACS cannot be used (unreachable, rejecting us, not knowing
    our AE) ingest stops, the error is in :attr:`RunReport.ingest_error`,
    and the later stages still run on what was already ingested.
    """
    allowed = ctx.settings.local.allowed_calling_ae_titles
    scp = StorageSCP(
        ctx.local,
        ctx.paths.incoming,
        ctx.paths.quarantine / "received",
        ctx.pseudonymiser.uid,
        allowed_calling_ae_titles=allowed if allowed is not None else [ctx.settings.pacs.ae_title],
        tls=ctx.tls_server,
    )
    found, retrieved = DiscoverResult(0, 0), 0
    ingest_error: PacsBridgeError | OSError | None = None
    expire_or_attach(ctx)
    window = ctx.settings.ingest.window
    if not in_window(window):
        logger.info("outside the off-peak window %s: nothing is retrieved this run", window)
    else:
        try:
            with scp:
                if on_listening is not None:
                    on_listening(scp)
                found = discover(ctx, full=full_query)
                recheck_waiting(ctx)
                retrieved = retrieve(ctx, scp)
        except (PacsBridgeError, OSError) as exc:
            logger.error("ingest stopped: %s", exc)
            ingest_error = exc
    anonymised = anonymise_all(ctx)
    labelled = label_all(ctx)
    cached = cache_all(ctx)
    training = (
        train_model(ctx) if retrain else TrainOutcome(TrainStatus.SKIPPED, "not asked to train")
    )
    predicted = predict_all(ctx)
    reported = writeback_all(ctx)
    report = RunReport(
        found.found,
        found.new,
        retrieved,
        anonymised,
        labelled,
        cached,
        training,
        predicted,
        reported,
        ingest_error,
    )
    logger.info("run finished: %s", report)
    return report
