"""What the command prints: progress bars, errors, the run report and the corpus table.

Everything goes through :class:`Output`: results to standard output, logs,
progress and errors to standard error (the journal under systemd).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pacsbridge import MoveDestinationUnknown
from pacslabel.errors import ExitCode
from pacslabel.pipeline import RunReport
from pacslabel.progress import ProgressStep
from pacslabel.settings import Settings
from pacslabel.tools.summary import CorpusSummary
from scoring import format_number

__all__ = [
    "Handler",
    "Output",
    "RichProgress",
    "Subcommands",
    "ingest_exit",
    "print_run",
    "print_status",
]

Subcommands = argparse._SubParsersAction  # argparse names no public type for it
"""What ``add_subparsers`` returns: each command module's ``add_parser`` adds its own."""

Handler = Callable[[argparse.Namespace, Settings, "Output"], int]
"""A command: parsed arguments, the loaded settings, where to write → the exit code."""


class _RichStep:
    def __init__(self, bars: Progress, task_id: object) -> None:
        self._bars = bars
        self._task_id = task_id

    def advance(self, amount: int = 1) -> None:
        self._bars.advance(self._task_id, amount)  # type: ignore[arg-type]


class RichProgress:
    """A :class:`~pacslabel.progress.ProgressReporter` that draws a bar per step on ``console``."""

    def __init__(self, console: Console) -> None:
        self._console = console

    @contextmanager
    def step(self, description: str, total: int) -> Iterator[ProgressStep]:
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        # Off a terminal (a pipe, the journal) bars would be lines of noise.
        quiet = total == 0 or not self._console.is_terminal
        with Progress(*columns, console=self._console, disable=quiet) as bars:
            yield _RichStep(bars, bars.add_task(description, total=total))


@dataclass
class Output:
    """Where a command writes: results on ``console``, errors and progress on ``err``."""

    console: Console = field(default_factory=Console)
    err: Console = field(default_factory=lambda: Console(stderr=True))

    @property
    def progress(self) -> RichProgress:
        return RichProgress(self.err)

    def print(self, text: str, *, markup: bool = True) -> None:
        """A line of the result (long lines wrap softly, never cut)."""
        self.console.print(text, soft_wrap=True, markup=markup)

    def error(self, error: BaseException | str) -> None:
        """An error, in red, on standard error."""
        self.err.print(f"[red]{escape(str(error))}[/red]", soft_wrap=True)


def _summary_table(summary: CorpusSummary) -> Table:
    table = Table(title=f"Corpus: {summary.studies} studies; model {summary.model_version or '—'}")
    # Label counts (the configured labeller) and the current model on its held-out studies.
    for column in ("finding", "pos", "unc", "neg", "n/m", "AUC", "n (pos)"):
        table.add_column(column, justify="left" if column == "finding" else "right")
    for finding, counts in summary.labels.items():
        metrics = summary.held_out.get(finding, {})
        auc = metrics.get("auc")
        table.add_row(
            finding,
            *(
                str(counts.get(s, 0))
                for s in ("positive", "uncertain", "negative", "not_mentioned")
            ),
            format_number(auc),
            f"{metrics.get('n', 0)} ({metrics.get('positives', 0)})" if metrics else "—",
        )
    return table


def _states(summary: CorpusSummary) -> str:
    states = sorted(summary.studies_by_state.items())
    return "Studies by state: " + ", ".join(f"{state} {count}" for state, count in states)


def print_status(out: Output, summary: CorpusSummary) -> None:
    """Studies by state, why studies are held, and the corpus table."""
    out.print(_states(summary))
    if summary.held:
        out.print("Held out of the corpus (pacslabel quarantine list):")
        for why, count in summary.held.items():
            out.print(f"  {count:5d}  {why}", markup=False)
    out.console.print(_summary_table(summary))


def print_run(out: Output, report: RunReport, summary: CorpusSummary) -> None:
    """What one pass did, then where the corpus stands."""
    out.print(
        f"This run: {report.found} matching studies on the PACS, {report.new} new, "
        f"{report.retrieved} retrieved, {report.deidentified} de-identified and paired, "
        f"{report.labelled} labelled, {report.cached} cached, {report.predicted} predicted, "
        f"{report.reported} SRs stored back."
    )
    if report.ingest_error is not None:
        out.print(f"Ingest stopped: {escape(str(report.ingest_error))}")
    if report.quarantined or report.files_quarantined:
        out.print(
            f"Quarantined by this run: {report.quarantined} studies, "
            f"{report.files_quarantined} instances (pacslabel quarantine list says why)."
        )
    burned = summary.burned_in
    if any(burned.values()):
        out.print(
            f"Burned-in text (so far): {burned.get('quarantined', 0)} studies quarantined for "
            f"identifiers found in their pixels, {burned.get('masked', 0)} masked, "
            f"{burned.get('flagged', 0)} said so in their headers (BurnedInAnnotation YES)."
        )
    training = report.training
    out.print(
        f"Training: {training.status}"
        + (f" ({training.reason})" if training.reason else "")
        + (f", model {training.model_version}" if training.model_version else "")
    )
    out.print(_states(summary))
    out.print(f"SRs stored in the PACS so far: {summary.srs_sent}")
    out.console.print(_summary_table(summary))


def ingest_exit(report: RunReport) -> ExitCode:
    """The exit code of a pass: what stopped ingest, if anything (later stages still ran);
    else whether everything that came was quarantined (a pass that quarantined some studies
    and processed others exits 0)."""
    if isinstance(report.ingest_error, MoveDestinationUnknown):
        return ExitCode.MOVE_DESTINATION
    if report.ingest_error is not None:
        return ExitCode.PACS
    if report.nothing_processed:
        return ExitCode.NOTHING_PROCESSED
    return ExitCode.OK
