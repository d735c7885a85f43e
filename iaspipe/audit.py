"""Append-only audit log: who read or changed which object, when, from where.

Each service keeps its own table; its migration installs triggers that refuse UPDATE and
DELETE on it, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from alembic import op
from fastapi import APIRouter, Query, Request
from sqlalchemy import BigInteger, DateTime, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from iaspipe.auth import Principal, PrincipalDep, Role, require
from schemas.events import utcnow
from schemas.problems import ProblemReport


class AuditMixin:
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    subject: Mapped[str] = mapped_column(String(200), index=True)
    role: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(40))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(64), index=True)
    address: Mapped[str] = mapped_column(String(64))


def entry(
    model: type[Any],
    principal: Principal,
    action: str,
    object_type: str,
    object_id: str,
    address: str,
) -> Any:
    return model(
        at=utcnow(),
        subject=principal.subject,
        role=principal.role.value,
        action=action,
        object_type=object_type,
        object_id=object_id,
        address=address,
    )


def record(
    sessions: sessionmaker[Session],
    model: type[Any],
    principal: Principal,
    action: str,
    object_type: str,
    object_id: str,
    address: str,
) -> None:
    with sessions() as session, session.begin():
        session.add(entry(model, principal, action, object_type, object_id, address))


def query(
    sessions: sessionmaker[Session],
    model: type[Any],
    *,
    filters: dict[str, str | None],
    limit: int,
    offset: int,
) -> dict[str, Any]:
    q = select(model)
    for name in ("subject", "action", "object_type", "object_id"):
        if filters.get(name):
            q = q.where(getattr(model, name) == filters[name])
    with sessions() as session:
        rows = session.scalars(q.order_by(model.id.desc()).limit(limit).offset(offset)).all()
        return {
            "items": [
                {
                    "at": r.at if r.at.tzinfo else r.at.replace(tzinfo=dt.UTC),
                    "subject": r.subject,
                    "role": r.role,
                    "action": r.action,
                    "object_type": r.object_type,
                    "object_id": r.object_id,
                    "address": r.address,
                }
                for r in rows
            ],
            "limit": limit,
            "offset": offset,
        }


def install_append_only(table: str) -> None:
    """Migration step: refuse UPDATE and DELETE on the audit table."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION {table}_append_only() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION '{table} is append-only'; END; $$ LANGUAGE plpgsql""")
        op.execute(f"""CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table}
                       FOR EACH ROW EXECUTE FUNCTION {table}_append_only()""")
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"""CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table}
                           BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END""")


def audit_router(model: type[Any], what: str) -> APIRouter:
    """GET /v1/audit for admins: who read or changed which object, newest first."""
    router = APIRouter(prefix="/v1", tags=["audit"])

    @router.get(
        "/audit",
        summary=f"Who read or changed which {what}, when, from where (admin)",
        responses={
            401: {"model": ProblemReport},
            403: {"model": ProblemReport},
            422: {"model": ProblemReport},
        },
    )
    def audit_log(
        request: Request,
        principal: PrincipalDep,
        subject: str | None = None,
        action: str | None = None,
        object_id: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ) -> dict[str, Any]:
        require(principal, Role.admin)
        return query(
            request.app.state.sessions,
            model,
            filters={"subject": subject, "action": action, "object_id": object_id},
            limit=limit,
            offset=offset,
        )

    return router
