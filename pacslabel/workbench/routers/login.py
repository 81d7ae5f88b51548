"""Signing in and out: the login form has its own double-submit token (a cookie and a
form field), the session cookie is HttpOnly and SameSite=Strict."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from pacslabel.workbench.accounts import end_session, sign_in
from pacslabel.workbench.deps import COOKIE, LOGIN_COOKIE, Csrf, WorkbenchDep

__all__ = ["router"]

router = APIRouter()


def _login_page(
    workbench: WorkbenchDep, request: Request, status: int = 200, error: str | None = None
) -> Response:
    token = secrets.token_urlsafe(24)
    response = workbench.render(request, "login.html", status, csrf=token, error=error)
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict")
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, workbench: WorkbenchDep) -> Response:
    return _login_page(workbench, request)


@router.post("/login")
def login(
    request: Request,
    workbench: WorkbenchDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    cookie = request.cookies.get(LOGIN_COOKIE) or ""
    if not cookie or not hmac.compare_digest(csrf, cookie):
        raise HTTPException(403, "missing or wrong CSRF token")
    hours = workbench.ctx.settings.workbench.session_hours
    with Session(workbench.ctx.engine) as session:
        token = sign_in(session, username, password, hours)
        session.commit()
    if token is None:
        return _login_page(workbench, request, 401, "Unknown user or wrong password.")
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", max_age=int(hours * 3600))
    response.delete_cookie(LOGIN_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, workbench: WorkbenchDep, user: Csrf) -> Response:
    with Session(workbench.ctx.engine) as session:
        end_session(session, request.cookies.get(COOKIE))
        session.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response
