"""``serve``'s health and metrics endpoints, read as a monitoring system reads them."""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from peers import free_port
from prometheus_client.parser import text_string_to_metric_families

from db import upgrade
from pacslabel.context import open_context
from pacslabel.pipeline import Service
from pacslabel.pipeline.health import HealthServer
from pacslabel.settings import ScheduleSettings, Settings
from simhospital import SimulatedPACS, generate_study

STUDIES = 4


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def test_metrics_after_a_pass_and_readiness_that_follows_the_pacs(
    database_url: str, tmp_path: Path, loop_settings: Callable[..., Settings]
) -> None:
    pacs = SimulatedPACS(tmp_path / "pacs", ae_title="SIMPACS").start()
    for index in range(STUDIES):
        pacs.add_study(generate_study(index, seed=9, scale=0.12))
    port = free_port()
    pacs.destinations["PACSLABEL"] = ("127.0.0.1", port)
    settings = loop_settings(
        pacs, database_url=database_url, local={"storage_port": port, "network_timeout_s": 5}
    )
    upgrade(database_url)
    far = (dt.datetime.now() + dt.timedelta(hours=12)).strftime("%H:%M")
    with open_context(settings) as ctx:
        service = Service(ctx, ScheduleSettings(ingest_every_minutes=5, train_at=far), train=False)
        server = HealthServer(ctx, service, "127.0.0.1", 0).start()
        try:
            assert _get(server.port, "/healthz")[0] == 503  # not started
            service.start()
            deadline = time.monotonic() + 120
            while not service.history and time.monotonic() < deadline:
                time.sleep(0.2)
            assert _get(server.port, "/healthz") == (200, "ok\n")
            code, body = _get(server.port, "/metrics")
            assert code == 200
            samples = _samples(body)
            assert samples["pacslabel_studies", (("state", "cached"),)] == STUDIES
            assert samples["pacslabel_passes_total", (("kind", "ingest"), ("outcome", "ok"))] == 1
            last = samples["pacslabel_last_success_timestamp_seconds", (("kind", "ingest"),)]
            assert abs(last - time.time()) < 120
            assert samples["pacslabel_training_running", ()] == 0
            assert samples["pacslabel_received_bytes_total", ()] > 100_000  # the studies' images
            code, body = _get(server.port, "/readyz")
            assert code == 200 and json.loads(body) == {"ready": True, "problems": {}}
            pacs.stop()
            code, body = _get(server.port, "/readyz")
            assert code == 503 and set(json.loads(body)["problems"]) == {"pacs"}
            assert _get(server.port, "/nothing")[0] == 404
        finally:
            service.stop()
            server.stop()
            pacs.stop()
