"""Pure ASGI middleware (no task per request): body size and time limits, control
characters in paths and query strings, security headers, and unexpected errors."""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
import uuid
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from iaspipe.db import is_database_unavailable
from iaspipe.errors import BodyTooLarge, InvalidRequest, NotJson, ServiceError
from iaspipe.http.problems import error_response, require_json
from schemas.plain import has_forbidden_character
from schemas.problems import Problem
from schemas.validation import CONTROL_CHECK

log = logging.getLogger(__name__)


class BodyLimit:
    """Answers 413 as soon as a request body exceeds `limit` bytes, declared or streamed,
    and 408 when it has not all arrived `seconds` after its first part was awaited (a client
    sending a byte now and then holds a connection no longer than that)."""

    def __init__(self, app: ASGIApp, limit: int, seconds: float = 20.0) -> None:
        self.app = app
        self.limit = limit
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await error_response(BodyTooLarge())(scope, receive, send)
                return
        received = 0
        deadline: float | None = None
        complete = False

        async def limited() -> Message:
            nonlocal received, deadline, complete
            if complete:  # the body is in: later calls wait for the client to leave
                return await receive()
            if deadline is None:
                deadline = time.monotonic() + self.seconds
            try:
                async with asyncio.timeout(max(deadline - time.monotonic(), 0)):
                    message = await receive()
            except TimeoutError:
                # HTTP exceptions: FastAPI's body parsing lets those through.
                raise HTTPException(408, "Request body too slow") from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise HTTPException(413)
                complete = not message.get("more_body", False)
            return message

        await self.app(scope, limited, send)


class CloseUnreadBodies:
    """An answer given before the request's body was all read (a 401, a 415, a route that
    reads none) closes the connection: the server would otherwise wait for the rest of the
    body, however slowly it comes. Outermost, so that every early answer passes through it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        has_body = scope["type"] == "http" and any(
            (name == b"content-length" and value not in (b"", b"0")) or name == b"transfer-encoding"
            for name, value in scope.get("headers", [])
        )
        if not has_body:
            await self.app(scope, receive, send)
            return
        complete = False

        async def reading() -> Message:
            nonlocal complete
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                complete = True
            return message

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start" and not complete:
                kept = [h for h in message.get("headers", []) if h[0].lower() != b"connection"]
                message = {**message, "headers": [*kept, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, reading, closing)


SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeaders:
    """Adds the security headers (SECURITY_HEADERS, then `extra`) to every HTTP response that
    does not set its own."""

    def __init__(self, app: ASGIApp, extra: list[tuple[bytes, bytes]] | None = None) -> None:
        self.app = app
        self.headers = [*SECURITY_HEADERS, *(extra or [])]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in self.headers if n not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


class ControlCharacterInParameter(InvalidRequest):
    def __init__(self, name: str) -> None:
        super().__init__(
            [
                Problem(
                    path=name,
                    rule=CONTROL_CHECK.rule,
                    message=CONTROL_CHECK.message,
                    message_en=CONTROL_CHECK.message_en,
                )
            ]
        )


class RejectControlCharacters:
    """A path or query parameter holding a control or bidirectional-override character is
    refused (422, naming it) before any route reads it: such a character has no business in
    an identifier, and some would reach the database."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            name = self.offending(scope)
            if name is not None:
                await error_response(ControlCharacterInParameter(name))(scope, receive, send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    def offending(scope: Scope) -> str | None:
        """The parameter holding a forbidden character ("path", "query" for a name, or the
        name of the parameter), or None."""
        if has_forbidden_character(scope["path"]):
            return "path"
        query = scope.get("query_string", b"")
        if query:
            for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                if has_forbidden_character(name):
                    return "query"
                if has_forbidden_character(value):
                    return str(name)
        return None


class JsonBodies:
    """A JSON API reads JSON only: a request that carries a body (POST, PUT, PATCH) announced
    as anything else (text/plain, a form, none) is refused with 415 naming Content-Type,
    before any route reads it (`require_json`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            headers = dict(scope["headers"])
            has_body = headers.get(b"content-length", b"0") not in (b"0", b"") or (
                b"transfer-encoding" in headers
            )
            if has_body:
                try:
                    require_json(headers.get(b"content-type", b"").decode("latin-1"))
                except NotJson as exc:
                    await error_response(exc)(scope, receive, send)
                    return
        await self.app(scope, receive, send)


class UnexpectedErrors:
    """Any error no handler expected: a 500 problem with a correlation id and nothing of the
    internals; the log line carries the same id, the error's type and where it happened, but
    not its message (which may quote data). A database out of reach is a 503 with
    Retry-After instead: nothing was accepted, the client should try again."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception as exc:
            if is_database_unavailable(exc) and not started:
                log.warning(
                    "database unavailable (%s): 503 for %s %s",
                    type(exc).__name__,
                    scope.get("method"),
                    getattr(scope.get("route"), "path", "-"),
                )
                await error_response(DatabaseUnavailable())(scope, receive, send)
                return
            correlation = uuid.uuid4().hex
            frames = "".join(traceback.format_tb(exc.__traceback__)[-6:])
            log.error(
                "unexpected error correlation_id=%s type=%s method=%s path=%s\n%s",
                correlation,
                type(exc).__name__,
                scope.get("method"),
                getattr(scope.get("route"), "path", "-"),
                frames,
            )
            if started:
                raise
            response = error_response(InternalError(correlation))
            await response(scope, receive, send)


class InternalError(ServiceError):
    status = 500
    detail = "Erreur interne / Internal error"
    path = "request"
    rule = "internal_error"

    def __init__(self, correlation_id: str) -> None:
        super().__init__(correlation_id)
        self.correlation_id = correlation_id

    def problems(self) -> list[Problem]:
        return self.one_problem(
            "Une erreur inattendue est survenue. Réessayez ; si elle se reproduit, "
            f"donnez ce numéro au support : {self.correlation_id}.",
            "An unexpected error occurred. Retry; if it happens again, give "
            f"this number to the support: {self.correlation_id}.",
        )

    def headers(self) -> dict[str, str]:
        return {"X-Correlation-Id": self.correlation_id}


class DatabaseUnavailable(ServiceError):
    status = 503
    detail = "Service momentanément indisponible / Service temporarily unavailable"
    path = "request"
    rule = "database_unavailable"
    message = (
        "Le service ne peut pas enregistrer pour l'instant : réessayez dans quelques secondes."
    )
    message_en = "The service cannot store anything right now: retry in a few seconds."

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "5"}
