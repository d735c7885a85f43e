"""Every HTTP error is a problem report (schemas.problems): one generic handler for the
services' own errors (iaspipe.errors.ServiceError), one for FastAPI's and Starlette's."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from iaspipe.errors import BodyTooLarge, InvalidRequest, ServiceError
from schemas.problems import Problem, ProblemReport
from schemas.validation import problems_from_errors

HTTP_FRENCH = {
    400: "Requête illisible.",
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


async def _service_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return error_response(exc)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 413:
        return error_response(BodyTooLarge())
    problem = Problem(
        path="request",
        rule=f"http_{exc.status_code}",
        message=HTTP_FRENCH.get(exc.status_code, "Requête refusée."),
        message_en=str(exc.detail),
    )
    return problem_response(exc.status_code, str(exc.detail), [problem], dict(exc.headers or {}))


async def _invalid(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors: list[Any] = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        problem = Problem(
            path="body",
            rule="json_invalid",
            message="Le corps de la requête n'est pas un JSON valide.",
            message_en="The request body is not valid JSON.",
        )
        return problem_response(400, "JSON illisible / Malformed JSON", [problem])
    return problem_response(
        422, "Requête invalide / Invalid request", problems_from_errors(errors, strip_prefix=True)
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid)
