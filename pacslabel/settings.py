"""The one typed settings object of pacslabel.

Layers, lowest first: defaults written here < a TOML file (``--config``) <
``PACSLABEL_*`` environment variables (nested keys joined by ``__``, e.g.
``PACSLABEL_PACS__PORT=4242``) < command-line options. The settings are
loaded once, in the entry point, logged with secrets redacted, and passed
down; nothing reads them from a global.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from pacsbridge import Limits
from pacslabel.errors import InvalidSettings

__all__ = [
    "DeidSettings",
    "HealthSettings",
    "IngestSettings",
    "LabellingSettings",
    "LimitsSettings",
    "LocalAESettings",
    "NodeSettings",
    "ScheduleSettings",
    "Settings",
    "TrainingSettings",
    "WritebackSettings",
    "load_settings",
]

_AE_TITLE = r"^[\x20-\x5b\x5d-\x7e]{1,16}$"  # PS3.5 6.2: 16 chars, no backslash


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeSettings(_Section):
    """A remote DICOM application entity (the PACS)."""

    ae_title: str = Field("PACS", pattern=_AE_TITLE)
    host: str = "127.0.0.1"
    port: int = Field(104, ge=1, le=65535)
    tls_name: str | None = None
    """Over TLS: the name its certificate must carry (default: ``host``)."""


class LocalAESettings(_Section):
    """Our own application entity: the calling AE and the storage SCP."""

    ae_title: str = Field("PACSLABEL", pattern=_AE_TITLE)
    bind_address: str = "127.0.0.1"
    storage_port: int = Field(11112, ge=0, le=65535)
    """0 picks a free port (tests and the demo); the PACS must know a fixed one."""
    network_timeout_s: float = Field(30.0, gt=0)
    move_timeout_s: float = Field(600.0, gt=0)
    max_pdu_kb: int = Field(1024, ge=0, le=1024 * 1024)
    """The largest PDU we accept, in KiB (0: no limit). The PACS sends PDUs up to it; at
    the usual 16 kB a full-size image is a thousand PDUs, each handled in Python."""
    allowed_calling_ae_titles: list[str] | None = None
    """Who may send to our storage SCP; default: the PACS's AE title only."""
    allowed_hosts: list[str] | None = None
    """Addresses, networks (CIDR) or host names those peers' associations may come from;
    default: ``pacs.host``. Anything else is rejected and audited."""
    push_ae_titles: list[str] | None = None
    """Peers whose studies ``serve`` takes in when nobody asked for them (a PACS routing
    rule); default: the PACS's AE title. An instance of a study no retrieval asked for,
    from another peer or in ``run``, is refused."""
    max_associations: int = Field(64, ge=1, le=1024)
    """Associations our storage SCP holds open at once, all peers together."""
    max_associations_per_peer: int = Field(16, ge=1, le=1024)
    idle_timeout_s: float = Field(10.0, gt=0)
    """How long a connection may stay open before asking for an association."""
    tls_certificate: Path | None = None
    """PEM certificate of this AE: with ``tls_private_key``, every association uses TLS."""
    tls_private_key: Path | None = None
    tls_ca_certificates: Path | None = None
    """PEM bundle the peers' certificates must chain to; required with TLS (the system's
    store would admit any publicly certified name)."""
    tls_peer_names: list[str] | None = None
    """Names one of which a peer's certificate must carry when it connects to us;
    default: ``pacs.tls_name`` (else ``pacs.host``)."""


