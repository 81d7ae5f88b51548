"""The workbench in a real headless Chromium (Debian's, driven by Selenium) and over
HTTP: log in, label a study with the keyboard, the labels land as human image labels
with the annotator; no page or API without a session; no POST without the CSRF token;
roles; the dashboard. Screenshots go to $PACSLABEL_SCREENSHOTS when set (docs/img)."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait
from simulated_run import Run
from sqlalchemy import text
from sqlalchemy.orm import Session

from pacslabel.asgi import ThreadedServer
from pacslabel.cli.main import main
from pacslabel.context import open_context
from pacslabel.pipeline.stages.targets import corpus_targets
from pacslabel.workbench import Role, add_user, create_app

PASSWORD = "correct horse battery"


@dataclass
class Served:
    run: Run
    url: str


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
    simulated_loop: Callable[[str, Path, int], Iterator[Run]],
) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("workbench")
    for run in simulated_loop("sqlite", folder, 12):
        with open_context(run.settings) as ctx:
            with Session(ctx.engine) as session:
                add_user(session, "anna", PASSWORD, Role.ANNOTATOR)
                add_user(session, "rita", PASSWORD, Role.RESEARCHER)
                session.commit()
            server = ThreadedServer(create_app(ctx), "127.0.0.1", 0).start()
            try:
                yield Served(run, f"http://127.0.0.1:{server.port}")
            finally:
                server.stop()


def _rows(run: Run, sql: str, **params: object) -> list[dict[str, object]]:
    engine = run.engine()
    try:
        with engine.connect() as connection:
            return [dict(r._mapping) for r in connection.execute(text(sql), params)]
    finally:
        engine.dispose()


def _client(served: Served, user: str | None = None) -> tuple[httpx.Client, str]:
    """A client, logged in as ``user`` when given, and its session's CSRF token."""
    client = httpx.Client(base_url=served.url, follow_redirects=False, timeout=20)
    if user is None:
        return client, ""
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token
    login = {"username": user, "password": PASSWORD, "csrf": token[1]}
    assert client.post("/login", data=login).status_code == 303
    home = client.get("/queue" if user == "anna" else "/dashboard")
    csrf = re.search(r'name="csrf" value="([^"]+)"', home.text)
    assert csrf
    return client, csrf[1]


def test_nothing_without_a_session(served: Served) -> None:
    client, _ = _client(served)
    uid = served.run.pseudonym[served.run.archive[0].study_instance_uid]
    for path in ("/", "/queue", "/dashboard", f"/study/{uid}", f"/study/{uid}/ap.png"):
        response = client.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert client.get("/api/queue").status_code == 401
    assert client.post(f"/api/study/{uid}/labels", json={"labels": {}}).status_code == 401
    assert client.post(f"/study/{uid}", data={"f_scoliosis": "positive"}).status_code == 303
    assert not _rows(served.run, "SELECT * FROM finding_labels WHERE source = 'human'")


def test_login_refusals_csrf_and_roles(served: Served) -> None:
    client, _ = _client(served)
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token
    wrong = {"username": "anna", "password": "not the password", "csrf": token[1]}
    assert client.post("/login", data=wrong).status_code == 401
    assert client.post("/login", data={**wrong, "csrf": "forged"}).status_code == 403
    refused = _rows(
        served.run, "SELECT actor FROM audit_events WHERE action = 'workbench.login_refused'"
    )
    assert {"actor": "anna"} in refused
    anna, csrf = _client(served, "anna")
    uid = served.run.pseudonym[served.run.archive[1].study_instance_uid]
    assert anna.post(f"/study/{uid}", data={"f_scoliosis": "positive"}).status_code == 403
    bad = anna.post(f"/study/{uid}", data={"f_scoliosis": "positive", "csrf": "x" * 40})
    assert bad.status_code == 403
    api = anna.post(f"/api/study/{uid}/labels", json={"labels": {"scoliosis": "positive"}})
    assert api.status_code == 403
    assert anna.get("/dashboard").status_code == 403
    assert not _rows(served.run, "SELECT * FROM finding_labels WHERE source = 'human'")
    ok = anna.post(
        f"/api/study/{uid}/labels",
        json={"labels": {"scoliosis": "negative"}},
        headers={"X-CSRF-Token": csrf},
    )
    assert ok.status_code == 200 and ok.json() == {"changed": 1}
    rita, rita_csrf = _client(served, "rita")
    assert rita.get("/dashboard").status_code == 200
    assert rita.get("/queue").status_code == 403
    denied = rita.post(f"/study/{uid}", data={"f_scoliosis": "positive", "csrf": rita_csrf})
    assert denied.status_code == 403
    assert anna.get("/queue").headers["content-security-policy"].startswith("default-src")


def _shot(browser: webdriver.Chrome, name: str, tmp: Path) -> None:
    folder = Path(os.environ.get("PACSLABEL_SCREENSHOTS") or tmp)
    folder.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(folder / name))


def _log_in(browser: webdriver.Chrome, served: Served, user: str) -> None:
    browser.get(f"{served.url}/queue")
    assert "/login" in browser.current_url
    browser.find_element(By.ID, "username").send_keys(user)
    browser.find_element(By.ID, "password").send_keys(PASSWORD + Keys.ENTER)
    WebDriverWait(browser, 10).until(lambda b: "/login" not in b.current_url)


