"""POST /v1/declarations: the hottest route of the product, kept lean.

It reads its request itself: FastAPI's body parameters parse the Content-Type with the
standard library's e-mail package, decode the JSON, then validate it, which cost more than the
rest of a submission (docs/performance.md). The answers are the same as with a body
parameter (400 for unreadable JSON, 422 with one problem per field), and the OpenAPI document
describes the body, its examples and the Idempotency-Key header as before."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

import schemas
from iaspipe.errors import RateLimited, ServiceError
from iaspipe.http.auth import authenticate
from iaspipe.http.problems import documented_problems, parse_json_body, require_json
from schemas.declaration import Declaration, DeclarationAccepted
from schemas.problems import ProblemReport
from schemas.validation import shape_refusal
from services.intake import service
from services.intake.api.deps import Desk
from services.intake.api.keys import KEY_MAX_LENGTH, idempotency_key

SAMPLES_DIR = Path(schemas.__file__).parent / "samples"


def _samples() -> dict[str, Any]:
    return {
        p.stem: {"summary": p.stem.replace("_", " "), "value": json.loads(p.read_text("utf-8"))}
        for p in sorted(SAMPLES_DIR.glob("*.json"))
    }


OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/Declaration"},
                "examples": _samples(),
            }
        },
    },
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "Sent again with a retry, it returns the first answer; "
            "the same key with another body is a 409.",
            "schema": {"type": "string", "maxLength": KEY_MAX_LENGTH},
        }
    ],
}

ERRORS = documented_problems(
    {
        409: "Idempotency-Key reused with another body",
        422: "One entry per problem, with the article",
        429: "Too many submissions: see Retry-After",
    }
)

router = APIRouter(prefix="/v1", tags=["declarations"])


@router.post(
    "/declarations",
    status_code=201,
    response_model=DeclarationAccepted,
    responses={
        **ERRORS,
        415: {"model": ProblemReport, "description": "A body not announced as JSON"},
    },
    summary="Declare a healthcare-associated infection (R1413-79)",
    openapi_extra=OPENAPI,
)
async def submit_declaration(request: Request) -> Response:
    desk: Desk = request.app.state.desk
    caller = await authenticate(request)
    limited: RateLimited | None = None
    try:
        await desk.check_rate(caller)
    except RateLimited as exc:
        limited = exc
    key = idempotency_key(request)
    try:
        require_json(request.headers.get("content-type"))
        # A refused shape also says the rules of the parts that are well formed.
        refusal = partial(shape_refusal, ref=desk.reference)
        declaration = parse_json_body(Declaration, await request.body(), refusal)
    except ServiceError as exc:  # 415, 400, 422 for the body's shape: counted by rule too
        service.count_refused(exc.problems())
        raise
    if limited is not None:
        # A retry of a submission already accepted gets its first answer, not a 429.
        replay = await service.replay_of(
            desk.submissions, declaration, caller=caller, idempotency_key=key
        )
        if replay is None:
            raise limited
        result = replay
    else:
        result = await service.submit_declaration(
            desk.submissions,
            declaration,
            ref=desk.reference,
            caller=caller,
            idempotency_key=key,
        )
    return Response(
        result.body_json,
        status_code=result.status_code,
        headers={"Idempotent-Replayed": "true"} if result.replayed else None,
        media_type="application/json",
    )
