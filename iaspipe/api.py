"""HTTP pieces shared by the services: body limit, problem responses, OpenAPI extras."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schemas.problems import Problem, ProblemReport
from schemas.rules import problems_from_errors


def problem_response(status: int, detail: str, problems: list[Problem]) -> JSONResponse:
    report = ProblemReport(detail=detail, errors=problems)
    return JSONResponse(report.model_dump(mode="json", exclude_none=True), status_code=status)


class BodyLimit:
    """Answers 413 as soon as a request body exceeds `limit` bytes, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._too_large(scope, receive, send)
                return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge()
            return message

        await self.app(scope, limited, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        await too_large_response()(scope, receive, send)


def too_large_response() -> JSONResponse:
    return problem_response(
        413,
        "Requête trop volumineuse / Request body too large",
        [
            Problem(
                path="body",
                rule="body_too_large",
                message="Le corps de la requête dépasse la taille permise.",
                message_en="The request body exceeds the allowed size.",
            ),
        ],
    )


class _TooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(status_code=413)


def install_auth(app: FastAPI, settings: Any) -> None:
    """Token verifier, 401/403 responses, and CORS closed unless origins are configured."""
    from fastapi.middleware.cors import CORSMiddleware

    from iaspipe.auth import AuthError, Forbidden, Verifier

    app.state.verifier = Verifier(settings.auth)

    @app.exception_handler(AuthError)
    async def _unauthenticated(_request: Request, exc: AuthError) -> JSONResponse:
        response = problem_response(
            401,
            "Authentification requise / Authentication required",
            [
                Problem(
                    path="Authorization",
                    rule="invalid_token",
                    message="Jeton d'accès absent ou invalide.",
                    message_en=f"Missing or invalid bearer token ({exc}).",
                ),
            ],
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="iaspipe", error="invalid_token"'
        return response

    @app.exception_handler(Forbidden)
    async def _forbidden(_request: Request, exc: Forbidden) -> JSONResponse:
        return problem_response(
            403,
            "Accès refusé / Forbidden",
            [
                Problem(
                    path="Authorization",
                    rule="forbidden",
                    message="Votre rôle ne permet pas cette action.",
                    message_en=str(exc),
                ),
            ],
        )

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
        )


def install_validation_handler(app: FastAPI) -> None:
    """Request validation errors become one Problem per field; unreadable JSON is a 400."""

    @app.exception_handler(_TooLarge)
    async def _too_large(_request: Request, _exc: _TooLarge) -> JSONResponse:
        return too_large_response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        french = {
            400: "Requête illisible.",
            404: "Ressource introuvable.",
            405: "Méthode non permise sur cette adresse.",
        }
        response = problem_response(
            exc.status_code,
            str(exc.detail),
            [
                Problem(
                    path="request",
                    rule=f"http_{exc.status_code}",
                    message=french.get(exc.status_code, "Requête refusée."),
                    message_en=str(exc.detail),
                ),
            ],
        )
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors: list[Any] = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return problem_response(
                400,
                "JSON illisible / Malformed JSON",
                [
                    Problem(
                        path="body",
                        rule="json_invalid",
                        message="Le corps de la requête n'est pas un JSON valide.",
                        message_en="The request body is not valid JSON.",
                    ),
                ],
            )
        return problem_response(
            422,
            "Requête invalide / Invalid request",
            problems_from_errors(errors, strip_prefix=True),
        )


SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeaders:
    """Adds the security headers to every HTTP response (pure ASGI: no per-request task)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


def security_headers(app: FastAPI) -> None:
    app.add_middleware(SecurityHeaders)


def install_common(app: FastAPI, settings: Any, engine: Any, max_body_bytes: int) -> None:
    """What every HTTP service with a database has: tokens, body limit, security headers,
    problem responses, and /healthz, /readyz (database and broker), /metrics."""
    from iaspipe import db, kafka
    from iaspipe.http import health_router

    install_auth(app, settings)
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    security_headers(app)
    install_validation_handler(app)
    app.include_router(
        health_router(
            {
                "database": lambda: db.is_reachable(engine),
                "broker": lambda: kafka.broker_reachable(settings.kafka_bootstrap_servers),
            }
        )
    )
