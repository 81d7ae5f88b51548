"""The workbench web application (FastAPI, pages rendered on the server, one small
static script for the keyboard; no JavaScript build step).

Every page and API call needs a session: pages redirect to the login page,
``/api/…`` answers 401. Every POST carries the session's CSRF token (a form
field, or the ``X-CSRF-Token`` header for the API); without it: 403. The
login form has its own double-submit token. Annotators label (what the
images show, four states per finding), researchers read the dashboard, admins
do both; every label change is audited with the annotator as actor.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import LabelState, LabelTarget, Study
from pacslabel.annotations import set_human_label
from pacslabel.context import Context
from pacslabel.workbench.accounts import SignedIn, end_session, session_of, sign_in
from pacslabel.workbench.data import dashboard, pair_png, queue, study_view

__all__ = ["COOKIE", "create_app"]

COOKIE = "pacslabel_session"
LOGIN_COOKIE = "pacslabel_login"
STATES = [s.value for s in LabelState]
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; script-src 'self'; "
    "style-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class _LoginNeeded(Exception):
    pass


@dataclass(frozen=True)
class _Shared:
    ctx: Context
    templates: Jinja2Templates
    cache: Path
    """The pixel cache's folder."""

    def who(self, request: Request) -> SignedIn | None:
        with Session(self.ctx.engine) as session:
            return session_of(session, request.cookies.get(COOKIE))

    def page_user(
        self, request: Request, *, label: bool = False, research: bool = False
    ) -> SignedIn:
        user = self.who(request)
        if user is None:
            raise _LoginNeeded
        if (label and not user.may_label) or (research and not user.may_research):
            raise HTTPException(403, f"the {user.role} role may not do this")
        return user

    def render(self, request: Request, name: str, status: int = 200, **values: Any) -> Response:
        return self.templates.TemplateResponse(request, name, values, status_code=status)


def _check_csrf(user: SignedIn, given: object) -> None:
    if not isinstance(given, str) or not hmac.compare_digest(given, user.csrf):
        raise HTTPException(403, "missing or wrong CSRF token")


def _login_routes(app: FastAPI, shared: _Shared) -> None:
    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request) -> Response:
        token = secrets.token_urlsafe(24)
        response = shared.render(request, "login.html", csrf=token, error=None)
        response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict")
        return response

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        cookie = request.cookies.get(LOGIN_COOKIE) or ""
        if not cookie or not hmac.compare_digest(str(form.get("csrf", "")), cookie):
            raise HTTPException(403, "missing or wrong CSRF token")
        hours = shared.ctx.settings.workbench.session_hours
        with Session(shared.ctx.engine) as session:
            token = sign_in(
                session, str(form.get("username", "")), str(form.get("password", "")), hours
            )
            session.commit()
        if token is None:
            fresh = secrets.token_urlsafe(24)
            response = shared.render(
                request, "login.html", 401, csrf=fresh, error="Unknown user or wrong password."
            )
            response.set_cookie(LOGIN_COOKIE, fresh, httponly=True, samesite="strict")
            return response
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            COOKIE, token, httponly=True, samesite="strict", max_age=int(hours * 3600)
        )
        response.delete_cookie(LOGIN_COOKIE)
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        user = shared.page_user(request)
        _check_csrf(user, (await request.form()).get("csrf"))
        with Session(shared.ctx.engine) as session:
            end_session(session, request.cookies.get(COOKIE))
            session.commit()
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response


def _store(shared: _Shared, user: SignedIn, uid: str, states: dict[str, str]) -> int:
    findings = shared.ctx.task.finding_keys
    bad = {k: v for k, v in states.items() if k not in findings or v not in STATES}
    if bad:
        raise HTTPException(422, f"not a finding or state: {bad}")
    with Session(shared.ctx.engine) as session:
        study = session.scalar(select(Study).where(Study.study_uid == uid))
        if study is None:
            raise HTTPException(404, "no such study in the corpus")
        changed = sum(
            set_human_label(
                session,
                study,
                key,
                LabelState(value),
                annotator=user.username,
                target=LabelTarget.IMAGE,
            )
            for key, value in states.items()
        )
        session.commit()
    return changed


