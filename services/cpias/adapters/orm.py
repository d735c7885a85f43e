"""CPias tables. Only the CPias service reads or writes them. Nothing is ever deleted."""

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
    __table_args__ = (
        # The regional figures (services/cpias/figures.py): a region's open cases by CPias,
        # and the time from submission to acknowledgement of those acknowledged lately.
        Index("ix_cases_region_status", "region_code", "status", "cpias"),
        Index(
            "ix_cases_region_acknowledged",
            "region_code",
            "acknowledged_at",
            postgresql_include=["received_at"],
        ),
    )

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
    # A link an investigator makes is confirmed; the cluster rule only suggests
    # (docs/clusters.md). A dismissed suggestion stays, so the pair is never suggested again.
    status: Mapped[str] = mapped_column(String(20), default="confirmed", server_default="confirmed")
    basis: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[dt.datetime | None] = mapped_column(TS)


class EpisodeRow(Base):
    """One episode key of a case (services/cpias/domain/clusters.py), written when the case
    opens. The two indexes serve the two questions asked when a case opens, so neither scans
    the table: the cases of the same region, family and organism within the window; the
    cases of the same département and family within the threshold's window."""

    __tablename__ = "case_episodes"
    __table_args__ = (
        UniqueConstraint("case_id", "organism", "mechanism_family"),
        Index(
            "ix_case_episodes_match",
            "region_code",
            "mechanism_family",
            "organism",
            "episode_date",
            postgresql_include=["case_id", "reference", "departement", "finess"],
        ),
        Index(
            "ix_case_episodes_threshold",
            "departement",
            "mechanism_family",
            "episode_date",
            postgresql_include=["case_id"],
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    reference: Mapped[str] = mapped_column(String(32))
    organism: Mapped[str] = mapped_column(String(120))
    mechanism_family: Mapped[str] = mapped_column(String(20))
    region_code: Mapped[str] = mapped_column(String(2))
    departement: Mapped[str] = mapped_column(String(3))
    finess: Mapped[str | None] = mapped_column(String(9))
    episode_date: Mapped[dt.date] = mapped_column(Date)


class ClusterRow(Base):
    """A confirmed cluster: its name, what its cases share, and their first and last
    episode dates."""

    __tablename__ = "clusters"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    organism: Mapped[str | None] = mapped_column(String(120))
    mechanism_family: Mapped[str | None] = mapped_column(String(20))
    first_date: Mapped[dt.date] = mapped_column(Date)
    last_date: Mapped[dt.date] = mapped_column(Date)
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    spf_flagged_at: Mapped[dt.datetime | None] = mapped_column(TS)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(TS)
    updated_at: Mapped[dt.datetime] = mapped_column(TS)


class ClusterMemberRow(Base):
    """A case of a confirmed cluster (a case belongs to one cluster at most), with where and
    when its episode was, so that scopes and dates never need the declaration."""

    __tablename__ = "cluster_members"
    __table_args__ = (
        Index("ix_cluster_members_region", "region_code", "cluster_id"),
        Index("ix_cluster_members_cpias", "cpias", "cluster_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    cluster_id: Mapped[str] = mapped_column(ForeignKey("clusters.id"), index=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), unique=True)
    cpias: Mapped[str] = mapped_column(String(40))
    region_code: Mapped[str] = mapped_column(String(2))
    departement: Mapped[str] = mapped_column(String(3))
    episode_date: Mapped[dt.date] = mapped_column(Date)
    added_by: Mapped[str] = mapped_column(String(200))
    added_at: Mapped[dt.datetime] = mapped_column(TS)


class ThresholdAlertRow(Base):
    """N episodes of one mechanism family in one département within D days: raised once per
    crossing, extended by later cases; current until `expires_on` (last date + D)."""

    __tablename__ = "threshold_alerts"
    __table_args__ = (
        Index("ix_threshold_alerts_key", "departement", "mechanism_family", "last_date"),
        Index("ix_threshold_alerts_region", "region_code", "expires_on"),
        Index("ix_threshold_alerts_cpias", "cpias", "expires_on"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    mechanism_family: Mapped[str] = mapped_column(String(20))
    departement: Mapped[str] = mapped_column(String(3))
    region_code: Mapped[str] = mapped_column(String(2))
    cpias: Mapped[str] = mapped_column(String(40))
    episodes: Mapped[int] = mapped_column(Integer)
    first_date: Mapped[dt.date] = mapped_column(Date)
    last_date: Mapped[dt.date] = mapped_column(Date)
    expires_on: Mapped[dt.date] = mapped_column(Date)
    threshold: Mapped[int] = mapped_column(Integer)
    window_days: Mapped[int] = mapped_column(Integer)
    raised_at: Mapped[dt.datetime] = mapped_column(TS)
    updated_at: Mapped[dt.datetime] = mapped_column(TS)


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
