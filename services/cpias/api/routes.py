"""CPias HTTP routes: investigators' queue and workflow. Thin: one use case each."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from iaspipe.http.auth import CallerDep, PrincipalDep
from schemas.answers import CaseDetail, CasePage, NoteView
from schemas.problems import ProblemReport
from services.cpias import service
from services.cpias.api.deps import UowDep
from services.cpias.domain.workflow import LinkKind, NoteKind, Outcome, Status


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class TransitionIn(Body):
    to: Status
    reason: str | None = Field(default=None, max_length=4000)
    outcome: Outcome | None = None


class AssignmentIn(Body):
    assignee: str | None = Field(max_length=200)


class NoteIn(Body):
    kind: NoteKind
    text: str = Field(min_length=1, max_length=10000)


class LinkIn(Body):
    case_id: str | None = None
    declaration_id: str | None = None
    reference: str | None = None
    kind: LinkKind
    reason: str | None = Field(default=None, max_length=4000)

    @model_validator(mode="after")
    def _one_target(self) -> LinkIn:
        if not (self.case_id or self.declaration_id or self.reference):
            raise ValueError("name the other case by case_id, declaration_id or reference")
        return self


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ProblemReport} for code in (400, 401, 403, 404, 409, 413, 422)
}

router = APIRouter(prefix="/v1", tags=["cases"], responses=ERRORS)


@router.get("/cases", response_model=CasePage, summary="The queue: urgent first, then oldest")
def list_cases(
    uow: UowDep,
    principal: PrincipalDep,
    status: Status | None = None,
    priority: Annotated[str | None, Query(pattern="^(urgent|high|normal)$")] = None,
    assignee: str | None = None,
    overdue: bool | None = None,
    declaration_id: str | None = None,
    reference: str | None = None,
    cpias: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> CasePage:
    filters = {
        "status": status.value if status else None,
        "priority": priority,
        "assignee": assignee,
        "overdue": overdue,
        "declaration_id": declaration_id,
        "reference": reference,
        "cpias": cpias,
    }
    return service.list_cases(uow, filters=filters, principal=principal, limit=limit, offset=offset)


@router.get(
    "/cases/{case_id}",
    response_model=CaseDetail,
    summary="A case: declaration, notes, history, links",
)
def get_case(case_id: str, uow: UowDep, caller: CallerDep) -> CaseDetail:
    return service.get_case(uow, case_id, caller=caller)


@router.post(
    "/cases/{case_id}/transitions",
    response_model=CaseDetail,
    summary="Move a case along the workflow",
)
def transition(case_id: str, body: TransitionIn, uow: UowDep, caller: CallerDep) -> CaseDetail:
    return service.transition(
        uow,
        case_id,
        to=body.to,
        caller=caller,
        reason=body.reason,
        outcome=body.outcome,
    )


@router.post(
    "/cases/{case_id}/assignment",
    response_model=CaseDetail,
    summary="Assign a case to an investigator",
)
def assign(case_id: str, body: AssignmentIn, uow: UowDep, caller: CallerDep) -> CaseDetail:
    return service.assign(uow, case_id, assignee=body.assignee, caller=caller)


@router.post(
    "/cases/{case_id}/notes",
    status_code=201,
    response_model=NoteView,
    summary="Record a call, visit, result…",
)
def add_note(case_id: str, body: NoteIn, uow: UowDep, caller: CallerDep) -> NoteView:
    return service.add_note(uow, case_id, kind=body.kind, text=body.text, caller=caller)


@router.post(
    "/cases/{case_id}/links",
    status_code=201,
    response_model=CaseDetail,
    summary="Link related cases",
)
def link(case_id: str, body: LinkIn, uow: UowDep, caller: CallerDep) -> CaseDetail:
    other = {
        "case_id": body.case_id,
        "declaration_id": body.declaration_id,
        "reference": body.reference,
    }
    return service.link_cases(
        uow,
        case_id,
        other=other,
        kind=body.kind,
        reason=body.reason,
        caller=caller,
    )
