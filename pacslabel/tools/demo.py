"""``pacslabel demo``: the whole loop once, on embedded defaults, against the simulated PACS."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from db import upgrade
from pacslabel.context import open_context
from pacslabel.errors import UsageError
from pacslabel.pipeline.loop import RunReport, run_once
from pacslabel.progress import ProgressReporter, SilentProgress
from pacslabel.settings import NodeSettings, Settings
from pacslabel.tools.summary import CorpusSummary, corpus_summary
from simhospital import (
    BURNED_IN_RATE,
    FINDINGS,
    SimulatedPACS,
    generate_study,
    simulated_study_uid,
)

__all__ = ["DemoOptions", "run_demo"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoOptions:
    """The demo's size: small images and few epochs, so it runs on two CPU cores."""

    studies: int = 200
    seed: int = 0
    image_size: int = 128
    epochs: int = 12
    learning_rate: float = 0.01
    scale: float = 0.3
    """Detector pixels per side relative to real ones (0.3: about 650 × 540)."""
    burned_in_rate: float = BURNED_IN_RATE
    """The share of studies whose device burns the patient's identity into the pixels."""


def demo_settings(settings: Settings, options: DemoOptions, pacs: SimulatedPACS) -> Settings:
    """The user's settings with the simulated PACS (and its RIS drop folder) as the PACS,
    and demo-sized training."""
    return settings.model_copy(
        update={
            "pacs": NodeSettings(ae_title="SIMPACS", host="127.0.0.1", port=pacs.port),
            "local": settings.local.model_copy(update={"storage_port": 0}),
            "ingest": settings.ingest.model_copy(update={"report_drop": pacs.ris_dir}),
            "training": settings.training.model_copy(
                update={
                    "image_size": options.image_size,
                    "epochs": options.epochs,
                    "learning_rate": options.learning_rate,
                    "min_studies": 8,
                }
            ),
        }
    )


def run_demo(
    settings: Settings,
    options: DemoOptions,
    progress: ProgressReporter | None = None,
    *,
    train: bool = True,
) -> tuple[RunReport, CorpusSummary]:
    """Fill the simulated PACS (once), then run the loop once against it (training in
    the pass when ``train``).

    Running it again is safe: the archive is deterministic by seed, known
    studies are not ingested again, and an unchanged corpus is not retrained.

    Raises
    ------
    UsageError
        The configured task has findings the simulated hospital does not make.
    """
    progress = progress or SilentProgress()
    upgrade(settings.resolved_database_url)
    pacs = SimulatedPACS(settings.data_dir / "simulated-pacs", ae_title="SIMPACS")
    have = pacs.study_uids()
    missing = [
        i for i in range(options.studies) if simulated_study_uid(options.seed, i) not in have
    ]
    with progress.step("simulating studies", len(missing)) as bar:
        for index in missing:
            pacs.add_study(
                generate_study(
                    index, options.seed, scale=options.scale, burned_in_rate=options.burned_in_rate
                )
            )
            bar.advance()
    with pacs:
        configured = demo_settings(settings, options, pacs)
        with open_context(configured, progress) as ctx:
            unknown = [key for key in ctx.task.finding_keys if key not in FINDINGS]
            if unknown:
                raise UsageError(
                    f"the simulated hospital has no {', '.join(unknown)} (task {ctx.task.name}): "
                    f"the demo runs with a task of its findings, {', '.join(FINDINGS)}"
                )
            report = run_once(
                ctx,
                on_listening=lambda scp: pacs.destinations.update(
                    {scp.ae_title: (configured.local.bind_address, scp.port)}
                ),
                retrain=train,
            )
            return report, corpus_summary(ctx)