class IngestSettings(_Section):
    """How and how much one ingest run takes from the PACS."""

    max_studies_per_run: int = Field(1000, ge=1)
    study_date_from: str | None = Field(None, pattern=r"^\d{8}$")
    study_date_to: str | None = Field(None, pattern=r"^\d{8}$")
    max_attempts: int = Field(3, ge=1)
    """Runs in which a study may fail before it is marked ``failed``."""
    retrieve_method: Literal["move", "get"] = "move"
    """C-MOVE to our storage SCP, or C-GET where the PACS offers it."""
    associations: int = Field(4, ge=1, le=16)
    """Studies retrieved in parallel, each over its own association."""
    deid_workers: int | None = Field(None, ge=0, le=64)
    """Worker processes that de-identify instances as they arrive (default: one per CPU
    core; 0: de-identify in the main process after the retrieval)."""
    retries: int = Field(2, ge=0, le=10)
    """Immediate retries of a transient failure (lost association, partial transfer)."""
    push_settle_s: float = Field(30.0, ge=0)
    """A study pushed to our storage SCP (not asked for by C-MOVE) is taken in once its
    last instance is this many seconds old."""
    retry_backoff_s: float = Field(1.0, ge=0)
    """Wait before the first retry; doubled for each next one."""
    window: str | None = Field(None, pattern=r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")
    """Off-peak window (local time, e.g. ``20:00-06:00``) outside which nothing is retrieved."""
    watermark_overlap_days: int = Field(2, ge=0)
    """Each C-FIND reaches this many days before the newest study already seen."""
    future_date_tolerance_days: int = Field(1, ge=0, le=366)
    """A study dated later than today plus this many days is quarantined at discovery (a
    typo such as 2099 would otherwise stop the incremental query)."""
    report_drop: Path | None = None
    """A folder where the RIS drops reports: ``<AccessionNumber>.txt`` or ``reports.csv``."""
    report_titles: list[str] = Field(["LN:18748-4", "LN:11528-7"], min_length=1)
    """Document titles (``SCHEME:CODE`` of an SR's root concept name) that make an SR the
    radiology report; add the site's own if its RIS titles reports otherwise."""
    max_wait_days: float = Field(14.0, gt=0)
    """How long a study may wait for its report or its second view, checked again each
    pass, before it is quarantined."""

    @field_validator("report_titles")
    @classmethod
    def _scheme_and_code(cls, titles: list[str]) -> list[str]:
        for title in titles:
            scheme, _, code = title.partition(":")
            if not scheme or not code:
                raise ValueError(f"{title!r}: a title is SCHEME:CODE, e.g. LN:18748-4")
        return titles

    @property
    def resolved_deid_workers(self) -> int:
        """``deid_workers``, or the number of CPU cores this process may use."""
        if self.deid_workers is not None:
            return self.deid_workers
        return (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else os.cpu_count() or 1
        )

    def titles(self) -> set[tuple[str, str]]:
        """``report_titles`` as (scheme, code) pairs."""
        return {tuple(title.split(":", 1)) for title in self.report_titles}  # type: ignore[misc]


class DeidSettings(_Section):
    """Keys of the pseudonymisation and of the linkage table.

    Neither key is ever stored in the database. When no key is given, one is
    created on first use in ``<data_dir>/secrets`` with mode 0600.
    """

    pseudonym_key: SecretStr | None = None
    linkage_key: SecretStr | None = None
    secrets_dir: Path | None = None
    max_date_shift_days: int = Field(365, ge=1)
    retain_longitudinal_modified_dates: bool = True
    """PS3.15 E.3.6: dates shifted per patient (False: dates removed or dummy)."""
    retain_patient_characteristics: bool = True
    """PS3.15 E.3.7: age, sex, size, weight kept."""
    retain_device_identity: bool = False
    """PS3.15 E.3.8: station names, serial numbers kept."""
    retain_institution_identity: bool = False
    """PS3.15 E.3.9: institution name and department kept."""
    clean_descriptors: bool = True
    """PS3.15 E.3.5: descriptions kept with identifiers removed (False: removed)."""
    burned_in: Literal["quarantine", "mask"] = "quarantine"
    """Burned-in annotation. Images that say so (BurnedInAnnotation YES, or a SOP class that
    carries it): quarantined, or the ``mask_regions`` blanked. Every other image is screened
    for text in its pixels (docs/deidentification.md): one with identifying text is
    quarantined, or the boxes of that text are blanked and the study goes on."""
    burned_in_harmless: list[str] = []
    """Further burned-in words that identify no one (beyond laterality, projection, posture
    and technique), e.g. a department's ``PORTATILE``."""
    tessdata: Path | None = None
    """Tesseract's language data (eng and ita); unset: ``TESSDATA_PREFIX`` or Debian's."""
    mask_regions: list[tuple[float, float, float, float]] = [
        (0.0, 0.0, 0.08, 1.0),
        (0.92, 0.0, 1.0, 1.0),
    ]
    """Rectangles (top, left, bottom, right) as fractions of the image, for ``mask``."""


class WritebackSettings(_Section):
    """What pacslabel writes into the clinical record: one DICOM SR per predicted study,
    stored in the patient's own study in the PACS."""

    enabled: bool = True
    """Send the SRs. Off, predictions stay in the database and their studies wait; turned
    on again, they are sent."""
    folder: Path | None = None
    """Dry run: write each SR as a DICOM file under this folder instead of sending it
    (the files identify the patient: the folder is clinical-side, created 0700, files
    0600). Unset again, the SRs written only there are sent."""
    associations: int = Field(4, ge=1, le=16)
    """SRs sent at once, each association kept open for many."""


class HealthSettings(_Section):
    """``serve``'s health and metrics endpoints (``/healthz``, ``/readyz``, ``/metrics``)."""

    bind_address: str = "127.0.0.1"
    port: int = Field(9187, ge=0, le=65535)
    """0: no endpoints."""


class WorkbenchSettings(_Section):
    """The annotation workbench (``pacslabel workbench serve``)."""

    bind_address: str = "127.0.0.1"
    """Local only by default: put it behind a TLS reverse proxy to open it further."""
    port: int = Field(8765, ge=1, le=65535)
    session_hours: float = Field(12, gt=0, le=24 * 30)
    """How long a login lasts."""
    queue_order: Literal["uncertainty", "disagreement"] = "uncertainty"
    """Which studies an annotator sees first: those the current model is least sure of
    (closest to a cut-off), or those where it disagrees most with the report labels."""
    show_hints: bool = False
    """Show the labellers' labels and the model's probability beside the annotation form
    from the start (off: hidden until asked for, so they do not anchor the annotator)."""


class LimitsSettings(_Section):
    """What one instance may cost: over a limit, it is quarantined with the limit named.
    Checked before the work each bounds, so a pass's memory stays bounded."""

    max_instance_mb: float = Field(256, gt=0)
    """A received file (a lumbar DX is 10–50 MB)."""
    max_inflated_mb: float = Field(512, gt=0)
    """A deflated data set once inflated (inflated in bounded steps)."""
    max_decoded_mb: float = Field(512, gt=0)
    """Decoded pixel data: rows × columns × frames × samples × bits allocated, and what
    a compressed frame's own header claims."""
    max_sequence_depth: int = Field(12, ge=1)
    """How deep sequences may nest."""
    max_report_chars: int = Field(200_000, ge=1000)
    """Report text."""

    def limits(self) -> Limits:
        """As :mod:`pacsbridge` takes them."""
        mib = 1024 * 1024
        return Limits(
            max_instance_bytes=int(self.max_instance_mb * mib),
            max_inflated_bytes=int(self.max_inflated_mb * mib),
            max_decoded_bytes=int(self.max_decoded_mb * mib),
            max_sequence_depth=self.max_sequence_depth,
            max_report_chars=self.max_report_chars,
        )


class LabellingSettings(_Section):
    """Which labeller turns report text into findings."""

    labeller: Literal["rules", "bert"] = "rules"
    """``rules`` (the task's lexicon) or ``bert`` (a model trained by
    ``pacslabel labeller train``)."""
    bert_model: str | None = None
    """With ``bert``: a registered labeller version or a saved model folder;
    default the newest BERT labeller in the model registry."""


class TrainingSettings(_Section):
    """The image classifier and how it is trained (defaults follow the paper)."""

    image_size: int = Field(512, ge=32, le=2048)
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(32, ge=1)
    learning_rate: float = Field(0.001, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(1e-4, ge=0)
    held_out_fraction: float = Field(0.2, gt=0, lt=1)
    min_studies: int = Field(20, ge=4)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    pretrained_weights: Path | None = None
    """A local ResNet-18 ImageNet state dict; nothing is ever downloaded."""
    seed: int = 0
    augment: bool = True
    lr_schedule: Literal["constant", "cosine"] = "cosine"
    """``constant`` as the paper, or cosine decay to zero over the epochs."""
    uncertain_as: Literal["ignore", "zero", "one"] = "one"
    """Training target of a hedged mention: left out of the loss, absent or present."""
    not_mentioned_as: Literal["ignore", "zero", "one"] = "zero"
    """Training target of a finding the report does not mention (the paper: absent)."""
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """``auto``: bf16 autocast on CUDA, fp32 on a CPU (bf16 on a CPU without AMX is slower)."""
    compile: bool = False
    """``torch.compile`` the model (a GPU and long runs: minutes to compile, then faster)."""
    scale_learning_rate: bool = False
    """Scale ``learning_rate`` with ``batch_size / 32`` (for batches larger than the paper's)."""
    workers: int = Field(0, ge=0, le=64)
    """DataLoader processes reading the pixel cache (0: the training process)."""
    mode: Literal["1step", "2steps", "step2only"] = "1step"
    """The reference study's modes: report labels only; report labels, then fine-tuning on
    the human image labels; human image labels only."""
    human_image_labels: Path | None = None
    """CSV of human image labels (``study_instance_uid``, one column per finding: 1, 0 or
    empty) for ``2steps`` and ``step2only``; its held-out share scores the model."""
    human_test_labels: Path | None = None
    """CSV of the human image-label *test* set (same columns): its studies are never
    trained on, in any mode, so every model is scored on studies it never saw
    (``pacslabel model evaluate``, ``pacslabel model experiment``)."""
    fine_tune_epochs: int = Field(10, ge=1)
    """``2steps``: epochs on the human image labels after the report-label phase."""
    fine_tune_learning_rate: float = Field(0.0005, gt=0)
    warm_start: bool = False
    """Start a new model from the current one's weights (same findings and image size)
    instead of from ImageNet or random weights: fewer epochs reach the same loss."""
    promotion: Literal["gate", "always", "manual"] = "gate"
    """When a new model becomes the one that predicts: ``gate`` (it must not lose to the
    current model on the same held-out studies), ``always``, or ``manual``
    (``pacslabel model promote``)."""
    promotion_tolerance: float = Field(0.05, ge=0, le=1)
    """How much AUC one finding may lose under the gate (the mean may lose none)."""

    @model_validator(mode="after")
    def _human_labels_for_the_modes_that_use_them(self) -> TrainingSettings:
        if self.mode != "1step" and self.human_image_labels is None:
            raise ValueError(f"training.mode {self.mode} needs training.human_image_labels")
        return self


class ScheduleSettings(_Section):
    """When ``pacslabel serve`` runs the loop (local time)."""

    ingest_every_minutes: float = Field(10.0, gt=0)
    """A pass that ingests, labels, predicts and writes back, this often (the first at start)."""
    train_at: str = Field("02:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$")
    """The nightly pass that may also retrain (``HH:MM`` or ``HH:MM:SS``)."""
    full_query_on: Literal["never", "daily", "mon", "tue", "wed", "thu", "fri", "sat", "sun"] = (
        "sun"
    )
    """On this day the nightly pass queries the PACS's whole date range, not only since
    the newest study seen, to find studies that arrived late with an old date."""
    misfire_grace_minutes: float = Field(60.0, gt=0)
    """How late a pass may still start when the machine was busy or asleep at its time."""


class Settings(BaseSettings):
    """Everything pacslabel can be told, with its defaults."""

    model_config = SettingsConfigDict(
        env_prefix="PACSLABEL_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    data_dir: Path = Path("pacslabel-data")
    database_url: str | None = None
    """SQLAlchemy URL; default: a SQLite file in ``data_dir``."""
    task: str = "lumbar_spine"
    """A task shipped with the package, by name, or a path to a task TOML file."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Of pacslabel's own records; other libraries log at WARNING."""
    log_format: Literal["auto", "rich", "plain", "journal", "json"] = "auto"
    """``auto``: drawn on a terminal, one line per record elsewhere (``journal``
    priorities under systemd, else ``plain``); ``json``: one object per line."""
    pacs: NodeSettings = NodeSettings()
    local: LocalAESettings = LocalAESettings()
    ingest: IngestSettings = IngestSettings()
    deid: DeidSettings = DeidSettings()
    limits: LimitsSettings = LimitsSettings()
    writeback: WritebackSettings = WritebackSettings()
    health: HealthSettings = HealthSettings()
    workbench: WorkbenchSettings = WorkbenchSettings()
    labelling: LabellingSettings = LabellingSettings()
    training: TrainingSettings = TrainingSettings()
    schedule: ScheduleSettings = ScheduleSettings()

    @field_validator("database_url")
    @classmethod
    def _known_dialect(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("only sqlite:// and postgresql:// URLs are supported")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # First wins: command line (init) > environment > TOML file > defaults.
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to ``sqlite:///<data_dir>/pacslabel.db``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'pacslabel.db').resolve()}"

    @property
    def secrets_dir(self) -> Path:
        """Where generated keys live (outside the database)."""
        return self.deid.secrets_dir or self.data_dir / "secrets"

    def redacted(self) -> dict[str, Any]:
        """The settings as a dictionary, safe to log: secrets and passwords hidden."""
        data = self.model_dump(mode="json")
        if self.database_url and "@" in self.database_url:
            scheme, _, rest = self.database_url.partition("://")
            data["database_url"] = f"{scheme}://***@{rest.rpartition('@')[2]}"
        for key in ("pseudonym_key", "linkage_key"):
            if data["deid"].get(key):
                data["deid"][key] = "***"
        return data


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Load the settings from every layer.

    Parameters
    ----------
    config_file
        A TOML file; its keys mirror the attributes of :class:`Settings`.
    **overrides
        Values from the command line, highest priority. ``None`` values are
        ignored, so unset options do not hide lower layers.

    Raises
    ------
    InvalidSettings
        The file is missing or not TOML, or a value is invalid; the message
        names the key (``pacs.port``) and the reason.
    """
    if config_file is not None:
        if not config_file.is_file():
            raise InvalidSettings(f"configuration file {config_file} does not exist")
        try:
            with config_file.open("rb") as fh:
                tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise InvalidSettings(f"configuration file {config_file} is not TOML: {exc}") from exc

    class _FromFile(Settings):
        model_config = SettingsConfigDict(toml_file=config_file)

    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        loaded = _FromFile(**given)
    except ValidationError as exc:
        raise InvalidSettings(_describe(exc, config_file)) from None
    return Settings.model_construct(**dict(loaded))


def _describe(exc: ValidationError, config_file: Path | None) -> str:
    lines = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        lines.append(f"invalid setting {key}: {error['msg']}")
    where = f" (file {config_file}, environment PACSLABEL_*, or command line)"
    return "\n".join(lines) + where
