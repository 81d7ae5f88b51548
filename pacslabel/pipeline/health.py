"""Health and metrics over HTTP, for ``serve``: what a monitoring system asks a node.

``/healthz``  liveness: 200 while the service's scheduler runs.
``/readyz``   readiness: 200 when the database answers and the PACS answers C-ECHO
              (the keys were loaded when the service started); else 503. The body
              says which, as JSON.
``/metrics``  Prometheus text format (``prometheus-client``): studies per state,
              open quarantine entries per stage, SR exports per status, the current
              model and its mean held-out AUC, the last training's throughput, the
              bytes our storage SCP received, and per pass kind the passes run and
              failed, the last pass's duration, its retrieval and labelling rates, and
              the time of the last success.

The server binds ``health.bind_address`` (default 127.0.0.1: the metrics name the
model and count studies, nothing more, but a monitoring agent on the host is what
needs them) and answers GET only.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from db import QuarantineEntry, RunStatus, SRExport, Study, TrainingRun
from db.queries import current_image_model
from pacsbridge import PacsBridgeError, echo
from pacslabel.context import Context
from pacslabel.errors import one_line
from pacslabel.pipeline.scheduler import Service

__all__ = ["HealthServer"]

logger = logging.getLogger(__name__)


class _Collector(Collector):
    """Reads the database and the service's pass history at each scrape."""

    def __init__(self, ctx: Context, service: Service) -> None:
        self._ctx, self._service = ctx, service

    def collect(self) -> Iterator[Metric]:
        yield from self._corpus()
        yield from self._passes()

    def _corpus(self) -> Iterator[Metric]:
        with Session(self._ctx.engine) as session:
            states = GaugeMetricFamily("pacslabel_studies", "Studies by state", labels=["state"])
            for state, count in session.execute(
                select(Study.state, func.count()).group_by(Study.state)
            ):
                states.add_metric([str(state.value)], count)
            yield states
            held = GaugeMetricFamily(
                "pacslabel_quarantine_open", "Open quarantine entries by stage", labels=["stage"]
            )
            for stage, count in session.execute(
                select(QuarantineEntry.stage, func.count())
                .where(QuarantineEntry.resolved.is_(False))
                .group_by(QuarantineEntry.stage)
            ):
                held.add_metric([stage], count)
            yield held
            exports = GaugeMetricFamily(
                "pacslabel_sr_exports", "SR exports by status", labels=["status"]
            )
            for status, count in session.execute(
                select(SRExport.status, func.count()).group_by(SRExport.status)
            ):
                exports.add_metric([str(status.value)], count)
            yield exports
            yield from self._models(session)

    def _models(self, session: Session) -> Iterator[Metric]:
        model = current_image_model(session, self._ctx.task.name)
        info = GaugeMetricFamily(
            "pacslabel_current_model", "The model that predicts (1)", labels=["version"]
        )
        auc = GaugeMetricFamily("pacslabel_current_model_mean_auc", "Its mean held-out AUC")
        if model is not None:
            info.add_metric([model.version], 1)
            known = [m.get("auc") for m in model.metrics.get("held_out", {}).values()]
            aucs = [a for a in known if a is not None]
            if aucs:
                auc.add_metric([], sum(aucs) / len(aucs))
        yield info
        yield auc
        run = session.scalars(
            select(TrainingRun)
            .where(TrainingRun.status == RunStatus.SUCCEEDED)
            .order_by(TrainingRun.id.desc())
            .limit(1)
        ).first()
        rate = GaugeMetricFamily(
            "pacslabel_training_images_per_second",
            "The last successful training: images seen per second of its run",
        )
        if run is not None and run.finished_at is not None:
            seconds = (run.finished_at - run.started_at).total_seconds()
            if seconds > 0:
                rate.add_metric([], run.n_train * max(run.epochs_done, 1) / seconds)
        yield rate

    def _passes(self) -> Iterator[Metric]:
        service = self._service
        ran = CounterMetricFamily("pacslabel_passes", "Passes run", labels=["kind", "outcome"])
        for (kind, outcome), count in sorted(service.counts.items()):
            ran.add_metric([kind, outcome], count)
        yield ran
        duration = GaugeMetricFamily(
            "pacslabel_last_pass_seconds", "The last pass's duration", labels=["kind"]
        )
        success = GaugeMetricFamily(
            "pacslabel_last_success_timestamp_seconds",
            "When the last successful pass ended (Unix time)",
            labels=["kind"],
        )
        rates = GaugeMetricFamily(
            "pacslabel_last_pass_rate",
            "Studies per second in the last pass, by step",
            labels=["kind", "step"],
        )
        for kind, record in service.last_pass().items():
            seconds = max(record.finished - record.started, 1e-9)
            duration.add_metric([kind], seconds)
            if record.report is not None:
                rates.add_metric([kind, "retrieved"], record.report.retrieved / seconds)
                rates.add_metric([kind, "labelled"], record.report.labelled / seconds)
        for kind, at in service.last_success.items():
            success.add_metric([kind], at)
        yield duration
        yield success
        yield rates
        if service.scp is not None:
            received = CounterMetricFamily(
                "pacslabel_received_bytes",
                "Bytes of DICOM instances our storage SCP filed since the service started",
            )
            received.add_metric([], service.scp.receiver.bytes_received)
            yield received
        training = GaugeMetricFamily("pacslabel_training_running", "A training process runs")
        training.add_metric([], float(bool(service.training and service.training.running)))
        yield training


def _ready(ctx: Context) -> dict[str, str]:
    """What is not ready, by check (empty: ready)."""
    problems = {}
    try:
        with ctx.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        problems["database"] = one_line(exc)
    try:
        echo(ctx.local, ctx.node)
    except PacsBridgeError as exc:
        problems["pacs"] = one_line(exc)
    return problems


class HealthServer:
    """``/healthz``, ``/readyz`` and ``/metrics`` for a running :class:`Service`."""

    def __init__(self, ctx: Context, service: Service, host: str, port: int) -> None:
        self._ctx, self._service = ctx, service
        self.registry = CollectorRegistry()
        self.registry.register(_Collector(ctx, service))
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="pacslabel-health", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        host = self._server.server_address[0]
        logger.info(
            "health and metrics on http://%s:%d/ (healthz, readyz, metrics)", host, self.port
        )
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, path: str) -> tuple[int, str, bytes]:
        if path == "/healthz":
            alive = self._service.running
            return (200 if alive else 503), "text/plain", b"ok\n" if alive else b"stopped\n"
        if path == "/readyz":
            problems = _ready(self._ctx)
            body: dict[str, Any] = {"ready": not problems, "problems": problems}
            return (503 if problems else 200), "application/json", json.dumps(body).encode()
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(self.registry)
        return 404, "text/plain", b"not found: /healthz, /readyz, /metrics\n"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                started = time.monotonic()
                code, kind, body = owner._answer(self.path.split("?")[0])
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                logger.debug("GET %s %d in %.3f s", self.path, code, time.monotonic() - started)

            def log_message(self, format: str, *args: Any) -> None:
                return  # requests are logged above, at DEBUG

        return Handler
