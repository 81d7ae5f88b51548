"""The researchers' dashboard, and the home page that sends each role where it works."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pacslabel.workbench.data import dashboard
from pacslabel.workbench.deps import Researcher, User, WorkbenchDep

__all__ = ["router"]

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def home(user: User) -> Response:
    return RedirectResponse("/queue" if user.may_label else "/dashboard", status_code=303)


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(request: Request, workbench: WorkbenchDep, user: Researcher) -> Response:
    data = dashboard(workbench.ctx.engine)
    return workbench.render(request, "dashboard.html", user=user, data=data)
