"""CPias tables. Only the CPias service reads or writes them. Nothing is ever deleted."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from iaspipe.audit import AuditMixin
from iaspipe.db import UtcDateTime
from iaspipe.outbox import OutboxMixin

TS = UtcDateTime()
BigId = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    pass


class CaseRow(Base):
    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    declaration_id: Mapped[str] = mapped_column(String(36), unique=True)
    reference: Mapped[str] = mapped_column(String(32), index=True)
    cpias: Mapped[str] = mapped_column(String(40), index=True)
    region_code: Mapped[str] = mapped_column(String(2), index=True)
    priority: Mapped[str] = mapped_column(String(10), index=True)
    priority_rank: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), index=True)
    assignee: Mapped[str | None] = mapped_column(String(200), index=True)
    opened_at: Mapped[dt.datetime] = mapped_column(TS, index=True)
    ack_due_at: Mapped[dt.datetime] = mapped_column(TS, index=True)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(TS)
    closed_at: Mapped[dt.datetime | None] = mapped_column(TS)
    outcome: Mapped[str | None] = mapped_column(String(40))
    complement_received: Mapped[bool] = mapped_column(Boolean, default=False)
    complement_received_at_close: Mapped[bool | None] = mapped_column(Boolean)
    declaration: Mapped[dict[str, Any]] = mapped_column(JSON)
    complements: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    routing: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    received_at: Mapped[dt.datetime] = mapped_column(TS)


class ProcessedEvent(Base):
    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    processed_at: Mapped[dt.datetime] = mapped_column(TS)


class HistoryRow(Base):
    __tablename__ = "case_history"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(TS)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)


class NoteRow(Base):
    __tablename__ = "case_notes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    text: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(200))
    at: Mapped[dt.datetime] = mapped_column(TS)


class LinkRow(Base):
    __tablename__ = "case_links"
    __table_args__ = (UniqueConstraint("case_id", "other_case_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    other_case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    at: Mapped[dt.datetime] = mapped_column(TS)


class DeadlineNotice(Base):
    """A reminder or overdue warning requested for a case: at most one of each kind."""

    __tablename__ = "deadline_notices"

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    requested_at: Mapped[dt.datetime] = mapped_column(TS)


class Outbox(OutboxMixin, Base):
    __tablename__ = "outbox"


class AuditEntry(AuditMixin, Base):
    __tablename__ = "audit_log"
