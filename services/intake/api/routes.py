"""Intake HTTP routes: thin; each turns the request into one use case call."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from iaspipe.http.auth import CallerDep
from iaspipe.http.paging import Offset
from iaspipe.http.problems import documented_problems
from schemas.answers import ComplementAccepted, DeclarationPage, DeclarationView
from schemas.declaration import Complement
from schemas.problems import ProblemReport
from services.intake import service
from services.intake.api.deps import ReferenceDep, UowDep
from services.intake.api.keys import idempotency_key

ERRORS = documented_problems(
    {
        404: "No such declaration in the caller's scope",
        422: "One entry per problem, with the article",
    }
)

router = APIRouter(prefix="/v1", tags=["declarations"])


@router.get(
    "/declarations/{declaration_id}",
    response_model=DeclarationView,
    responses=ERRORS,
    summary="A declaration and its timeline",
)
def get_declaration(
    declaration_id: str,
    uow: UowDep,
    ref: ReferenceDep,
    caller: CallerDep,
) -> DeclarationView:
    return service.get_declaration(uow, declaration_id, caller=caller, ref=ref)


@router.post(
    "/declarations/{declaration_id}/complement",
    status_code=202,
    response_model=ComplementAccepted,
    responses={
        **ERRORS,
        409: {
            "model": ProblemReport,
            "description": "Idempotency-Key reused with another complement",
        },
    },
    summary="Add the cause analysis and action plan (R1413-80, second paragraph)",
    description="Sent to the recipients of the declaration's initial routing decision; one "
    "that arrives before that decision is back is kept and sent when it arrives.",
)
def complement_declaration(
    request: Request,
    declaration_id: str,
    complement: Complement,
    uow: UowDep,
    ref: ReferenceDep,
    caller: CallerDep,
) -> ComplementAccepted:
    return service.complement_declaration(
        uow,
        declaration_id,
        complement.model_dump(mode="json"),
        caller=caller,
        ref=ref,
        idempotency_key=idempotency_key(request),
    )


@router.get(
    "/declarations",
    response_model=DeclarationPage,
    responses={k: v for k, v in ERRORS.items() if k in (401, 422)},
    summary="The declarations the caller may read, newest first",
)
def list_declarations(
    uow: UowDep,
    ref: ReferenceDep,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> DeclarationPage:
    return service.list_declarations(uow, caller=caller, ref=ref, limit=limit, offset=offset)
