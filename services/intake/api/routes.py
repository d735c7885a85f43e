"""Intake HTTP routes: thin; each turns the request into one service call."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import limits
from fastapi import APIRouter, Body, Depends, Header, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session, sessionmaker

import schemas
from iaspipe.auth import PrincipalDep, client_address
from schemas.declaration import Complement, Declaration, DeclarationAccepted
from schemas.problems import ProblemReport
from schemas.reference import ReferenceData
from services.intake import service
from services.intake.errors import RateLimited
from services.intake.settings import IntakeSettings

SAMPLES_DIR = Path(schemas.__file__).parent / "samples"


def _samples() -> dict[str, Any]:
    return {
        p.stem: {"summary": p.stem.replace("_", " "), "value": json.loads(p.read_text("utf-8"))}
        for p in sorted(SAMPLES_DIR.glob("*.json"))
    }


def get_sessions(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessions  # type: ignore[no-any-return]


def get_settings(request: Request) -> IntakeSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_reference(request: Request) -> ReferenceData:
    return request.app.state.reference  # type: ignore[no-any-return]


SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessions)]
SettingsDep = Annotated[IntakeSettings, Depends(get_settings)]
ReferenceDep = Annotated[ReferenceData, Depends(get_reference)]


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
    sessions: SessionsDep,
    settings: SettingsDep,
    ref: ReferenceDep,
    principal: PrincipalDep,
    request: Request,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> JSONResponse:
    check_rate(request, principal.subject)
    result = service.submit_declaration(
        sessions,
        declaration,
        ref=ref,
        tz=settings.timezone,
        principal=principal,
        address=client_address(request),
        idempotency_key=idempotency_key,
    )
    headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
    return JSONResponse(result.body, status_code=result.status_code, headers=headers)


@router.get(
    "/declarations/{declaration_id}", responses=ERRORS, summary="A declaration and its timeline"
)
def get_declaration(
    declaration_id: str,
    sessions: SessionsDep,
    ref: ReferenceDep,
    principal: PrincipalDep,
    request: Request,
) -> dict[str, Any]:
    return service.get_declaration(
        sessions, declaration_id, principal=principal, ref=ref, address=client_address(request)
    )


@router.post(
    "/declarations/{declaration_id}/complement",
    status_code=202,
    responses=ERRORS,
    summary="Add the cause analysis and action plan (R1413-80, second paragraph)",
)
def complement_declaration(
    declaration_id: str,
    complement: Complement,
    sessions: SessionsDep,
    ref: ReferenceDep,
    principal: PrincipalDep,
    request: Request,
) -> dict[str, Any]:
    return service.complement_declaration(
        sessions,
        declaration_id,
        complement.model_dump(mode="json"),
        principal=principal,
        ref=ref,
        address=client_address(request),
    )
