"""Intake HTTP routes: thin; each turns the request into one use case call."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import limits
from fastapi import APIRouter, Body, Header, Query, Request
from fastapi.responses import JSONResponse

import schemas
from iaspipe.errors import RateLimited
from iaspipe.http.auth import CallerDep
from schemas.answers import ComplementAccepted, DeclarationPage, DeclarationView
from schemas.declaration import Complement, Declaration, DeclarationAccepted
from schemas.problems import ProblemReport
from services.intake import service
from services.intake.api.deps import ReferenceDep, SettingsDep, UowDep

SAMPLES_DIR = Path(schemas.__file__).parent / "samples"


def _samples() -> dict[str, Any]:
    return {
        p.stem: {"summary": p.stem.replace("_", " "), "value": json.loads(p.read_text("utf-8"))}
        for p in sorted(SAMPLES_DIR.glob("*.json"))
    }


def check_rate(request: Request, subject: str) -> None:
    """Submissions per token subject; RateLimited says when to come back."""
    limiter: limits.strategies.RateLimiter = request.app.state.limiter
    item: limits.RateLimitItem = request.app.state.submit_limit
    if not limiter.hit(item, subject):
        reset = limiter.get_window_stats(item, subject).reset_time
        raise RateLimited(max(1, int(reset - time.time()) + 1))


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ProblemReport, "description": "Malformed JSON"},
    401: {"model": ProblemReport, "description": "No token, or a token not trusted"},
    403: {"model": ProblemReport, "description": "The caller's role may not do this"},
    404: {"model": ProblemReport, "description": "No such declaration in the caller's scope"},
    413: {"model": ProblemReport, "description": "Body over the size limit"},
    422: {"model": ProblemReport, "description": "One entry per problem, with the article"},
}

router = APIRouter(prefix="/v1", tags=["declarations"])


@router.post(
    "/declarations",
    status_code=201,
    response_model=DeclarationAccepted,
    responses={
        **ERRORS,
        409: {"model": ProblemReport, "description": "Idempotency-Key reused with another body"},
        429: {"model": ProblemReport, "description": "Too many submissions: see Retry-After"},
    },
    summary="Declare a healthcare-associated infection (R1413-79)",
)
def submit_declaration(
    declaration: Annotated[Declaration, Body(openapi_examples=_samples())],
    uow: UowDep,
    settings: SettingsDep,
    ref: ReferenceDep,
    caller: CallerDep,
    request: Request,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> JSONResponse:
    check_rate(request, caller.subject)
    result = service.submit_declaration(
        uow,
        declaration,
        ref=ref,
        tz=settings.timezone,
        caller=caller,
        idempotency_key=idempotency_key,
    )
    headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
    return JSONResponse(
        result.body.model_dump(mode="json"), status_code=result.status_code, headers=headers
    )


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
    responses=ERRORS,
    summary="Add the cause analysis and action plan (R1413-80, second paragraph)",
)
def complement_declaration(
    declaration_id: str,
    complement: Complement,
    uow: UowDep,
    ref: ReferenceDep,
    caller: CallerDep,
) -> ComplementAccepted:
    return service.complement_declaration(
        uow, declaration_id, complement.model_dump(mode="json"), caller=caller, ref=ref
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
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> DeclarationPage:
    return service.list_declarations(uow, caller=caller, ref=ref, limit=limit, offset=offset)
