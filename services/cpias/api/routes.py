"""CPias HTTP routes: investigators' queue and workflow."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.orm import Session, sessionmaker

from iaspipe import audit
from iaspipe.auth import Principal, PrincipalDep, client_address
from schemas.problems import ProblemReport
from services.cpias import service
from services.cpias.adapters.orm import AuditEntry
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


def get_sessions(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessions  # type: ignore[no-any-return]


SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessions)]
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ProblemReport},
    401: {"model": ProblemReport},
    403: {"model": ProblemReport},
    404: {"model": ProblemReport},
    409: {"model": ProblemReport},
    413: {"model": ProblemReport},
    422: {"model": ProblemReport},
}

router = APIRouter(prefix="/v1", tags=["cases"], responses=ERRORS)


def _audit(request: Request, principal: Principal, action: str, case_id: str) -> None:
    audit.record(
        request.app.state.sessions,
        AuditEntry,
        principal,
        action,
        "case",
        case_id,
        client_address(request),
    )


@router.get("/cases", summary="The queue: urgent first, then oldest")
def list_cases(
    sessions: SessionsDep,
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
) -> dict[str, Any]:
    filters = {
        "status": status.value if status else None,
        "priority": priority,
        "assignee": assignee,
        "overdue": overdue,
        "declaration_id": declaration_id,
        "reference": reference,
        "cpias": cpias,
    }
    return service.list_cases(
        sessions, filters=filters, principal=principal, limit=limit, offset=offset
    )


@router.get("/cases/{case_id}", summary="A case: declaration, notes, history, links")
def get_case(
    case_id: str, sessions: SessionsDep, principal: PrincipalDep, request: Request
) -> dict[str, Any]:
    case = service.get_case(sessions, case_id, principal)
    _audit(request, principal, "read", case_id)
    return case


@router.post("/cases/{case_id}/transitions", summary="Move a case along the workflow")
def transition(
    case_id: str,
    body: TransitionIn,
    sessions: SessionsDep,
    principal: PrincipalDep,
    request: Request,
) -> dict[str, Any]:
    case = service.transition(
        sessions, case_id, to=body.to, principal=principal, reason=body.reason, outcome=body.outcome
    )
    _audit(request, principal, f"transition:{body.to.value}", case_id)
    return case


@router.post("/cases/{case_id}/assignment", summary="Assign a case to an investigator")
def assign(
    case_id: str,
    body: AssignmentIn,
    sessions: SessionsDep,
    principal: PrincipalDep,
    request: Request,
) -> dict[str, Any]:
    case = service.assign(sessions, case_id, assignee=body.assignee, principal=principal)
    _audit(request, principal, "assignment", case_id)
    return case


@router.post("/cases/{case_id}/notes", status_code=201, summary="Record a call, visit, result…")
def add_note(
    case_id: str, body: NoteIn, sessions: SessionsDep, principal: PrincipalDep, request: Request
) -> dict[str, Any]:
    note = service.add_note(sessions, case_id, kind=body.kind, text=body.text, principal=principal)
    _audit(request, principal, "note", case_id)
    return note


@router.post("/cases/{case_id}/links", status_code=201, summary="Link related cases")
def link(
    case_id: str, body: LinkIn, sessions: SessionsDep, principal: PrincipalDep, request: Request
) -> dict[str, Any]:
    other = {
        "case_id": body.case_id,
        "declaration_id": body.declaration_id,
        "reference": body.reference,
    }
    case = service.link_cases(
        sessions, case_id, other=other, kind=body.kind, reason=body.reason, principal=principal
    )
    _audit(request, principal, "link", case_id)
    return case
