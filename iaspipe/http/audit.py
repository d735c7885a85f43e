"""GET /v1/audit for admins, the same on every service that keeps an audit log.

No `from __future__ import annotations` here: the route's dependency type is built inside
`audit_router`, and FastAPI must see it as an object, not as a name to resolve later."""

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from iaspipe.http.auth import PrincipalDep
from iaspipe.http.paging import Offset
from iaspipe.principal import Role, require
from iaspipe.uow import Transaction
from schemas.answers import AuditPage
from schemas.problems import ProblemReport


def audit_router(uow_dependency: Callable[..., Any], what: str) -> APIRouter:
    """`uow_dependency` gives the service's unit of work for the request."""
    router = APIRouter(prefix="/v1", tags=["audit"])
    uow_dep = Annotated[Transaction, Depends(uow_dependency)]

    @router.get(
        "/audit",
        summary=f"Who read or changed which {what}, when, from where (admin)",
        response_model=AuditPage,
        responses={
            401: {"model": ProblemReport},
            403: {"model": ProblemReport},
            422: {"model": ProblemReport},
        },
    )
    def audit_log(
        uow: uow_dep,
        principal: PrincipalDep,
        subject: Annotated[str | None, Query(max_length=200)] = None,
        action: Annotated[str | None, Query(max_length=40)] = None,
        object_id: Annotated[str | None, Query(max_length=64)] = None,
        outcome: Annotated[Literal["done", "refused"] | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Offset = 0,
    ) -> AuditPage:
        require(principal, Role.admin)
        with uow:
            page = uow.audit_log.page(
                filters={
                    "subject": subject,
                    "action": action,
                    "object_id": object_id,
                    "outcome": outcome,
                },
                limit=limit,
                offset=offset,
            )
            uow.commit()
        return page

    return router
