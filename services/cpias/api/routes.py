"""CPias HTTP routes: investigators' queue and workflow. Thin: one use case each."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from iaspipe.http.auth import CallerDep
from iaspipe.http.paging import Offset
from schemas.answers import (
    CaseDetail,
    CasePage,
    ClusterPage,
    ClusterView,
    NoteView,
    ThresholdAlerts,
)
from schemas.plain import In, is_blank
from schemas.problems import ProblemReport
from services.cpias import clusters, service
from services.cpias.api.deps import UowDep
from services.cpias.domain.clusters import Decision
from services.cpias.domain.fhir import FHIR_MEDIA_TYPE
from services.cpias.domain.workflow import LinkKind, NoteKind, Outcome, Status


class TransitionIn(In):
    to: Status
    reason: str | None = Field(default=None, max_length=4000)
    outcome: Outcome | None = None


class AssignmentIn(In):
    assignee: str | None = Field(max_length=200)


class NoteIn(In):
    kind: NoteKind
    text: str = Field(min_length=1, max_length=10000)

    @field_validator("text")
    @classmethod
    def _shows_something(cls, text: str) -> str:
        if is_blank(text):
            raise PydanticCustomError("blank", "this field cannot be blank")
        return text


class CaseRef(In):
    """Another case, by its id, its declaration's id or its reference."""

    case_id: str | None = None
    declaration_id: str | None = None
    reference: str | None = None

    @model_validator(mode="after")
    def _one_target(self) -> CaseRef:
        if not (self.case_id or self.declaration_id or self.reference):
            raise PydanticCustomError(
                "case_ref_missing", "name the other case by case_id, declaration_id or reference"
            )
        return self

    def target(self) -> dict[str, str | None]:
        return {
            "case_id": self.case_id,
            "declaration_id": self.declaration_id,
            "reference": self.reference,
        }


class LinkIn(CaseRef):
    kind: LinkKind
    reason: str | None = Field(default=None, max_length=4000)


class DecisionIn(In):
    decision: Decision
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="When confirming into a new cluster, its name (by default what its cases "
        "share)",
    )
    reason: str | None = Field(default=None, max_length=4000)


class FhirJSONResponse(JSONResponse):
    media_type = FHIR_MEDIA_TYPE


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ProblemReport} for code in (400, 401, 403, 404, 409, 413, 422)
}

router = APIRouter(prefix="/v1", tags=["cases"], responses=ERRORS)

Region = Annotated[
    str | None,
    Query(
        pattern="^[0-9]{2}$",
        description="INSEE code of a region, to narrow an admin's answer (others keep their "
        "own scope)",
    ),
]


@router.get(
    "/cases",
    response_model=CasePage,
    summary="The queue: urgent first, then the longest waiting (by reception)",
)
def list_cases(
    uow: UowDep,
    caller: CallerDep,
    status: Status | None = None,
    priority: Annotated[str | None, Query(pattern="^(urgent|high|normal)$")] = None,
    assignee: str | None = None,
    overdue: bool | None = None,
    declaration_id: str | None = None,
    reference: str | None = None,
    cpias: str | None = None,
    q: Annotated[
        str | None,
        Query(
            max_length=100,
            description="A part of the reference or of the establishment's name, whatever "
            "the case of letters",
        ),
    ] = None,
    assigned: Annotated[
        bool | None, Query(description="true: cases with an assignee; false: without")
    ] = None,
    closed: Annotated[
        bool | None, Query(description="true: closed cases only; false: open cases only")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> CasePage:
    filters = {
        "q": q.strip() if q else None,
        "assigned": assigned,
        "closed": closed,
        "status": status.value if status else None,
        "priority": priority,
        "assignee": assignee,
        "overdue": overdue,
        "declaration_id": declaration_id,
        "reference": reference,
        "cpias": cpias,
    }
    return service.list_cases(uow, filters=filters, caller=caller, limit=limit, offset=offset)


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
    return service.link_cases(
        uow,
        case_id,
        other=body.target(),
        kind=body.kind,
        reason=body.reason,
        caller=caller,
    )


@router.get(
    "/cases/{case_id}/fhir",
    response_class=FhirJSONResponse,
    summary="The case as a FHIR R4 Bundle (read-only)",
    responses={
        200: {
            "description": "A Bundle (collection): AdverseEvent, Communication carrying the "
            "declaration, Task of the investigation, Organization of the establishment by "
            "FINESS",
            "content": {FHIR_MEDIA_TYPE: {"schema": {"type": "object"}}},
        },
        # Errors stay problem reports in plain JSON, not FHIR.
        **{
            code: {
                "description": "Problem report",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ProblemReport"}}
                },
            }
            for code in ERRORS
        },
    },
)
def case_fhir(case_id: str, uow: UowDep, caller: CallerDep) -> FhirJSONResponse:
    return FhirJSONResponse(service.case_fhir(uow, case_id, caller=caller))


@router.post(
    "/cases/{case_id}/cluster-suggestions/{other_case_id}",
    response_model=CaseDetail,
    tags=["clusters"],
    summary="Confirm a suggested cluster (both cases join one confirmed cluster) or dismiss "
    "it (never suggested again for this pair)",
)
def decide_suggestion(
    case_id: str, other_case_id: str, body: DecisionIn, uow: UowDep, caller: CallerDep
) -> CaseDetail:
    return clusters.decide_suggestion(
        uow,
        case_id,
        other_case_id,
        decision=body.decision,
        name=body.name,
        reason=body.reason,
        caller=caller,
    )


@router.get(
    "/clusters",
    response_model=ClusterPage,
    tags=["clusters"],
    summary="Confirmed clusters with a case in the caller's scope, latest first",
)
def list_clusters(
    uow: UowDep,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
    region: Region = None,
) -> ClusterPage:
    return clusters.list_clusters(uow, caller=caller, limit=limit, offset=offset, region=region)


@router.get(
    "/clusters/{cluster_id}",
    response_model=ClusterView,
    tags=["clusters"],
    summary="A confirmed cluster: its name, cases, first and last dates",
)
def get_cluster(cluster_id: str, uow: UowDep, caller: CallerDep) -> ClusterView:
    return clusters.get_cluster(uow, cluster_id, caller=caller)


@router.post(
    "/clusters/{cluster_id}/members",
    status_code=201,
    response_model=ClusterView,
    tags=["clusters"],
    summary="Add a case to a confirmed cluster",
)
def add_member(cluster_id: str, body: CaseRef, uow: UowDep, caller: CallerDep) -> ClusterView:
    return clusters.add_to_cluster(uow, cluster_id, other=body.target(), caller=caller)


@router.get(
    "/alerts",
    response_model=ThresholdAlerts,
    tags=["clusters"],
    summary="Threshold alerts: N episodes of a mechanism family in a département within D days",
)
def list_alerts(
    uow: UowDep,
    caller: CallerDep,
    current: bool = True,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    region: Region = None,
) -> ThresholdAlerts:
    return clusters.list_alerts(uow, caller=caller, current=current, limit=limit, region=region)
