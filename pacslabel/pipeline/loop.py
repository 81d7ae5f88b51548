"""The loop, composed in one place: ingest (and a look at the waiting studies) → label →
cache → train → predict → write back."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

from sqlalchemy.orm import Session

from db.queries import quarantine_mark, quarantined_since
from pacsbridge import PacsBridgeError, Peer, SenderRejected, StorageSCP
from pacslabel.context import Context
from pacslabel.errors import EnvironmentFault, environment_fault
from pacslabel.pipeline.recovery import pass_lock, recover_interrupted
from pacslabel.pipeline.stages import (
    DiscoverResult,
    TrainOutcome,
    TrainStatus,
    adopt_pushed,
    cache_all,
    deidentify_all,
    discover,
    expire_or_attach,
    in_window,
    label_all,
    predict_all,
    recheck_waiting,
    record_refusals,
    retrieve,
    writeback_all,
)
from pacslabel.pipeline.training import train_pass

__all__ = ["RunReport", "run_once", "start_listening", "storage_scp"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunReport:
    """What one pass of the loop did."""

    found: int
    new: int
    retrieved: int
    deidentified: int
    labelled: int
    cached: int
    training: TrainOutcome
    predicted: int
    reported: int
    ingest_error: PacsBridgeError | OSError | None = None
    """Why ingest stopped early (the PACS or our storage SCP); later stages still ran."""
    quarantined: int = 0
    """Studies quarantined by this pass (``pacslabel quarantine list`` says why)."""
    files_quarantined: int = 0
    """Instances refused by our storage SCP or set aside one by one in this pass."""

    @property
    def progressed(self) -> int:
        """How many steps went through (a study counts once for each stage it passed)."""
        return (
            self.retrieved
            + self.deidentified
            + self.labelled
            + self.cached
            + self.predicted
            + self.reported
        )

    def summary(self) -> str:
        """The pass on one line, for the log."""
        line = (
            f"{self.found} found, {self.new} new, {self.retrieved} retrieved, "
            f"{self.deidentified} de-identified, {self.labelled} labelled, {self.cached} cached, "
            f"training {self.training.status}, {self.predicted} predicted, "
            f"{self.reported} reported, {self.quarantined} studies and "
            f"{self.files_quarantined} files quarantined"
        )
        return line + (f"; ingest stopped: {self.ingest_error}" if self.ingest_error else "")

    @property
    def nothing_processed(self) -> bool:
        """Input arrived, all of it was quarantined or refused, and nothing went through."""
        return self.progressed == 0 and (self.quarantined + self.files_quarantined) > 0


def peers(ctx: Context, *, push: bool) -> list[Peer]:
    """The peers our storage SCP admits (``local.allowed_*``; default: the PACS, from
    ``pacs.host``); with ``push`` (``serve``, which takes pushed studies in) those of
    ``local.push_ae_titles`` may store studies nobody asked for."""
    local, pacs = ctx.settings.local, ctx.settings.pacs
    titles = local.allowed_calling_ae_titles or [pacs.ae_title]
    hosts = local.allowed_hosts if local.allowed_hosts is not None else [pacs.host]
    pushers = set(local.push_ae_titles if local.push_ae_titles is not None else [pacs.ae_title])
    names = local.tls_peer_names or [pacs.tls_name or pacs.host]
    return [
        Peer(
            title,
            tuple(hosts),
            push=push and title in pushers,
            tls_names=tuple(names) if ctx.tls_server is not None else (),
            max_associations=local.max_associations_per_peer,
        )
        for title in titles
    ]


def storage_scp(ctx: Context, *, push: bool = False) -> StorageSCP:
    """Our storage SCP (not started): what the retrievals ask for, and with ``push`` what
    the push peers send, lands in ``incoming/`` and goes to the de-identification workers
    as it arrives; it answers C-ECHO."""
    local = ctx.settings.local
    return StorageSCP(
        ctx.local,
        ctx.paths.incoming,
        ctx.paths.quarantine / "received",
        ctx.pseudonymiser.uid,
        peers=peers(ctx, push=push),
        tls=ctx.tls_server,
        limits=ctx.settings.limits.limits(),
        max_associations=local.max_associations,
        idle_timeout_s=local.idle_timeout_s,
        on_instance=ctx.deid.submit,
    )


def start_listening(ctx: Context, scp: StorageSCP) -> StorageSCP:
    """Start ``scp``.

    Raises
    ------
    EnvironmentFault
        Its port cannot be bound (taken, or a privileged port); the message names the
        settings.
    """
    local = ctx.settings.local
    try:
        return scp.start()
    except OSError as exc:
        raise EnvironmentFault(
            f"cannot listen for DICOM on {local.bind_address}:{local.storage_port}: "
            f"{exc.strerror or exc} (settings local.storage_port, local.bind_address; "
            "a running `pacslabel serve` listens there)"
        ) from None


@contextmanager
def _listening_for_the_pass(ctx: Context, scp: StorageSCP) -> Iterator[StorageSCP]:
    start_listening(ctx, scp)
    try:
        yield scp
    finally:
        scp.stop()


def _ingest(
    ctx: Context,
    on_listening: Callable[[StorageSCP], None] | None,
    full_query: bool,
    listening: StorageSCP | None,
) -> tuple[DiscoverResult, int, PacsBridgeError | OSError | None]:
    """Discover, look at the waiting studies again, retrieve (inside the off-peak window)
    through ``listening`` (``serve``'s SCP) or an SCP of this pass; the instances our
    storage SCP refused go to the quarantine table."""
    window = ctx.settings.ingest.window
    if not in_window(window):
        logger.info("outside the off-peak window %s: nothing is retrieved this run", window)
        return DiscoverResult(0, 0), 0, None
    ctx.deid.start()  # the workers start while the PACS is queried
    scp = listening or storage_scp(ctx)
    found = DiscoverResult(0, 0)
    try:
        with nullcontext(scp) if listening else _listening_for_the_pass(ctx, scp):
            if on_listening is not None:
                on_listening(scp)
            found = discover(ctx, full=full_query)
            recheck_waiting(ctx)
            return found, retrieve(ctx, scp), None
    except (PacsBridgeError, OSError) as exc:
        fault = environment_fault(exc)
        if fault is not None:  # our data folder, not the PACS
            raise fault from exc
        hint = (
            " (settings pacs.ae_title, local.allowed_calling_ae_titles, local.allowed_hosts, "
            "local.tls_peer_names, local.max_associations_per_peer)"
            if isinstance(exc, SenderRejected)
            else ""
        )
        logger.error("ingest stopped: %s%s", exc, hint)
        return found, 0, exc
    finally:
        record_refusals(ctx, scp.receiver.take_refused(), scp.gate.take_refusals())


def run_once(
    ctx: Context,
    *,
    on_listening: Callable[[StorageSCP], None] | None = None,
    retrain: bool = True,
    full_query: bool = False,
    scp: StorageSCP | None = None,
) -> RunReport:
    """One pass of the whole loop; every stage picks up where the last run stopped.

    Parameters
    ----------
    on_listening
        Called with the running storage SCP before any C-MOVE (the demo
        uses it to register our port with the simulated PACS).
    retrain
        Whether this pass may train a model (skipped while another process trains:
        :func:`~pacslabel.pipeline.training.train_pass`).
    full_query
        Query the PACS over the whole configured date range instead of from
        the watermark (finds late studies with old dates).
    scp
        A storage SCP that is already listening (``serve`` keeps one for its whole
        life); by default the pass listens while it ingests.

    When the PACS cannot be used (unreachable, rejecting us, not knowing
    our AE) ingest stops, the error is in :attr:`RunReport.ingest_error`,
    and the later stages still run on what was already ingested.

    Raises
    ------
    PassInProgress
        Another pass holds this data folder (:func:`~pacslabel.pipeline.recovery.pass_lock`).
    EnvironmentFault
        The database or the data folder cannot be used.
    """
    with pass_lock(ctx.paths):
        recover_interrupted(ctx)
        return _run_locked(ctx, on_listening, retrain, full_query, scp)


def _run_locked(
    ctx: Context,
    on_listening: Callable[[StorageSCP], None] | None,
    retrain: bool,
    full_query: bool,
    scp: StorageSCP | None,
) -> RunReport:
    with Session(ctx.engine) as session:
        mark = quarantine_mark(session)
    expire_or_attach(ctx)
    pushed = adopt_pushed(ctx)
    found, retrieved, ingest_error = _ingest(ctx, on_listening, full_query, scp)
    deidentified = deidentify_all(ctx)
    labelled = label_all(ctx)
    cached = cache_all(ctx)
    training = (
        train_pass(ctx) if retrain else TrainOutcome(TrainStatus.SKIPPED, "not asked to train")
    )
    predicted = predict_all(ctx)
    reported = writeback_all(ctx)
    with Session(ctx.engine) as session:
        quarantined, files = quarantined_since(session, mark)
    report = RunReport(
        found.found,
        found.new,
        retrieved + pushed,
        deidentified,
        labelled,
        cached,
        training,
        predicted,
        reported,
        ingest_error,
        quarantined,
        files,
    )
    logger.info("pass finished: %s", report.summary())
    return report
