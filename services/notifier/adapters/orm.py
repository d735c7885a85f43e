"""The notifier's tables. Only the notifier reads or writes them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from iaspipe.audit import AuditMixin
from iaspipe.db import UtcDateTime

TS = UtcDateTime()


class Base(DeclarativeBase):
    pass


class RequestRow(Base):
    """A notification request as received (one per event id), with the scope of its
    declaration; `digest_id` once a digest lists it."""

    __tablename__ = "notification_requests"

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    declaration_id: Mapped[str] = mapped_column(String(36), index=True)
    cpias: Mapped[str] = mapped_column(String(40))
    region_code: Mapped[str] = mapped_column(String(2))
    finess: Mapped[str | None] = mapped_column(String(9))
    submitted_by: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[dt.datetime] = mapped_column(TS)
    awaits_digest: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    digest_id: Mapped[str | None] = mapped_column(String(36), index=True)


class MessageRow(Base):
    """One e-mail and its sending: the record checked before sending, written after."""

    __tablename__ = "messages"

    message_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    audience: Mapped[str] = mapped_column(String(20))
    to_address: Mapped[str | None] = mapped_column(String(254))
    declaration_id: Mapped[str | None] = mapped_column(String(36), index=True)
    request_event_id: Mapped[str | None] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(20), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(TS)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(TS, index=True)
    claimed_until: Mapped[dt.datetime | None] = mapped_column(TS)
    sent_at: Mapped[dt.datetime | None] = mapped_column(TS)
    last_error: Mapped[str | None] = mapped_column(String(200))


class CpiasAddressRow(Base):
    __tablename__ = "cpias_addresses"

    cpias: Mapped[str] = mapped_column(String(40), primary_key=True)
    address: Mapped[str] = mapped_column(String(254))
    non_urgent: Mapped[str] = mapped_column(String(20))
    updated_at: Mapped[dt.datetime] = mapped_column(TS)
    updated_by: Mapped[str] = mapped_column(String(200))


class ArsAddressRow(Base):
    __tablename__ = "ars_addresses"

    region_code: Mapped[str] = mapped_column(String(2), primary_key=True)
    address: Mapped[str] = mapped_column(String(254))
    updated_at: Mapped[dt.datetime] = mapped_column(TS)
    updated_by: Mapped[str] = mapped_column(String(200))


class AuditEntry(AuditMixin, Base):
    __tablename__ = "audit_log"