def _label_routes(app: FastAPI, shared: _Shared) -> None:
    order_default = shared.ctx.settings.workbench.queue_order

    @app.get("/queue", response_class=HTMLResponse)
    def queue_page(request: Request, order: str = order_default) -> Response:
        user = shared.page_user(request, label=True)
        items = queue(shared.ctx.engine, user.username, order)
        return shared.render(request, "queue.html", user=user, items=items, order=order)

    @app.get("/study/{uid}", response_class=HTMLResponse)
    def study_page(request: Request, uid: str, hints: int | None = None) -> Response:
        user = shared.page_user(request)
        view = study_view(shared.ctx.engine, uid, user.username, shared.ctx.task.finding_keys)
        if view is None:
            raise HTTPException(404, "no such study in the corpus")
        show = bool(hints) if hints is not None else shared.ctx.settings.workbench.show_hints
        findings = [(f.key, f.name_en) for f in shared.ctx.task.findings]
        return shared.render(
            request,
            "study.html",
            user=user,
            study=view,
            findings=findings,
            states=STATES,
            hints=show,
        )

    @app.post("/study/{uid}")
    async def save(request: Request, uid: str) -> Response:
        user = shared.page_user(request, label=True)
        form = await request.form()
        _check_csrf(user, form.get("csrf"))
        states = {k[2:]: str(v) for k, v in form.items() if k.startswith("f_") and v}
        _store(shared, user, uid, states)
        upcoming = queue(shared.ctx.engine, user.username, order_default, limit=1)
        target = f"/study/{upcoming[0].study_uid}" if upcoming else "/queue"
        return RedirectResponse(target, status_code=303)

    @app.get("/study/{uid}/{view}.png")
    def image(request: Request, uid: str, view: str) -> Response:
        shared.page_user(request)
        png = pair_png(shared.cache, uid, view) if view in ("ap", "lateral") else None
        if png is None:
            raise HTTPException(404, "the pair is not in the pixel cache yet")
        return Response(png, media_type="image/png")


def _api_routes(app: FastAPI, shared: _Shared) -> None:
    def api_user(request: Request) -> SignedIn:
        user = shared.who(request)
        if user is None:
            raise HTTPException(401, "log in first")
        if not user.may_label:
            raise HTTPException(403, f"the {user.role} role may not label")
        return user

    @app.get("/api/queue")
    def api_queue(request: Request) -> list[dict[str, Any]]:
        user = api_user(request)
        items = queue(shared.ctx.engine, user.username, shared.ctx.settings.workbench.queue_order)
        return [item.__dict__ for item in items]

    @app.post("/api/study/{uid}/labels")
    async def api_labels(request: Request, uid: str) -> dict[str, int]:
        user = api_user(request)
        _check_csrf(user, request.headers.get("X-CSRF-Token"))
        body = await request.json()
        states = body.get("labels") if isinstance(body, dict) else None
        if not isinstance(states, dict):
            raise HTTPException(422, 'send {"labels": {"finding": "state", …}}')
        return {"changed": _store(shared, user, uid, {str(k): str(v) for k, v in states.items()})}


def _research_routes(app: FastAPI, shared: _Shared) -> None:
    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> Response:
        user = shared.page_user(request)
        return RedirectResponse("/queue" if user.may_label else "/dashboard", status_code=303)

    @app.get("/dashboard", response_class=HTMLResponse)
    def dashboard_page(request: Request) -> Response:
        user = shared.page_user(request, research=True)
        data = dashboard(shared.ctx.engine)
        return shared.render(request, "dashboard.html", user=user, data=data)

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        kinds = {"workbench.js": "text/javascript", "workbench.css": "text/css"}
        if name not in kinds:
            raise HTTPException(404)
        body = resources.files("pacslabel.workbench").joinpath("static", name).read_bytes()
        return Response(body, media_type=kinds[name])


def _errors(app: FastAPI) -> None:
    @app.exception_handler(_LoginNeeded)
    async def login_needed(request: Request, exc: _LoginNeeded) -> Response:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    @app.middleware("http")
    async def headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.update(_HEADERS)
        return response

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)


def create_app(ctx: Context) -> FastAPI:
    """The workbench over ``ctx``'s database, task and pixel cache."""
    folder = resources.files("pacslabel.workbench").joinpath("templates")
    templates = Jinja2Templates(directory=str(folder))
    templates.env.filters["pct"] = lambda v: f"{100 * v:.1f}%" if v is not None else "—"
    templates.env.globals["zip"] = zip
    shared = _Shared(ctx, templates, ctx.paths.cache)
    app = FastAPI(title="pacslabel workbench", docs_url=None, redoc_url=None, openapi_url=None)
    _errors(app)
    _login_routes(app, shared)
    _label_routes(app, shared)
    _api_routes(app, shared)
    _research_routes(app, shared)
    return app
