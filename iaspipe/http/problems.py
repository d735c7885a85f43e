"""Every HTTP error is a problem report (schemas.problems): one generic handler for the
services' own errors (iaspipe.errors.ServiceError), one for FastAPI's and Starlette's."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from pydantic_core import from_json
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from iaspipe.errors import BodyTooLarge, InvalidRequest, MalformedJson, NotJson, ServiceError
from schemas.problems import Problem, ProblemReport
from schemas.validation import problems_from_errors, shape_refusal

M = TypeVar("M", bound=BaseModel)

SHAPE_DETAIL = "Requête invalide / Invalid request"

HTTP_FRENCH = {
    400: "Requête illisible.",
    408: "La requête est arrivée trop lentement : renvoyez-la.",
    404: "Ressource introuvable.",
    405: "Méthode non permise sur cette adresse.",
}


PROBLEM_JSON = "application/problem+json"

# What the same refusal means on every service, as its OpenAPI documents it.
COMMON_PROBLEMS = {
    400: "Malformed JSON",
    401: "No token, or a token not trusted",
    403: "The caller's role may not do this",
    413: "Body over the size limit",
}


def documented_problems(own: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """A router's `responses`: a problem report for each of the common refusals and of the
    service's `own` (status: description), in the order of the statuses."""
    described = {**COMMON_PROBLEMS, **own}
    return {
        code: {"model": ProblemReport, "description": described[code]} for code in sorted(described)
    }


class ProblemResponse(JSONResponse):
    """A problem report, with the media type of RFC 9457."""

    media_type = PROBLEM_JSON


def problem_response(
    status: int, detail: str, problems: list[Problem], headers: dict[str, str] | None = None
) -> ProblemResponse:
    report = ProblemReport(detail=detail, errors=problems)
    return ProblemResponse(
        report.model_dump(mode="json", exclude_none=True), status_code=status, headers=headers
    )


def error_response(exc: ServiceError) -> ProblemResponse:
    detail = exc.summary if isinstance(exc, InvalidRequest) else exc.detail
    return problem_response(exc.status, detail, exc.problems(), exc.headers())


async def _service_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, ServiceError)
    refusals = getattr(request.app.state, "refusals", None)
    if refusals is not None and exc.status in (401, 403, 404):
        await run_in_threadpool(refusals.record, request, exc)
    return error_response(exc)


async def _http_error(_request: Request, exc: Exception) -> ProblemResponse:
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


async def _invalid(_request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    errors: list[Any] = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(MalformedJson())
    shape = problems_from_errors(errors, strip_prefix=True)
    body = exc.body if isinstance(exc.body, dict | list) else None
    return error_response(InvalidRequest(shape_refusal(body, shape), SHAPE_DETAIL))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    document_problems(app)


def document_problems(app: FastAPI) -> None:
    """The OpenAPI document says what the handlers answer: every error response is a problem
    report in application/problem+json, FastAPI's own 422 (HTTPValidationError) included."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        report = {"$ref": "#/components/schemas/ProblemReport"}
        uses_report = False
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    body = content.get("application/json", {}).get("schema", {})
                    ref = body.get("$ref", "")
                    if ref.endswith("/ProblemReport") or ref.endswith("/HTTPValidationError"):
                        del content["application/json"]
                        content[PROBLEM_JSON] = {"schema": report}
                        uses_report = True
                    elif status.startswith(("4", "5")) and not content:
                        response["content"] = {PROBLEM_JSON: {"schema": report}}
                        uses_report = True
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        if uses_report and "ProblemReport" not in components:
            components.update(_report_schemas())
        # FastAPI's own error schemas (ValidationError is HTTPValidationError's items), once
        # no path refers to them any more
        if '/HTTPValidationError"' not in json.dumps(schema["paths"]):
            components.pop("HTTPValidationError", None)
            components.pop("ValidationError", None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _report_schemas() -> dict[str, Any]:
    """ProblemReport and the schemas it refers to, as OpenAPI components."""
    schema = ProblemReport.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    return {**defs, "ProblemReport": schema}


def require_json(content_type: str | None) -> None:
    """NotJson (415) unless the body is announced as JSON (application/json, or a
    `+json` type such as application/merge-patch+json), whatever its charset."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        raise NotJson()


def parse_json_body(
    model: type[M],
    raw: bytes,
    refusal: Callable[[Any, list[Problem]], list[Problem]] = shape_refusal,
) -> M:
    """A request body read as `model` straight from its bytes (pydantic's own JSON parser),
    with the same answers as FastAPI's body parameters: 400 for unreadable JSON, 422 with one
    Problem per field otherwise."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors: list[Any] = list(exc.errors(include_url=False))
        if any(e["type"] == "json_invalid" for e in errors):
            raise MalformedJson() from None
        # Every problem in one answer (`refusal`: by default the text checks too, a NIR, a
        # date of birth, on the strings as they came). The JSON was read once; it reads again.
        try:
            body = from_json(raw)
        except ValueError:
            body = None
        raise InvalidRequest(refusal(body, problems_from_errors(errors)), SHAPE_DETAIL) from None
