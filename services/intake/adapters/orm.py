"""Intake's tables. Only intake reads or writes them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from iaspipe.audit import AuditMixin
from iaspipe.db import UtcDateTime
from iaspipe.outbox import OutboxMixin

TS = UtcDateTime()


class Base(DeclarativeBase):
    pass


class DeclarationRow(Base):
    __tablename__ = "declarations"
    __table_args__ = (
        UniqueConstraint("region_code", "year", "sequence"),
        # The regional figures (domain/figures.py): a region's declarations by day received,
        # with what they are grouped by; and its line list, newest first.
        Index(
            "ix_declarations_region_day",
            "region_code",
            "received_on",
            postgresql_include=["week", "departement", "priority", "status"],
        ),
        Index("ix_declarations_region_received", "region_code", "received_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    region_code: Mapped[str] = mapped_column(String(2))
    year: Mapped[int] = mapped_column(Integer)
    sequence: Mapped[int] = mapped_column(Integer)
    departement: Mapped[str] = mapped_column(String(3))
    finess: Mapped[str | None] = mapped_column(String(9), index=True)
    status: Mapped[str] = mapped_column(String(32))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[dt.datetime] = mapped_column(TS, index=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    submitted_by: Mapped[str | None] = mapped_column(String(200))
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    last_published_at: Mapped[dt.datetime] = mapped_column(TS)
    publish_count: Mapped[int] = mapped_column(Integer, default=1)
    cpias_confirmed_at: Mapped[dt.datetime | None] = mapped_column(TS, index=True)
    status_changed_at: Mapped[dt.datetime | None] = mapped_column(TS)
    routing_decision: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The day received in the département, its ISO week (Monday), and the priority of the
    # initial routing decision (null until it comes back).
    received_on: Mapped[dt.date] = mapped_column(Date)
    week: Mapped[dt.date] = mapped_column(Date)
    priority: Mapped[str | None] = mapped_column(String(10))


class FacetRow(Base):
    """What a declaration is counted under (domain/figures.py): its criteria, micro-organisms,
    resistances and mechanism families, with its region, département, day and week, so that
    the regional figures are one grouped query on one index."""

    __tablename__ = "declaration_facets"
    __table_args__ = (
        UniqueConstraint("declaration_id", "kind", "value"),
        Index(
            "ix_declaration_facets_region",
            "region_code",
            "kind",
            "received_on",
            "value",
            postgresql_include=["week", "declaration_id"],
        ),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    declaration_id: Mapped[str] = mapped_column(ForeignKey("declarations.id"))
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(120))
    region_code: Mapped[str] = mapped_column(String(2))
    departement: Mapped[str] = mapped_column(String(3))
    received_on: Mapped[dt.date] = mapped_column(Date)
    week: Mapped[dt.date] = mapped_column(Date)


class RecipientRow(Base):
    """A recipient of a declaration, from its initial routing decision, and when it confirmed
    holding it: the CPias when it opened the case, another by a RecipientAcknowledged.
    Reconciliation publishes again a declaration an awaited recipient has not confirmed."""

    __tablename__ = "declaration_recipients"
    __table_args__ = (
        # Reconciliation's question: who has not confirmed, for the awaited kinds.
        Index(
            "ix_declaration_recipients_unconfirmed",
            "kind",
            "declaration_id",
            postgresql_where=text("confirmed_at IS NULL"),
            sqlite_where=text("confirmed_at IS NULL"),
        ),
    )

    declaration_id: Mapped[str] = mapped_column(ForeignKey("declarations.id"), primary_key=True)
    recipient_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(TS)


class ComplementRow(Base):
    __tablename__ = "complements"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    declaration_id: Mapped[str] = mapped_column(ForeignKey("declarations.id"), index=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[dt.datetime] = mapped_column(TS)
    # Received before its declaration's initial routing decision came back: published once it
    # has (service.follow_events), to that decision's recipients.
    held: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # When the CPias said it attached the complement (CaseStatusChanged complement_received),
    # and when intake last published it: reconciliation publishes again a complement left
    # unconfirmed too long (service.republish_unconfirmed).
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(TS, nullable=True)
    last_published_at: Mapped[dt.datetime | None] = mapped_column(TS, nullable=True)


class ReferenceCounter(Base):
    """Last sequence given per region and year (adapters/repositories.py)."""

    __tablename__ = "reference_counters"

    region_code: Mapped[str] = mapped_column(String(2), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, default=0)


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"

    # The sender's establishment ("finess:690781810"), or its subject when it has none.
    scope: Mapped[str] = mapped_column(String(220), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(TS, index=True)


class TimelineRow(Base):
    __tablename__ = "timeline"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    declaration_id: Mapped[str] = mapped_column(ForeignKey("declarations.id"), index=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    at: Mapped[dt.datetime] = mapped_column(TS)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Outbox(OutboxMixin, Base):
    __tablename__ = "outbox"


class AuditEntry(AuditMixin, Base):
    __tablename__ = "audit_log"
