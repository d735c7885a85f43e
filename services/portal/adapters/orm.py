"""The portal's tables: local accounts, failed sign-ins, sessions, drafts, audit log. Only the
portal reads or writes them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from iaspipe.audit import AuditMixin
from iaspipe.db import UtcDateTime

TS = UtcDateTime()


class Base(DeclarativeBase):
    pass


class AccountRow(Base):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(40))
    finess: Mapped[str | None] = mapped_column(String(9))
    cpias: Mapped[str | None] = mapped_column(String(40))
    region: Mapped[str | None] = mapped_column(String(2))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(TS)
    # Set by an admin: the account cannot sign in until enabled again.
    disabled_at: Mapped[dt.datetime | None] = mapped_column(TS)
    last_sign_in_at: Mapped[dt.datetime | None] = mapped_column(TS)


class PersonRow(Base):
    """Who signed in through the identity provider (production has no local accounts): the
    directory the case page offers assignees from, and names the history with."""

    __tablename__ = "people"

    subject: Mapped[str] = mapped_column(String(200), primary_key=True)
    role: Mapped[str] = mapped_column(String(40))
    finess: Mapped[str | None] = mapped_column(String(9))
    cpias: Mapped[str | None] = mapped_column(String(40), index=True)
    region: Mapped[str | None] = mapped_column(String(2))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    last_sign_in_at: Mapped[dt.datetime] = mapped_column(TS)


class LoginAttemptRow(Base):
    """Failed sign-ins per username typed, known or not."""

    __tablename__ = "login_attempts"

    username: Mapped[str] = mapped_column(String(320), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[dt.datetime | None] = mapped_column(TS)
    locked_until: Mapped[dt.datetime | None] = mapped_column(TS)


class SessionRow(Base):
    """A signed-in browser; the key is the SHA-256 of the cookie's token, not the token."""

    __tablename__ = "sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject: Mapped[str] = mapped_column(String(200), index=True)
    role: Mapped[str] = mapped_column(String(40))
    finess: Mapped[str | None] = mapped_column(String(9))
    cpias: Mapped[str | None] = mapped_column(String(40))
    region: Mapped[str | None] = mapped_column(String(2))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(TS)
    last_seen_at: Mapped[dt.datetime] = mapped_column(TS)
    expires_at: Mapped[dt.datetime] = mapped_column(TS, index=True)


class DraftRow(Base):
    __tablename__ = "drafts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(TS)
    updated_at: Mapped[dt.datetime] = mapped_column(TS, index=True)
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # SQL NULL until sent (not JSON null), so "unsent" is a plain IS NULL.
    sent: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    attempts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class LoginRequestRow(Base):
    """OpenID Connect sign-ins under way, by state; used once, forgotten after minutes."""

    __tablename__ = "login_requests"

    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64))
    code_verifier: Mapped[str] = mapped_column(String(128))
    next_url: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(TS, index=True)


class AuditEntry(AuditMixin, Base):
    __tablename__ = "audit_log"
