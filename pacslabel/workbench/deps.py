"""What every route of the workbench depends on (FastAPI ``Depends``): the workbench's
context, the signed-in user and their role, and the CSRF token of a POST."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Form, Header, HTTPException, Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from db import LabelState
from pacslabel.context import Context
from pacslabel.workbench.accounts import SignedIn, session_of

__all__ = [
    "COOKIE",
    "LOGIN_COOKIE",
    "STATES",
    "ApiLabeller",
    "Csrf",
    "CsrfHeader",
    "Labeller",
    "LoginNeeded",
    "Researcher",
    "User",
    "Workbench",
    "WorkbenchDep",
]

COOKIE = "pacslabel_session"
LOGIN_COOKIE = "pacslabel_login"
STATES = [s.value for s in LabelState]


class LoginNeeded(Exception):
    """A page asked for without a session: the answer is the login page."""


@dataclass(frozen=True)
class Workbench:
    """The application's state: its context, templates and pixel cache."""

    ctx: Context
    templates: Jinja2Templates
    cache: Path

    def who(self, request: Request) -> SignedIn | None:
        with Session(self.ctx.engine) as session:
            return session_of(session, request.cookies.get(COOKIE))

    def render(self, request: Request, name: str, status: int = 200, **values: Any) -> Response:
        return self.templates.TemplateResponse(request, name, values, status_code=status)


def _workbench(request: Request) -> Workbench:
    workbench: Workbench = request.app.state.workbench
    return workbench


WorkbenchDep = Annotated[Workbench, Depends(_workbench)]


def _user(request: Request, workbench: WorkbenchDep) -> SignedIn:
    user = workbench.who(request)
    if user is None:
        raise LoginNeeded
    return user


User = Annotated[SignedIn, Depends(_user)]


def _labeller(user: User) -> SignedIn:
    if not user.may_label:
        raise HTTPException(403, f"the {user.role} role may not do this")
    return user


def _researcher(user: User) -> SignedIn:
    if not user.may_research:
        raise HTTPException(403, f"the {user.role} role may not do this")
    return user


Labeller = Annotated[SignedIn, Depends(_labeller)]
Researcher = Annotated[SignedIn, Depends(_researcher)]


def _api_labeller(request: Request, workbench: WorkbenchDep) -> SignedIn:
    """An API caller: 401 without a session (no redirect), 403 without the role."""
    user = workbench.who(request)
    if user is None:
        raise HTTPException(401, "log in first")
    if not user.may_label:
        raise HTTPException(403, f"the {user.role} role may not label")
    return user


ApiLabeller = Annotated[SignedIn, Depends(_api_labeller)]


def check_csrf(user: SignedIn, given: object) -> None:
    """403 unless ``given`` is the session's CSRF token."""
    if not isinstance(given, str) or not hmac.compare_digest(given, user.csrf):
        raise HTTPException(403, "missing or wrong CSRF token")


def _csrf_form(user: User, csrf: Annotated[str, Form()] = "") -> SignedIn:
    check_csrf(user, csrf)
    return user


def _csrf_header(user: ApiLabeller, x_csrf_token: Annotated[str, Header()] = "") -> SignedIn:
    check_csrf(user, x_csrf_token)
    return user


Csrf = Annotated[SignedIn, Depends(_csrf_form)]
"""The signed-in user of a form POST that carries their session's CSRF token."""
CsrfHeader = Annotated[SignedIn, Depends(_csrf_header)]
"""The labelling API caller whose ``X-CSRF-Token`` header is their session's."""
