"""The annotators' pages and their API: the queue, a study's pair beside its report, the
four states per finding (what the images show), every change audited."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import LabelState, LabelTarget, Study
from pacslabel.annotations import set_human_label
from pacslabel.workbench.accounts import SignedIn
from pacslabel.workbench.data import pair_png, queue, study_view
from pacslabel.workbench.deps import (
    STATES,
    ApiLabeller,
    Csrf,
    CsrfHeader,
    Labeller,
    User,
    Workbench,
    WorkbenchDep,
)

__all__ = ["router"]

router = APIRouter()


class Labels(BaseModel):
    """The body of ``POST /api/study/{uid}/labels``."""

    labels: dict[str, str]


def _store(workbench: Workbench, user: SignedIn, uid: str, states: dict[str, str]) -> int:
    findings = workbench.ctx.task.finding_keys
    bad = {k: v for k, v in states.items() if k not in findings or v not in STATES}
    if bad:
        raise HTTPException(422, f"not a finding or state: {bad}")
    with Session(workbench.ctx.engine) as session:
        study = session.scalar(select(Study).where(Study.study_uid == uid))
        if study is None:
            raise HTTPException(404, "no such study in the corpus")
        changed = sum(
            set_human_label(
                session, study, key, LabelState(value), annotator=user.username,
                target=LabelTarget.IMAGE,
            )
            for key, value in states.items()
        )  # fmt: skip
        session.commit()
    return changed


@router.get("/queue", response_class=HTMLResponse)
def queue_page(
    request: Request, workbench: WorkbenchDep, user: Labeller, order: str | None = None
) -> Response:
    order = order or workbench.ctx.settings.workbench.queue_order
    items = queue(workbench.ctx.engine, user.username, order)
    return workbench.render(request, "queue.html", user=user, items=items, order=order)


@router.get("/study/{uid}", response_class=HTMLResponse)
def study_page(
    request: Request, uid: str, workbench: WorkbenchDep, user: User, hints: int | None = None
) -> Response:
    ctx = workbench.ctx
    view = study_view(ctx.engine, uid, user.username, ctx.task.finding_keys)
    if view is None:
        raise HTTPException(404, "no such study in the corpus")
    show = bool(hints) if hints is not None else ctx.settings.workbench.show_hints
    findings = [(f.key, f.name_en) for f in ctx.task.findings]
    return workbench.render(
        request, "study.html", user=user, study=view, findings=findings, states=STATES, hints=show
    )


@router.post("/study/{uid}")
async def save(
    request: Request, uid: str, workbench: WorkbenchDep, user: Labeller, _: Csrf
) -> Response:
    form = await request.form()  # one field per finding: f_<finding>
    states = {k[2:]: str(v) for k, v in form.items() if k.startswith("f_") and v}
    _store(workbench, user, uid, states)
    order = workbench.ctx.settings.workbench.queue_order
    upcoming = queue(workbench.ctx.engine, user.username, order, limit=1)
    return RedirectResponse(
        f"/study/{upcoming[0].study_uid}" if upcoming else "/queue", status_code=303
    )


@router.get("/study/{uid}/{view}.png")
def image(uid: str, view: str, workbench: WorkbenchDep, user: User) -> Response:
    png = pair_png(workbench.cache, uid, view) if view in ("ap", "lateral") else None
    if png is None:
        raise HTTPException(404, "the pair is not in the pixel cache yet")
    return Response(png, media_type="image/png")


@router.get("/api/queue")
def api_queue(workbench: WorkbenchDep, user: ApiLabeller) -> list[dict[str, Any]]:
    order = workbench.ctx.settings.workbench.queue_order
    return [item.__dict__ for item in queue(workbench.ctx.engine, user.username, order)]


@router.post("/api/study/{uid}/labels")
def api_labels(uid: str, body: Labels, workbench: WorkbenchDep, user: CsrfHeader) -> dict[str, int]:
    return {"changed": _store(workbench, user, uid, body.labels)}
