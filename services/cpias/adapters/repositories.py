"""The CPias repositories: every query of the service lives here. They never commit; the
unit of work (adapters/uow.py) does."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy import case as when
from sqlalchemy.orm import Session

from schemas.answers import HistoryEntry, LinkView, NoteView
from services.cpias.adapters.orm import (
    CaseRow,
    DeadlineNotice,
    HistoryRow,
    LinkRow,
    NoteRow,
    ProcessedEvent,
)
from services.cpias.domain.cases import Case
from services.cpias.domain.workflow import Status

CASE_FIELDS = tuple(Case.__dataclass_fields__)


def _case(row: CaseRow) -> Case:
    return Case(**{name: getattr(row, name) for name in CASE_FIELDS})


def _columns(case: Case) -> dict[str, Any]:
    return {
        **{name: getattr(case, name) for name in CASE_FIELDS},
        "priority_rank": case.priority_rank,
    }


class CaseRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, case: Case) -> None:
        self.session.execute(insert(CaseRow).values(**_columns(case)))

    def save(self, case: Case) -> None:
        self.session.execute(
            update(CaseRow)
            .where(CaseRow.id == case.id)
            .values(**_columns(case))
            .execution_options(synchronize_session=False)
        )

    def get(self, case_id: str) -> Case | None:
        row = self.session.get(CaseRow, case_id, populate_existing=True)
        return None if row is None else _case(row)

    def find(
        self,
        *,
        case_id: str | None = None,
        declaration_id: str | None = None,
        reference: str | None = None,
    ) -> Case | None:
        if case_id:
            return self.get(case_id)
        if declaration_id:
            query = select(CaseRow).where(CaseRow.declaration_id == declaration_id)
        elif reference:
            query = select(CaseRow).where(CaseRow.reference == reference)
        else:
            return None
        row = self.session.scalars(query.execution_options(populate_existing=True)).first()
        return None if row is None else _case(row)

    def page(
        self,
        *,
        filters: dict[str, Any],
        scope: dict[str, Any],
        overdue: bool | None,
        now: dt.datetime,
        limit: int,
        offset: int,
    ) -> tuple[list[Case], int]:
        query = select(CaseRow)
        for column, value in [*filters.items(), *scope.items()]:
            query = query.where(getattr(CaseRow, column) == value)
        if overdue is True:
            query = query.where(CaseRow.status == Status.new.value, CaseRow.ack_due_at < now)
        elif overdue is False:
            query = query.where(or_(CaseRow.status != Status.new.value, CaseRow.ack_due_at >= now))
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.session.scalars(
            query.order_by(CaseRow.priority_rank, CaseRow.opened_at, CaseRow.id)
            .limit(limit)
            .offset(offset)
        )
        return [_case(r) for r in rows], total

    def open_counts(self, now: dt.datetime) -> list[tuple[str, str, str, str, int, int]]:
        overdue = when((CaseRow.ack_due_at < now, 1), else_=0)
        rows = self.session.execute(
            select(
                CaseRow.cpias,
                CaseRow.region_code,
                CaseRow.priority,
                CaseRow.status,
                func.count(),
                func.sum(overdue),
            )
            .where(CaseRow.status != Status.closed.value)
            .group_by(CaseRow.cpias, CaseRow.region_code, CaseRow.priority, CaseRow.status)
        ).all()
        return [(r[0], r[1], r[2], r[3], int(r[4]), int(r[5] or 0)) for r in rows]


class ProcessedEventRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def seen(self, event_id: str) -> bool:
        return self.session.get(ProcessedEvent, event_id) is not None

    def add(self, event_id: str, at: dt.datetime) -> None:
        self.session.execute(insert(ProcessedEvent).values(event_id=event_id, processed_at=at))


class HistoryRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(
        self,
        case_id: str,
        at: dt.datetime,
        actor: str,
        action: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        reason: str | None = None,
    ) -> None:
        self.session.execute(
            insert(HistoryRow).values(
                case_id=case_id,
                at=at,
                actor=actor,
                action=action,
                before=before,
                after=after,
                reason=reason,
            )
        )

    def of(self, case_id: str) -> list[HistoryEntry]:
        rows = self.session.scalars(
            select(HistoryRow)
            .where(HistoryRow.case_id == case_id)
            .order_by(HistoryRow.at, HistoryRow.id)
        )
        return [HistoryEntry.model_validate(h, from_attributes=True) for h in rows]


class NoteRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, case_id: str, kind: str, text: str, author: str, at: dt.datetime) -> NoteView:
        note_id = self.session.execute(
            insert(NoteRow)
            .values(case_id=case_id, kind=kind, text=text, author=author, at=at)
            .returning(NoteRow.id)
        ).scalar_one()
        return NoteView(id=note_id, kind=kind, text=text, author=author, at=at)

    def of(self, case_id: str) -> list[NoteView]:
        rows = self.session.scalars(
            select(NoteRow).where(NoteRow.case_id == case_id).order_by(NoteRow.at, NoteRow.id)
        )
        return [NoteView.model_validate(n, from_attributes=True) for n in rows]


class LinkRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def exists(self, case_a: str, case_b: str) -> bool:
        query = select(LinkRow.id).where(LinkRow.case_id == case_a, LinkRow.other_case_id == case_b)
        return self.session.scalars(query).first() is not None

    def add(
        self, case_a: str, case_b: str, kind: str, reason: str | None, by: str, at: dt.datetime
    ) -> None:
        self.session.execute(
            insert(LinkRow).values(
                case_id=case_a, other_case_id=case_b, kind=kind, reason=reason, created_by=by, at=at
            )
        )

    def of(self, case_id: str) -> list[LinkView]:
        other_id = when((LinkRow.case_id == case_id, LinkRow.other_case_id), else_=LinkRow.case_id)
        rows = self.session.execute(
            select(LinkRow, CaseRow.id, CaseRow.reference)
            .join(CaseRow, CaseRow.id == other_id)
            .where(or_(LinkRow.case_id == case_id, LinkRow.other_case_id == case_id))
            .order_by(LinkRow.at)
        ).all()
        return [
            LinkView(
                case_id=other,
                reference=reference,
                kind=link.kind,
                reason=link.reason,
                created_by=link.created_by,
                at=link.at,
            )
            for link, other, reference in rows
        ]


class DeadlineNoticeRepository:
    """Which cases cross a deadline threshold, and the notices already requested."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _without(self, kind: str) -> Any:
        notice = select(DeadlineNotice.case_id).where(
            DeadlineNotice.case_id == CaseRow.id, DeadlineNotice.kind == kind
        )
        return ~notice.exists()

    def due(
        self, *, now: dt.datetime, remind_before: dict[str, float], limit: int
    ) -> list[tuple[Case, str]]:
        new = CaseRow.status == Status.new.value
        near = [
            and_(CaseRow.priority == p, CaseRow.ack_due_at <= now + dt.timedelta(hours=h))
            for p, h in remind_before.items()
        ]
        found: list[tuple[Case, str]] = []
        if near:
            reminders = self.session.scalars(
                select(CaseRow)
                .where(new, CaseRow.ack_due_at > now, or_(*near), self._without("ack_reminder"))
                .order_by(CaseRow.ack_due_at)
                .limit(limit)
            )
            found += [(_case(r), "ack_reminder") for r in reminders]
        overdue = self.session.scalars(
            select(CaseRow)
            .where(new, CaseRow.ack_due_at < now, self._without("ack_overdue"))
            .order_by(CaseRow.ack_due_at)
            .limit(limit)
        )
        return found + [(_case(r), "ack_overdue") for r in overdue]

    def add(self, case_id: str, kind: str, at: dt.datetime) -> None:
        self.session.execute(
            insert(DeadlineNotice).values(case_id=case_id, kind=kind, requested_at=at)
        )
