"""Discover studies on the PACS (incrementally) and retrieve them, several at a time;
take in the studies a peer pushed to our storage SCP."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import IngestWatermark, Study, StudyState
from db.queries import audit, fail, quarantine, set_state, studies_in
from pacsbridge import (
    InstancesRefused,
    InvalidInstance,
    MoveDestinationUnknown,
    MoveResult,
    OriginalIdentity,
    PacsBridgeError,
    PeerRefusal,
    Refusal,
    StorageSCP,
    StudyRecord,
    find_studies,
    get_study,
    is_transient,
    lenient_date,
    move_study,
    read_instance,
    single_uid,
)
from pacslabel.context import Context
from pacslabel.errors import EnvironmentFault, LinkageError, environment_fault, one_line

__all__ = [
    "DiscoverResult",
    "adopt_pushed",
    "discover",
    "in_window",
    "record_refusals",
    "retrieve",
]

#: What is read of a pushed instance to take its study in.
_PUSHED_TAGS = ["StudyInstanceUID", "AccessionNumber", "Modality"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DiscoverResult:
    found: int
    new: int
    date_from: str | None = None


def in_window(window: str | None, now: dt.datetime | None = None) -> bool:
    """Whether ``now`` (local time) falls in ``HH:MM-HH:MM``; no window means always."""
    if not window:
        return True
    now = now or dt.datetime.now()
    start_text, _, end_text = window.partition("-")
    start = dt.time.fromisoformat(start_text)
    end = dt.time.fromisoformat(end_text)
    moment = now.time()
    if start <= end:
        return start <= moment < end
    return moment >= start or moment < end  # the window spans midnight


def _node_key(ctx: Context) -> str:
    return str(ctx.node)


def _query_from(ctx: Context, mark: IngestWatermark | None) -> str | None:
    """The C-FIND lower date bound: the watermark minus the overlap, or the setting."""
    configured = ctx.settings.ingest.study_date_from
    known = lenient_date(mark.last_study_date) if mark is not None else None
    if known is None or known > _latest_date(ctx):  # unreadable, or a date to come (a typo)
        return configured
    day = dt.datetime.strptime(known, "%Y%m%d").date()
    start = (day - dt.timedelta(days=ctx.settings.ingest.watermark_overlap_days)).strftime("%Y%m%d")
    return max(start, configured) if configured else start


def _latest_date(ctx: Context) -> str:
    """The latest study date taken as true: today plus ``ingest.future_date_tolerance_days``."""
    days = ctx.settings.ingest.future_date_tolerance_days
    return (dt.date.today() + dt.timedelta(days=days)).strftime("%Y%m%d")


def _discovered(session: Session, uid: str, record: StudyRecord, latest: str) -> Study:
    """A new study as the C-FIND gave it: to be retrieved, or quarantined at once when the
    PACS files it under a Study Instance UID that is not one valid UID (no retrieval of it
    could be trusted to bring what it names) or under a date that is none or is to come
    (which would stop the incremental query)."""
    study = Study(
        study_uid=uid,
        state=StudyState.DISCOVERED,
        attempts=0,
        expected_instances=record.number_of_study_related_instances,
    )
    session.add(study)
    if single_uid(record.study_instance_uid) is None:
        reason = "the PACS lists it under a Study Instance UID that is not one valid UID"
        quarantine(session, study, "discover", reason)
    elif record.date_problem:
        quarantine(session, study, "discover", f"the PACS lists it, but {record.date_problem}")
    elif record.study_date > latest:
        reason = (
            f"the PACS dates it {record.study_date}, after {latest} "
            "(today + ingest.future_date_tolerance_days)"
        )
        quarantine(session, study, "discover", reason)
    return study


@dataclass
class _Taken:
    """What one C-FIND answer gave, taken newest first."""

    new: int = 0
    newest: str | None = None
    """The newest trusted date in the answer."""
    oldest: str | None = None
    """The oldest trusted date of a study recorded from it."""
    truncated: bool = False
    """More new studies than the pass could take: the older rest waits."""


def _take(
    ctx: Context,
    session: Session,
    records: list[StudyRecord],
    known: set[str],
    capacity: int,
) -> _Taken:
    """Record the new studies of ``records``, newest first, up to ``capacity``."""
    latest, taken = _latest_date(ctx), _Taken()
    for record in sorted(records, key=lambda r: (r.study_date, r.study_instance_uid), reverse=True):
        uid = ctx.pseudonymiser.uid(record.study_instance_uid)
        identity = OriginalIdentity.bare(
            study_instance_uid=record.study_instance_uid,
            accession_number=record.accession_number,
        )
        trusted = bool(record.study_date) and record.study_date <= latest
        if trusted:
            taken.newest = max(taken.newest or record.study_date, record.study_date)
        if uid in known:  # re-link it if its linkage key was lost (a no-op otherwise)
            ctx.vault.put(session, uid, "study", identity)
            continue
        if taken.new >= capacity:
            taken.truncated = True
            break
        known.add(uid)
        _discovered(session, uid, record, latest)
        ctx.vault.put(session, uid, "study", identity)
        taken.new += 1
        if trusted:
            taken.oldest = min(taken.oldest or record.study_date, record.study_date)
    return taken


def _backlog(before: str | None, taken: _Taken) -> str | None:
    """Up to which day studies may remain unrecorded after ``taken``."""
    if not taken.truncated:
        return before
    bound = taken.oldest or taken.newest
    return max(before or "", bound or "") or None


def _older(
    ctx: Context, session: Session, known: set[str], room: int, before: str
) -> tuple[_Taken, str | None]:
    """Record up to ``room`` of the studies left over by earlier passes (dated up to
    ``before``), newest first; returns them and the backlog that remains."""
    ingest = ctx.settings.ingest
    bound = min(before, ingest.study_date_to) if ingest.study_date_to else before
    records = find_studies(
        ctx.local,
        ctx.node,
        ctx.task.study_filter(),
        date_from=ingest.study_date_from,
        date_to=bound,
    )
    taken = _take(ctx, session, records, known, room)
    return taken, (taken.oldest or before) if taken.truncated else None


def _move_watermark(
    ctx: Context,
    session: Session,
    mark: IngestWatermark | None,
    newest: str | None,
    backlog: str | None,
) -> None:
    if mark is None:
        if newest:
            session.add(
                IngestWatermark(node=_node_key(ctx), last_study_date=newest, backlog_before=backlog)
            )
        return
    if newest and newest > mark.last_study_date:
        mark.last_study_date = newest
    mark.backlog_before = backlog


def discover(ctx: Context, *, full: bool = False) -> DiscoverResult:
    """C-FIND the task's studies since the watermark; record the new ones as ``discovered``.

    New studies are taken newest first, at most ``ingest.max_studies_per_run`` a
    pass: a first pass on a large archive reaches today's studies at once. The
    older rest is not lost: the watermark's ``backlog_before`` keeps the day up to
    which studies may remain, and a pass with room left queries that range too.
    The watermark moves only over dates not later than today plus
    ``ingest.future_date_tolerance_days``; a study dated later, or not dated, is
    quarantined at discovery. ``full`` queries the whole configured date range
    instead, which finds studies that reached the PACS late with a date older than
    the watermark (imports, merged records).

    Raises
    ------
    QueryFailed, AssociationRejected, AssociationAborted
        The PACS cannot be queried; nothing is recorded.
    """
    ingest = ctx.settings.ingest
    with Session(ctx.engine) as session:
        mark = session.get(IngestWatermark, _node_key(ctx))
        date_from = ingest.study_date_from if full else _query_from(ctx, mark)
        records = find_studies(
            ctx.local,
            ctx.node,
            ctx.task.study_filter(),
            date_from=date_from,
            date_to=ingest.study_date_to,
        )
        known = set(session.scalars(select(Study.study_uid)))
        taken = _take(ctx, session, records, known, ingest.max_studies_per_run)
        backlog = _backlog(mark.backlog_before if mark else None, taken)
        new, room = taken.new, ingest.max_studies_per_run - taken.new
        if backlog and room > 0 and not taken.truncated:
            older, backlog = _older(ctx, session, known, room, backlog)
            new += older.new
        _move_watermark(ctx, session, mark, taken.newest, backlog)
        audit(
            session,
            "ingest.discover",
            found=len(records),
            new=new,
            date_from=date_from,
            full=full,
            backlog=backlog is not None,
        )
        session.commit()
    logger.info(
        "discovered %d new of %d matching studies (from %s)%s",
        new,
        len(records),
        date_from or "the beginning",
        f"; studies up to {backlog} wait for the next passes" if backlog else "",
    )
    return DiscoverResult(found=len(records), new=new, date_from=date_from)


def _fetch(ctx: Context, scp: StorageSCP, study_instance_uid: str) -> MoveResult:
    """Retrieve one study, retrying transient failures with exponential backoff."""
    ingest = ctx.settings.ingest
    attempt = 0
    while True:
        try:
            if ingest.retrieve_method == "get":
                return get_study(ctx.local, ctx.node, study_instance_uid, scp.receiver)
            return move_study(ctx.local, ctx.node, study_instance_uid, scp)
        except PacsBridgeError as exc:
            if not is_transient(exc) or attempt >= ingest.retries:
                raise
            delay = ingest.retry_backoff_s * (2**attempt)
            logger.info("retrying a retrieval in %.1f s: %s", delay, exc)
            time.sleep(delay)
            attempt += 1


def retrieve(ctx: Context, scp: StorageSCP) -> int:
    """Retrieve every discovered study (``ingest.associations`` at a time); returns how
    many arrived. A study that fails keeps its state (retried next run) until it has
    failed ``ingest.max_attempts`` runs.

    Raises
    ------
    MoveDestinationUnknown, AssociationRejected
        The PACS refuses us or does not know our AE: nothing can be retrieved
        until the operator acts (the message says what to do).
    """
    ingest = ctx.settings.ingest
    done = 0
    with Session(ctx.engine) as session:
        studies, originals = [], {}
        for study in studies_in(session, StudyState.DISCOVERED):
            try:
                originals[study.id] = ctx.vault.get(session, study.study_uid).study_instance_uid
                studies.append(study)
            except LinkageError as exc:  # re-linked by the next C-FIND that sees it
                logger.warning("cannot retrieve %s yet: %s", study.study_uid, exc)
        by_id = {s.id: s for s in studies}
        with (
            ctx.progress.step(
                f"retrieving studies ({ingest.retrieve_method.upper()})", len(studies)
            ) as bar,
            ThreadPoolExecutor(max_workers=ingest.associations) as pool,
        ):
            futures: dict[Future[MoveResult], int] = {
                pool.submit(_fetch, ctx, scp, originals[s.id]): s.id for s in studies
            }
            undecided: list[tuple[Study, MoveDestinationUnknown]] = []
            try:
                for future in as_completed(futures):
                    study = by_id[futures[future]]
                    _our_disk(scp)
                    unsure = _settle(ctx, session, study, future)
                    if unsure is not None:
                        undecided.append((study, unsure))
                    done += study.state is StudyState.RETRIEVED
                    session.commit()
                    bar.advance()
            finally:
                for future in futures:
                    future.cancel()
        _decide(ctx, session, undecided, done)
    return done


def _our_disk(scp: StorageSCP) -> None:
    """Stop retrieving when received instances could not be written (our data folder is
    full or read-only): no study is to blame, and every other would fail the same way.

    Raises
    ------
    EnvironmentFault
    """
    error = scp.receiver.take_write_error()
    if error is not None:
        raise environment_fault(error) or EnvironmentFault(
            f"cannot write received instances: {error}"
        )


def _settle(
    ctx: Context, session: Session, study: Study, future: Future[MoveResult]
) -> MoveDestinationUnknown | None:
    """Record how one study's retrieval ended. Returns the PACS's refusal when it may mean
    either that the PACS does not know our AE or that it cannot send this study (Orthanc
    answers 0xC000 to both): :func:`_decide` tells them apart when the pass is over.

    Raises
    ------
    MoveDestinationUnknown, AssociationRejected
        The operator has to act (the PACS does not know us, or refuses us).
    EnvironmentFault
        Our database or data folder failed.
    """
    max_attempts = ctx.settings.ingest.max_attempts
    try:
        future.result()
    except InstancesRefused as exc:  # the same files would come again
        quarantine(session, study, "receive", str(exc))
    except MoveDestinationUnknown as exc:
        if exc.status == 0xA801:  # said plainly
            raise
        return exc
    except PacsBridgeError as exc:
        if not is_transient(exc):
            raise
        fail(session, study, "retrieve", str(exc), max_attempts)
    except Exception as exc:  # a fault of ours with this study: not the others'
        fault = environment_fault(exc)
        if fault is not None:
            raise fault from exc
        logger.exception("retrieving study %s failed", study.study_uid)
        fail(session, study, "retrieve", one_line(exc), max_attempts)
    else:
        set_state(study, StudyState.RETRIEVED)
    return None


def _decide(
    ctx: Context,
    session: Session,
    undecided: list[tuple[Study, MoveDestinationUnknown]],
    done: int,
) -> None:
    """Studies the PACS would not send, no sub-operation started: when others came in this
    pass the PACS knows us and could not send these (a failed attempt each); when none
    came, it does not know our AE title, and the operator must register it."""
    if undecided and done == 0:
        raise undecided[0][1]
    for study, refusal in undecided:
        reason = f"the PACS would not send this study (0x{refusal.status or 0:04X}), others it sent"
        fail(session, study, "retrieve", reason, ctx.settings.ingest.max_attempts)
    session.commit()


def record_refusals(
    ctx: Context, refusals: list[Refusal], associations: Sequence[PeerRefusal] = ()
) -> int:
    """Write the instances our storage SCP refused into the quarantine table (``quarantine
    list`` shows them, with the sender, the status answered and the reason), and the
    associations it rejected into the audit table (peer, address, reason); returns how
    many instances. The study, when known (by the C-MOVE it answers, or its header), is
    named; its retrieval was quarantined for them (:class:`~pacsbridge.InstancesRefused`)."""
    if associations:
        with Session(ctx.engine) as session:
            for peer in associations:
                audit(
                    session,
                    "scp.refused",
                    calling_ae_title=peer.calling_ae_title,
                    address=peer.address,
                    called_ae_title=peer.called_ae_title,
                    reason=peer.reason,
                )
            session.commit()
        logger.warning(
            "our storage SCP rejected %d associations (audit_events scp.refused): %s",
            len(associations),
            associations[-1].reason,
        )
    if not refusals:
        return 0
    with Session(ctx.engine) as session:
        for refusal in refusals:
            study = None
            if refusal.study_pseudonym:
                study = session.scalar(
                    select(Study).where(Study.study_uid == refusal.study_pseudonym)
                )
            where = refusal.path
            if where.is_relative_to(ctx.paths.root):
                where = where.relative_to(ctx.paths.root)
            sop = f" instance {refusal.sop_pseudonym}" if refusal.sop_pseudonym else ""
            entry = (
                f"refused{sop} from {refusal.calling_ae_title} "
                f"(status 0x{refusal.status:04X}): {refusal.reason}"
            )
            quarantine(session, study, "receive", entry, path=str(where))
        session.commit()
    logger.warning(
        "%d instances refused by our storage SCP (pacslabel quarantine list)", len(refusals)
    )
    return len(refusals)


def _pushed_folders(ctx: Context, known: set[str]) -> list[Path]:
    """Incoming folders of studies not recorded whose last file is older than
    ``ingest.push_settle_s`` (a push still arriving is left for the next pass)."""
    settled_before = time.time() - ctx.settings.ingest.push_settle_s
    found = []
    for folder in sorted(ctx.paths.incoming.iterdir()):
        if not folder.is_dir() or folder.name in known:
            continue
        stamps = [path.stat().st_mtime for path in folder.glob("*.dcm")]
        if stamps and max(stamps) < settled_before:
            found.append(folder)
    return found


def _adopt(ctx: Context, session: Session, folder: Path) -> Study:
    """One pushed study: retrieved when it holds an image of the task's modalities, else
    quarantined (its files go where quarantined studies' files go)."""
    modalities, original, accession = set(), "", ""
    for path in sorted(folder.glob("*.dcm")):
        try:
            ds = read_instance(path, ctx.settings.limits.limits(), tags=_PUSHED_TAGS)
        except InvalidInstance:
            continue  # the de-identification stage quarantines it with its reason
        modalities.add(str(ds.get("Modality", "")))
        original = original or str(ds.get("StudyInstanceUID", ""))
        accession = accession or str(ds.get("AccessionNumber", ""))
    study = Study(study_uid=folder.name, state=StudyState.RETRIEVED, attempts=0)
    session.add(study)
    if original:
        identity = OriginalIdentity.bare(study_instance_uid=original, accession_number=accession)
        ctx.vault.put(session, folder.name, "study", identity)
    wanted = set(ctx.task.query.modalities)
    if not modalities & wanted:
        seen = ", ".join(sorted(m for m in modalities if m)) or "none readable"
        quarantine(session, study, "receive", f"pushed study of other modalities ({seen})")
    audit(session, "ingest.pushed", study.study_uid, modalities=sorted(modalities))
    return study


def adopt_pushed(ctx: Context) -> int:
    """Take in the studies a peer pushed to our storage SCP (C-STORE without our C-MOVE:
    a PACS's auto-routing, a modality, ``storescu``) as retrieved, their identity from
    their own files; returns how many were taken in."""
    if not ctx.paths.incoming.is_dir():
        return 0
    with Session(ctx.engine) as session:
        known = set(session.scalars(select(Study.study_uid)))
        folders = _pushed_folders(ctx, known)
        for folder in folders:
            study = _adopt(ctx, session, folder)
            session.commit()
            logger.info("study %s was pushed to us: %s", study.study_uid, study.state)
    return len(folders)
