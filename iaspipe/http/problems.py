"""Every HTTP error is a problem report (schemas.problems): one generic handler for the
services' own errors (iaspipe.errors.ServiceError), one for FastAPI's and Starlette's."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from iaspipe.errors import BodyTooLarge, InvalidRequest, MalformedJson, ServiceError
from schemas.problems import Problem, ProblemReport
from schemas.validation import problems_from_errors

M = TypeVar("M", bound=BaseModel)

SHAPE_DETAIL = "Requête invalide / Invalid request"

HTTP_FRENCH = {
    400: "Requête illisible.",
    408: "La requête est arrivée trop lentement : renvoyez-la.",
    404: "Ressource introuvable.",
    405: "Méthode non permise sur cette adresse.",
}


def problem_response(
    status: int, detail: str, problems: list[Problem], headers: dict[str, str] | None = None
) -> JSONResponse:
    report = ProblemReport(detail=detail, errors=problems)
    return JSONResponse(
        report.model_dump(mode="json", exclude_none=True), status_code=status, headers=headers
    )


def error_response(exc: ServiceError) -> JSONResponse:
    detail = exc.summary if isinstance(exc, InvalidRequest) else exc.detail
    return problem_response(exc.status, detail, exc.problems(), exc.headers())


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    refusals = getattr(request.app.state, "refusals", None)
    if refusals is not None and exc.status in (401, 403, 404):
        await run_in_threadpool(refusals.record, request, exc)
    return error_response(exc)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 413:
        return error_response(BodyTooLarge())
    headers = dict(exc.headers or {})
    if exc.status_code == 408:  # the rest of the body may still come: end the connection
        headers["Connection"] = "close"
    problem = Problem(
        path="request",
        rule=f"http_{exc.status_code}",
        message=HTTP_FRENCH.get(exc.status_code, "Requête refusée."),
        message_en=str(exc.detail),
    )
    return problem_response(exc.status_code, str(exc.detail), [problem], headers)


async def _invalid(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors: list[Any] = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(MalformedJson())
    return error_response(
        InvalidRequest(problems_from_errors(errors, strip_prefix=True), SHAPE_DETAIL)
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid)


def parse_json_body(model: type[M], raw: bytes) -> M:
    """A request body read as `model` straight from its bytes (pydantic's own JSON parser),
    with the same answers as FastAPI's body parameters: 400 for unreadable JSON, 422 with one
    Problem per field otherwise."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors: list[Any] = list(exc.errors(include_url=False))
        if any(e["type"] == "json_invalid" for e in errors):
            raise MalformedJson() from None
        raise InvalidRequest(problems_from_errors(errors), SHAPE_DETAIL) from None
