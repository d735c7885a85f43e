"""Intake's repositories: every query of the service lives here. They never commit; the
unit of work (adapters/uow.py) does."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from iaspipe.db import insert_ignoring_conflict, is_postgresql
from schemas.answers import ComplementView, DeclarationPage, DeclarationSummary, TimelineEntry
from services.intake.adapters import numbering
from services.intake.adapters.orm import (
    ComplementRow,
    DeclarationRow,
    IdempotencyKey,
    Outbox,
    ReferenceCounter,
    TimelineRow,
)
from services.intake.domain.policy import ReadScope
from services.intake.domain.records import DeclarationRecord, StoredAnswer, TimelineItem

RECORD_FIELDS = tuple(DeclarationRecord.__dataclass_fields__)


def _record(row: DeclarationRow) -> DeclarationRecord:
    return DeclarationRecord(**{name: getattr(row, name) for name in RECORD_FIELDS})


class DeclarationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, record: DeclarationRecord) -> None:
        # A plain INSERT: no identity map, no RETURNING of generated keys.
        values: dict[str, Any] = {name: getattr(record, name) for name in RECORD_FIELDS}
        self.session.execute(insert(DeclarationRow).values(**values))

    def get(self, declaration_id: str) -> DeclarationRecord | None:
        row = self.session.get(DeclarationRow, declaration_id)
        return None if row is None else _record(row)

    def save_progress(self, record: DeclarationRecord) -> None:
        self.session.execute(
            update(DeclarationRow)
            .where(DeclarationRow.id == record.id)
            .values(
                status=record.status,
                recipients=record.recipients,
                cpias_confirmed_at=record.cpias_confirmed_at,
                routing_decision=record.routing_decision,
            )
            .execution_options(synchronize_session=False)
        )

    def unconfirmed(self, *, published_before: dt.datetime, limit: int) -> list[DeclarationRecord]:
        pending_outbox = exists().where(
            and_(Outbox.event_id == DeclarationRow.event_id, Outbox.published_at.is_(None))
        )
        rows = self.session.scalars(
            select(DeclarationRow)
            .where(
                DeclarationRow.cpias_confirmed_at.is_(None),
                DeclarationRow.last_published_at < published_before,
                ~pending_outbox,
            )
            .order_by(DeclarationRow.received_at)
            .limit(limit)
        )
        return [_record(r) for r in rows]

    def mark_republished(self, declaration_ids: list[str], at: dt.datetime) -> None:
        if not declaration_ids:
            return
        self.session.execute(
            update(DeclarationRow)
            .where(DeclarationRow.id.in_(declaration_ids))
            .values(last_published_at=at, publish_count=DeclarationRow.publish_count + 1)
            .execution_options(synchronize_session=False)
        )


class ReferenceNumberRepository:
    """Next reference number of a region's year (see adapters/numbering.py)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def next(self, region_code: str, year: int) -> int:
        if is_postgresql(self.session):
            return self._next_from_sequence(region_code, year)
        return self._next_from_counter(region_code, year)

    def _next_from_sequence(self, region_code: str, year: int) -> int:
        name = numbering.sequence_name(region_code, year)
        if name not in numbering.KNOWN_SEQUENCES:
            exists_ = self.session.execute(text("SELECT to_regclass(:n)"), {"n": name}).scalar()
            if exists_ is None:
                self._create_sequence(region_code, year)
            else:
                numbering.KNOWN_SEQUENCES.add(name)
        nextval = text("SELECT nextval(CAST(:n AS regclass))")
        return int(self.session.execute(nextval, {"n": name}).scalar_one())

    def _create_sequence(self, region_code: str, year: int) -> None:
        conn = self.session.connection()
        start_after = conn.exec_driver_sql(
            numbering.START_AFTER, {"r": region_code, "y": year}
        ).scalar_one()
        try:
            with self.session.begin_nested():
                conn.exec_driver_sql(numbering.create_sequence_sql(region_code, year, start_after))
        except IntegrityError:  # created at the same moment by another transaction
            pass

    def _next_from_counter(self, region_code: str, year: int) -> int:
        counter = ReferenceCounter
        bump = (
            update(counter)
            .where(counter.region_code == region_code, counter.year == year)
            .values(last_value=counter.last_value + 1)
            .returning(counter.last_value)
        )
        value = self.session.execute(bump).scalar_one_or_none()
        if value is None:
            insert_ignoring_conflict(
                self.session, counter, {"region_code": region_code, "year": year, "last_value": 0}
            )
            value = self.session.execute(bump).scalar_one()
        return int(value)


class TimelineRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, item: TimelineItem) -> None:
        self.session.execute(
            insert(TimelineRow).values(
                declaration_id=item.declaration_id,
                event_id=item.event_id,
                kind=item.kind,
                at=item.at,
                detail=item.detail,
            )
        )

    def of(self, declaration_id: str) -> list[TimelineEntry]:
        rows = self.session.scalars(
            select(TimelineRow)
            .where(TimelineRow.declaration_id == declaration_id)
            .order_by(TimelineRow.at, TimelineRow.id)
        )
        return [TimelineEntry(kind=t.kind, at=t.at, **t.detail) for t in rows]


class ComplementRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(
        self, complement_id: str, declaration_id: str, body: dict[str, object], at: dt.datetime
    ) -> None:
        self.session.execute(
            insert(ComplementRow).values(
                id=complement_id, declaration_id=declaration_id, body=body, received_at=at
            )
        )

    def of(self, declaration_id: str) -> list[ComplementView]:
        rows = self.session.scalars(
            select(ComplementRow)
            .where(ComplementRow.declaration_id == declaration_id)
            .order_by(ComplementRow.received_at)
        )
        return [
            ComplementView.model_validate({"id": c.id, "received_at": c.received_at, **c.body})
            for c in rows
        ]


class IdempotencyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, scope: str, key: str) -> StoredAnswer | None:
        row = self.session.get(IdempotencyKey, (scope, key))
        if row is None:
            return None
        return StoredAnswer(row.request_hash, row.status_code, row.response)

    def add(self, scope: str, key: str, answer: StoredAnswer, at: dt.datetime) -> None:
        self.session.execute(
            insert(IdempotencyKey).values(
                scope=scope,
                key=key,
                request_hash=answer.request_hash,
                status_code=answer.status_code,
                response=answer.response,
                created_at=at,
            )
        )

    def purge(self, before: dt.datetime) -> int:
        result = self.session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.created_at < before)
        )
        return int(getattr(result, "rowcount", 0) or 0)


class DeclarationListRepository:
    """Lists of declarations, filtered by the caller's scope (domain/policy.py, read_scope)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def page(self, scope: ReadScope, *, limit: int, offset: int) -> DeclarationPage:
        row = DeclarationRow
        where = []
        if scope.finess is not None:
            where.append(row.finess == scope.finess)
        if scope.region_code is not None:
            where.append(row.region_code == scope.region_code)
        if scope.departements is not None:
            where.append(row.departement.in_(scope.departements))
        total = self.session.scalar(select(func.count()).select_from(row).where(*where))
        rows = self.session.scalars(
            select(row)
            .where(*where)
            .order_by(row.received_at.desc(), row.reference.desc())
            .limit(limit)
            .offset(offset)
        )
        return DeclarationPage(
            items=[_summary(r) for r in rows], total=int(total or 0), limit=limit, offset=offset
        )


def _summary(row: DeclarationRow) -> DeclarationSummary:
    establishment = row.body.get("establishment", {})
    return DeclarationSummary(
        id=row.id,
        reference=row.reference,
        status=row.status,
        received_at=row.received_at,
        region_code=row.region_code,
        departement=row.departement,
        finess=row.finess,
        establishment_name=establishment.get("name", ""),
        establishment_kind=establishment.get("kind", ""),
        criteria=list(row.body.get("criteria", [])),
    )
