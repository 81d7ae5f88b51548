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

The endpoints are a FastAPI application served by uvicorn in a thread of ``serve``
(the stack of the workbench; ``/metrics`` is ``prometheus_client``'s own ASGI
application). It binds ``health.bind_address`` (default 127.0.0.1: the metrics name
the model and count studies, nothing more, but a monitoring agent on the host is what
needs them) and answers GET only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CollectorRegistry, make_asgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.routing import Route

from db import QuarantineEntry, RunStatus, SRExport, Study, TrainingRun
from db.queries import current_image_model
from pacsbridge import PacsBridgeError, echo
from pacslabel.asgi import ThreadedServer
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


class _Asgi:
    """An ASGI callable as a route's endpoint (Starlette would call a plain function
    as a request handler)."""

    def __init__(self, app: Any) -> None:
        self._app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._app(scope, receive, send)


def health_app(ctx: Context, service: Service, registry: CollectorRegistry) -> FastAPI:
    """``/healthz``, ``/readyz`` and ``/metrics`` (``prometheus_client.make_asgi_app``)."""
    app = FastAPI(title="pacslabel health", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/healthz", response_class=PlainTextResponse)
    def healthz() -> PlainTextResponse:
        alive = service.running
        return PlainTextResponse("ok\n" if alive else "stopped\n", 200 if alive else 503)

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        problems = _ready(ctx)
        return JSONResponse({"ready": not problems, "problems": problems}, 503 if problems else 200)

    app.router.routes.append(Route("/metrics", _Asgi(make_asgi_app(registry)), methods=["GET"]))

    @app.exception_handler(404)
    async def not_found(request: Request, exc: Exception) -> PlainTextResponse:
        return PlainTextResponse("not found: /healthz, /readyz, /metrics\n", 404)

    return app


class HealthServer:
    """``/healthz``, ``/readyz`` and ``/metrics`` for a running :class:`Service`, served
    in a thread.

    Raises
    ------
    OSError
        ``host:port`` cannot be bound.
    """

    def __init__(self, ctx: Context, service: Service, host: str, port: int) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_Collector(ctx, service))
        self._server = ThreadedServer(
            health_app(ctx, service, self.registry), host, port, name="pacslabel-health"
        )

    @property
    def port(self) -> int:
        return self._server.port

    def start(self) -> HealthServer:
        self._server.start()
        logger.info(
            "health and metrics on http://%s:%d/ (healthz, readyz, metrics)",
            self._server.host,
            self.port,
        )
        return self

    def stop(self) -> None:
        self._server.stop()