def test_label_a_study_with_the_keyboard(
    served: Served, tmp_path: Path, browser: webdriver.Chrome
) -> None:
    _log_in(browser, served, "anna")
    assert browser.current_url.endswith("/queue")
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ENTER)
    WebDriverWait(browser, 10).until(lambda b: "/study/" in b.current_url)
    uid = browser.current_url.rsplit("/", 1)[1]
    assert browser.find_element(By.ID, "report").text.strip()
    loaded = browser.execute_script(
        "return Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"
    )
    assert loaded
    hints = browser.find_elements(By.CSS_SELECTOR, "td.hint")
    assert hints and not hints[0].is_displayed()  # hidden until asked for
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys("h")
    assert hints[0].is_displayed() and "rules:" in hints[0].text
    # 1 positive, 2 negative, 3 uncertain, 4 not assessable: one key per finding.
    body.send_keys("1", "2", "2", "3", "2", "2", "2", "4", Keys.ARROW_DOWN, "1", "2", "2")
    _shot(browser, "workbench-labelling.png", tmp_path)
    body.send_keys(Keys.ENTER)
    WebDriverWait(browser, 10).until(lambda b: uid not in b.current_url)
    stored = {
        r["finding"]: (r["state"], r["annotator"], r["test_set"])
        for r in _rows(
            served.run, "SELECT * FROM research_image_labels WHERE study_uid = :u", u=uid
        )
    }
    findings = [f for f in served.run.archive[0].report_states]
    expected = [
        "positive",
        "negative",
        "negative",
        "uncertain",
        "negative",
        "negative",
        "negative",
        "not_mentioned",
        None,
        "positive",
        "negative",
        "negative",
    ]
    for key, state in zip(findings, expected, strict=True):
        assert stored.get(key, (None,))[0] == state, key
    assert all(annotator == "anna" for _, annotator, _ in stored.values())
    audited = _rows(
        served.run,
        "SELECT actor, study_uid FROM audit_events WHERE action = 'label.human' AND study_uid = :u",
        u=uid,
    )
    assert len(audited) == 11 and {a["actor"] for a in audited} == {"anna"}
    # As training targets: positive 1, negative 0, uncertain as training.uncertain_as
    # ("one"); "not assessable" and unlabelled leave the report's label.
    report = {
        r["finding"]: r["state"]
        for r in _rows(served.run, "SELECT * FROM research_labels WHERE study_uid = :u", u=uid)
    }
    as_target = {"positive": 1.0, "negative": 0.0, "uncertain": 1.0, "not_mentioned": 0.0}
    with open_context(served.run.settings) as ctx, Session(ctx.engine) as session:
        keys, targets = corpus_targets(ctx, session)
    row = dict(zip(findings, targets[keys.index(uid)].tolist(), strict=True))
    for key, state in zip(findings, expected, strict=True):
        wanted = as_target[report[key]] if state in (None, "not_mentioned") else as_target[state]
        assert row[key] == wanted, key


def test_dashboard_in_the_browser(
    served: Served, tmp_path: Path, browser: webdriver.Chrome
) -> None:
    _log_in(browser, served, "rita")
    assert browser.current_url.endswith("/dashboard")
    rows = browser.find_elements(By.CSS_SELECTOR, "#prevalence tbody tr")
    assert len(rows) == 12
    assert browser.find_elements(By.CSS_SELECTOR, "#metrics tbody tr")
    assert browser.find_elements(By.CSS_SELECTOR, "#roc polyline")
    _shot(browser, "workbench-dashboard.png", tmp_path)


def test_user_cli(served: Served, tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("short\n")
    base = ["--data-dir", str(served.run.settings.data_dir), "--database-url", served.run.url]
    add = [*base, "workbench", "user", "add", "ugo", "--role", "admin"]
    assert main([*add, "--password-file", str(secret)]) == 2  # too short
    secret.write_text(PASSWORD + "\n")
    assert main([*add, "--password-file", str(secret)]) == 0
    stored = _rows(
        served.run, "SELECT password_hash, role FROM workbench_users WHERE username = 'ugo'"
    )
    assert stored[0]["role"] == "admin" and PASSWORD not in str(stored[0]["password_hash"])
    ugo = httpx.Client(base_url=served.url)
    page = ugo.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token
    ugo.post("/login", data={"username": "ugo", "password": PASSWORD, "csrf": token[1]})
    assert ugo.get("/dashboard").status_code == 200 and ugo.get("/queue").status_code == 200


def test_images_come_from_the_largest_cached_size(tmp_path: Path) -> None:
    """The workbench shows a pair cached at another size than training.image_size (a demo
    trained at 128 px, the settings now saying 512)."""
    from PIL import Image as PILImage

    from pacslabel.workbench.data import pair_png
    from trainer import PixelCache

    ramp = np.tile(np.linspace(0, 1, 80, dtype=np.float32), (80, 1))
    PixelCache(tmp_path, 32).put("2.25.1", ramp, ramp.T)
    PixelCache(tmp_path, 64).put("2.25.1", ramp, ramp.T)
    png = pair_png(tmp_path, "2.25.1", "lateral")
    assert png is not None and PILImage.open(io.BytesIO(png)).size == (64, 64)
    assert pair_png(tmp_path, "2.25.2", "ap") is None


def test_model_evaluate_without_a_test_set_says_how_to_make_one(
    served: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--data-dir", str(served.run.settings.data_dir), "--database-url", served.run.url]
    assert main([*base, "model", "evaluate", "--out", str(tmp_path / "e")]) == 8
    assert "--test-set" in capsys.readouterr().err
