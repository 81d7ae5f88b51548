"""The workbench web application: FastAPI in its "bigger applications" shape (a router
per part in :mod:`pacslabel.workbench.routers`, the user, role and CSRF token as
dependencies in :mod:`pacslabel.workbench.deps`), pages rendered on the server, one
small static script for the keyboard and no JavaScript build step.

Every page and API call needs a session: pages redirect to the login page,
``/api/…`` answers 401. Every POST carries the session's CSRF token (a form
field, or the ``X-CSRF-Token`` header for the API); without it: 403. The
login form has its own double-submit token. Annotators label (what the
images show, four states per finding), researchers read the dashboard, admins
do both; every label change is audited with the annotator as actor.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from pacslabel.context import Context
from pacslabel.workbench.deps import COOKIE, LoginNeeded, Workbench
from pacslabel.workbench.routers import labelling, login, research

__all__ = ["COOKIE", "create_app"]

_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; script-src 'self'; "
    "style-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _errors(app: FastAPI) -> None:
    @app.exception_handler(LoginNeeded)
    async def login_needed(request: Request, exc: LoginNeeded) -> Response:
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
    app = FastAPI(title="pacslabel workbench", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.workbench = Workbench(ctx, templates, ctx.paths.cache)
    _errors(app)
    for part in (login, labelling, research):
        app.include_router(part.router)
    app.mount("/static", StaticFiles(packages=[("pacslabel.workbench", "static")]), name="static")
    return app
