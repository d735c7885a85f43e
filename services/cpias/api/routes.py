"""CPias HTTP routes: investigators' queue and workflow."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.orm import Session, sessionmaker

from schemas.problems import ProblemReport
from services.cpias import service
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


def get_actor(x_actor: Annotated[str | None, Header(max_length=200)] = None) -> str:
    """Who acts. Until bearer tokens land, the caller names itself in X-Actor."""
    return x_actor or "anonymous"


SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessions)]
ActorDep = Annotated[str, Depends(get_actor)]
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ProblemReport},
    409: {"model": ProblemReport},
    422: {"model": ProblemReport},
}

router = APIRouter(prefix="/v1", tags=["cases"], responses=ERRORS)


@router.get("/cases", summary="The queue: urgent first, then oldest")
def list_cases(
    sessions: SessionsDep,
    status: Status | None = None,
    priority: Annotated[str | None, Query(pattern="^(urgent|high|normal)$")] = None,
    assignee: str | None = None,
    overdue: bool | None = None,
    declaration_id: str | None = None,
    reference: str | None = None,
    cpias: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
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
    return service.list_cases(sessions, filters=filters, limit=limit, offset=offset)


@router.get("/cases/{case_id}", summary="A case: declaration, notes, history, links")
def get_case(case_id: str, sessions: SessionsDep) -> dict[str, Any]:
    return service.get_case(sessions, case_id)


@router.post("/cases/{case_id}/transitions", summary="Move a case along the workflow")
def transition(
    case_id: str, body: TransitionIn, sessions: SessionsDep, actor: ActorDep
) -> dict[str, Any]:
    return service.transition(
        sessions, case_id, to=body.to, actor=actor, reason=body.reason, outcome=body.outcome
    )


@router.post("/cases/{case_id}/assignment", summary="Assign a case to an investigator")
def assign(
    case_id: str, body: AssignmentIn, sessions: SessionsDep, actor: ActorDep
) -> dict[str, Any]:
    return service.assign(sessions, case_id, assignee=body.assignee, actor=actor)


@router.post("/cases/{case_id}/notes", status_code=201, summary="Record a call, visit, result…")
def add_note(case_id: str, body: NoteIn, sessions: SessionsDep, actor: ActorDep) -> dict[str, Any]:
    return service.add_note(sessions, case_id, kind=body.kind, text=body.text, actor=actor)


@router.post("/cases/{case_id}/links", status_code=201, summary="Link related cases")
def link(case_id: str, body: LinkIn, sessions: SessionsDep, actor: ActorDep) -> dict[str, Any]:
    other = {
        "case_id": body.case_id,
        "declaration_id": body.declaration_id,
        "reference": body.reference,
    }
    return service.link_cases(
        sessions, case_id, other=other, kind=body.kind, reason=body.reason, actor=actor
    )
