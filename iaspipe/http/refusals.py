"""Refused attempts leave a trace: a token not accepted (401), a role that may not (403), an
object absent or out of the caller's scope (404) are audited, each in a unit of work of its
own (the refused use case wrote nothing), and counted."""

from __future__ import annotations

import logging
from collections.abc import Callable

import jwt
from fastapi import Request
from prometheus_client import Counter

from iaspipe.audit import RefusedAttempt
from iaspipe.auth import readable_subject
from iaspipe.errors import ServiceError
from iaspipe.http.auth import asking_from, client_address
from iaspipe.principal import Principal
from iaspipe.uow import Transaction

log = logging.getLogger(__name__)

REFUSED = Counter(
    "iaspipe_refused_requests_total",
    "Requests refused: a token not accepted, a role that may not, an object out of scope",
    ["service", "reason"],
)
AUDITED = (401, 403, 404)


def _claimed_subject(request: Request) -> str:
    """Who an unaccepted token claims to be: recorded as a claim, never trusted."""
    _, _, token = request.headers.get("authorization", "").partition(" ")
    try:
        sub = jwt.decode(token.strip(), options={"verify_signature": False}).get("sub")
    except jwt.PyJWTError:
        return "-"
    if not isinstance(sub, str) or not sub:
        return "-"
    if not readable_subject(sub):  # said as Python would write it, never as it came
        sub = ascii(sub)[1:-1][:150]
    return f"unverified:{sub}"


class RefusalLog:
    """`uow_factory` writes the service's audit log; a service without a database (the
    router) has none, and its refused attempts are written to its log, one line each."""

    def __init__(self, service: str, uow_factory: Callable[[], Transaction] | None) -> None:
        self.service = service
        self.uow_factory = uow_factory

    def record(self, request: Request, exc: ServiceError) -> None:
        REFUSED.labels(self.service, exc.rule).inc()
        principal: Principal | None = getattr(request.state, "principal", None)
        route = request.scope.get("route")
        tags = getattr(route, "tags", None) or ["-"]
        params = list(request.path_params.values())
        attempt = RefusedAttempt(
            subject=principal.subject if principal else _claimed_subject(request),
            address=asking_from(principal, request) if principal else client_address(request),
            action=f"{request.method} {getattr(route, 'path', request.url.path)}",
            object_type=str(tags[0]),
            object_id=str(params[0]) if params else "-",
            reason=exc.rule if exc.status != 401 else f"{exc.rule}: {exc}",
            role=principal.role.value if principal else "-",
        )
        if self.uow_factory is None:
            log.warning(
                "service=%s refused subject=%s role=%s action=%r object=%s:%s address=%s reason=%r",
                self.service,
                ascii(attempt.subject)[1:-1][:150],
                attempt.role,
                attempt.action,
                attempt.object_type,
                ascii(attempt.object_id)[1:-1][:64],
                attempt.address,
                attempt.reason,
            )
            return
        try:
            with self.uow_factory() as uow:
                uow.audit_refused(attempt)
                uow.commit()
        except Exception as failed:  # the answer goes out all the same
            log.warning(
                "service=%s refused attempt not audited (%s)", self.service, type(failed).__name__
            )
