"""Append-only audit log: who read or changed which object, when, from where.

Each service keeps its own table; its migration installs triggers that refuse UPDATE and
DELETE on it, on SQLite and PostgreSQL alike. Entries are written by the unit of work, in the
transaction of the change (or of the read) they record."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from alembic import op
from sqlalchemy import BigInteger, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from iaspipe.db import UtcDateTime
from schemas.answers import AuditEntryView, AuditPage
from schemas.events import utcnow


class AuditMixin:
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), index=True)
    subject: Mapped[str] = mapped_column(String(200), index=True)
    role: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(40))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(64), index=True)
    address: Mapped[str] = mapped_column(String(64))
    # "done", or "refused" for an attempt the service turned down (then `reason` says why:
    # invalid_token, forbidden, not_found...).
    outcome: Mapped[str] = mapped_column(String(20), default="done", server_default="done")
    reason: Mapped[str | None] = mapped_column(String(60))


@dataclass(frozen=True)
class RefusedAttempt:
    """An attempt refused to someone who may not be known (a sign-in that failed, a token
    not accepted): who it claimed to be, from where, what it tried, and why it was refused."""

    subject: str
    address: str
    action: str
    object_type: str
    object_id: str
    reason: str
    role: str = "-"


def audit_values(
    subject: str,
    role: str,
    action: str,
    object_type: str,
    object_id: str,
    address: str,
    *,
    outcome: str = "done",
    reason: str | None = None,
) -> dict[str, Any]:
    """The columns of one audit entry, cut to their sizes (a refused caller may send anything)."""
    return {
        "at": utcnow(),
        "subject": subject[:200],
        "role": role[:40],
        "action": action[:40],
        "object_type": object_type[:40],
        "object_id": object_id[:64],
        "address": address[:64],
        "outcome": outcome,
        "reason": reason[:60] if reason else None,
    }


class AuditLog:
    """Reads a service's audit table (writes go through the unit of work)."""

    FILTERS = ("subject", "action", "object_type", "object_id", "outcome")

    def __init__(self, session: Session, model: type[Any]) -> None:
        self.session = session
        self.model = model

    def page(self, *, filters: dict[str, str | None], limit: int, offset: int) -> AuditPage:
        m = self.model
        query = select(m)
        for name in self.FILTERS:
            if filters.get(name):
                query = query.where(getattr(m, name) == filters[name])
        rows = self.session.scalars(query.order_by(m.id.desc()).limit(limit).offset(offset))
        return AuditPage(
            items=[AuditEntryView.model_validate(r, from_attributes=True) for r in rows],
            limit=limit,
            offset=offset,
        )


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


def add_outcome_columns(table: str = "audit_log") -> None:
    """Migration step: the outcome and reason of each entry (added in place: recreating the
    table would drop its append-only triggers)."""
    import sqlalchemy as sa

    op.add_column(table, sa.Column("outcome", sa.String(20), nullable=False, server_default="done"))
    op.add_column(table, sa.Column("reason", sa.String(60), nullable=True))
