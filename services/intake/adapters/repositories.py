"""Intake's repositories: every query of the service lives here. They never commit; the
unit of work (adapters/uow.py) does."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, func, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from iaspipe.db import from_row, insert_ignoring_conflict, is_postgresql, present, values_of
from schemas.answers import (
    ComplementView,
    DeclarationPage,
    DeclarationSummary,
    LineListRow,
    TimelineEntry,
)
from services.intake.adapters import numbering
from services.intake.adapters.orm import (
    ComplementRow,
    DeclarationRow,
    FacetRow,
    IdempotencyKey,
    Outbox,
    RecipientRow,
    ReferenceCounter,
    TimelineRow,
)
from services.intake.domain.figures import (
    CRITERION,
    MECHANISM,
    PATHOGEN,
    RESISTANCE,
    LineFilters,
    Period,
    Window,
    facets_of_body,
)
from services.intake.domain.policy import ReadScope
from services.intake.domain.records import (
    DeclarationRecord,
    HeldComplement,
    RecipientState,
    StoredAnswer,
    TimelineItem,
)
from services.intake.domain.submission import NewDeclaration


class DeclarationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, record: DeclarationRecord) -> None:
        # A plain INSERT: no identity map, no RETURNING of generated keys.
        self.session.execute(insert(DeclarationRow).values(**values_of(record)))

    def add_facets(self, new: NewDeclaration) -> None:
        self.session.execute(
            insert(FacetRow),
            [
                {
                    "declaration_id": new.id,
                    "kind": kind,
                    "value": value,
                    "region_code": new.region_code,
                    "departement": new.departement,
                    "received_on": new.received_on,
                    "week": new.week,
                }
                for kind, value in new.facets
            ],
        )

    def get(self, declaration_id: str, *, for_update: bool = False) -> DeclarationRecord | None:
        row = self.session.get(DeclarationRow, declaration_id, with_for_update=for_update or None)
        return None if row is None else from_row(DeclarationRecord, row)

    def get_many(
        self, declaration_ids: Collection[str], *, for_update: bool = False
    ) -> dict[str, DeclarationRecord]:
        if not declaration_ids:
            return {}
        query = select(DeclarationRow).where(DeclarationRow.id.in_(sorted(declaration_ids)))
        if for_update:  # in one order, so that two lockers never wait for each other
            query = query.order_by(DeclarationRow.id).with_for_update()
        rows = self.session.scalars(query)
        return {row.id: from_row(DeclarationRecord, row) for row in rows}

    def save_progress(self, *records: DeclarationRecord) -> None:
        if records:  # an UPDATE by primary key, executed once for every record
            self.session.execute(
                update(DeclarationRow),
                [
                    {
                        "id": r.id,
                        "status": r.status,
                        "recipients": r.recipients,
                        "cpias_confirmed_at": r.cpias_confirmed_at,
                        "status_changed_at": r.status_changed_at,
                        "routing_decision": r.routing_decision,
                        "priority": r.priority,
                    }
                    for r in records
                ],
            )

    def note_recipients(self, states: Collection[RecipientState]) -> None:
        if not states:
            return
        insert_ignoring_conflict(
            self.session,
            RecipientRow,
            [
                {
                    "declaration_id": s.declaration_id,
                    "recipient_id": s.recipient_id,
                    "kind": s.kind,
                    "confirmed_at": s.confirmed_at,
                }
                for s in states
            ],
        )
        confirmed = [s for s in states if s.confirmed_at is not None]
        if confirmed:  # rows already there: their first confirmation only
            self.session.execute(
                update(RecipientRow)
                .where(RecipientRow.confirmed_at.is_(None))
                .execution_options(synchronize_session=None),
                [
                    {
                        "declaration_id": s.declaration_id,
                        "recipient_id": s.recipient_id,
                        "confirmed_at": s.confirmed_at,
                    }
                    for s in confirmed
                ],
            )

    def unconfirmed(
        self, *, published_before: dt.datetime, limit: int, awaited_kinds: Collection[str] = ()
    ) -> list[DeclarationRecord]:
        pending_outbox = exists().where(
            and_(Outbox.event_id == DeclarationRow.event_id, Outbox.published_at.is_(None))
        )
        unconfirmed: ColumnElement[bool] = DeclarationRow.cpias_confirmed_at.is_(None)
        if awaited_kinds:
            unconfirmed = or_(
                unconfirmed,
                DeclarationRow.id.in_(
                    select(RecipientRow.declaration_id).where(
                        RecipientRow.kind.in_(sorted(awaited_kinds)),
                        RecipientRow.confirmed_at.is_(None),
                    )
                ),
            )
        rows = self.session.scalars(
            select(DeclarationRow)
            .where(
                unconfirmed,
                DeclarationRow.last_published_at < published_before,
                ~pending_outbox,
            )
            .order_by(DeclarationRow.received_at)
            .limit(limit)
        )
        return [from_row(DeclarationRecord, r) for r in rows]

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

    def add(self, *items: TimelineItem) -> None:
        if items:
            self.session.execute(insert(TimelineRow), [dataclasses.asdict(i) for i in items])

    def known(self, event_ids: Collection[str]) -> set[str]:
        return present(self.session, TimelineRow.event_id, event_ids)

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
        self,
        complement_id: str,
        declaration_id: str,
        body: dict[str, object],
        at: dt.datetime,
        *,
        held: bool = False,
    ) -> None:
        self.session.execute(
            insert(ComplementRow).values(
                id=complement_id,
                declaration_id=declaration_id,
                body=body,
                received_at=at,
                held=held,
                last_published_at=None if held else at,
            )
        )

    def held_of_decided(self, limit: int) -> list[str]:
        rows = self.session.scalars(
            select(ComplementRow.declaration_id)
            .join(DeclarationRow, DeclarationRow.id == ComplementRow.declaration_id)
            .where(ComplementRow.held, DeclarationRow.priority.is_not(None))
            .distinct()
            .limit(limit)
        )
        return list(rows)

    def release_held(
        self, declaration_ids: Collection[str], at: dt.datetime
    ) -> list[HeldComplement]:
        """The held complements of these declarations, oldest first, no longer held."""
        if not declaration_ids:
            return []
        released = self.session.execute(
            update(ComplementRow)
            .where(ComplementRow.declaration_id.in_(sorted(declaration_ids)), ComplementRow.held)
            .values(held=False, last_published_at=at)
            .returning(
                ComplementRow.id,
                ComplementRow.declaration_id,
                ComplementRow.body,
                ComplementRow.received_at,
            )
            .execution_options(synchronize_session=False)
        )
        return sorted(
            (HeldComplement(*row) for row in released), key=lambda c: (c.received_at, c.id)
        )

    def confirm(
        self, at: dt.datetime, *, ids: Collection[str] = (), declarations: Collection[str] = ()
    ) -> None:
        """The CPias attached these complements (by id), or every complement of these
        declarations (a confirmation that names none: sent before complements were named)."""
        for column, keys in ((ComplementRow.id, ids), (ComplementRow.declaration_id, declarations)):
            if keys:
                self.session.execute(
                    update(ComplementRow)
                    .where(column.in_(sorted(keys)), ComplementRow.confirmed_at.is_(None))
                    .values(confirmed_at=at)
                    .execution_options(synchronize_session=False)
                )

    def unconfirmed(self, *, published_before: dt.datetime, limit: int) -> list[HeldComplement]:
        """Complements published before `published_before` (and since), that the CPias has not
        confirmed: neither held nor still waiting in the outbox. Oldest first."""
        pending_outbox = exists().where(
            and_(Outbox.event_id == ComplementRow.id, Outbox.published_at.is_(None))
        )
        rows = self.session.execute(
            select(
                ComplementRow.id,
                ComplementRow.declaration_id,
                ComplementRow.body,
                ComplementRow.received_at,
            )
            .where(
                ComplementRow.confirmed_at.is_(None),
                ~ComplementRow.held,
                ComplementRow.last_published_at < published_before,
                ~pending_outbox,
            )
            .order_by(ComplementRow.received_at)
            .limit(limit)
        )
        return [HeldComplement(*row) for row in rows]

    def mark_republished(self, complement_ids: Collection[str], at: dt.datetime) -> None:
        if complement_ids:
            self.session.execute(
                update(ComplementRow)
                .where(ComplementRow.id.in_(sorted(complement_ids)))
                .values(last_published_at=at)
                .execution_options(synchronize_session=False)
            )

    def get(self, complement_id: str) -> tuple[dict[str, object], dt.datetime] | None:
        """(body, received at) of a complement, if stored."""
        row = self.session.get(ComplementRow, complement_id)
        return None if row is None else (row.body, row.received_at)

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
        if scope.sent_by is not None:  # a declarant: as policy._is_own
            own = and_(row.finess.is_(None), row.submitted_by == scope.sent_by)
            where.append(own if scope.finess is None else or_(row.finess == scope.finess, own))
        elif scope.finess is not None:
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


class FiguresRepository:
    """The regional figures (domain/figures.py), grouped in SQL: declarations on their index
    (region, day received), facets on theirs (region, kind, day, value); the line list on
    (region, received_at), newest first. Nothing loads more rows than a page."""

    def __init__(self, session: Session) -> None:
        self.session = session

    @staticmethod
    def _scoped(model: type[DeclarationRow] | type[FacetRow], scope: ReadScope) -> list[Any]:
        # Declarants read no figures (domain/policy.py, figures_scope): never a FINESS here.
        assert scope.finess is None
        where = []
        if scope.region_code is not None:
            where.append(model.region_code == scope.region_code)
        if scope.departements is not None:
            where.append(model.departement.in_(scope.departements))
        return where

    def weekly(
        self, scope: ReadScope, first_week: dt.date
    ) -> tuple[dict[dt.date, int], dict[tuple[dt.date, str], int]]:
        """Declarations per week, and per week and criterion, from `first_week` on."""
        d, f = DeclarationRow, FacetRow
        totals = self.session.execute(
            select(d.week, func.count())
            .where(*self._scoped(d, scope), d.received_on >= first_week)
            .group_by(d.week)
        ).all()
        criteria = self.session.execute(
            select(f.week, f.value, func.count())
            .where(*self._scoped(f, scope), f.kind == CRITERION, f.received_on >= first_week)
            .group_by(f.week, f.value)
        ).all()
        return (
            {r[0]: int(r[1]) for r in totals},
            {(r[0], str(r[1])): int(r[2]) for r in criteria},
        )

    def total(self, scope: ReadScope, period: Period) -> int:
        d = DeclarationRow
        return int(
            self.session.scalar(
                select(func.count())
                .select_from(d)
                .where(*self._scoped(d, scope), d.received_on.between(period.since, period.until))
            )
            or 0
        )

    def by_column(
        self, scope: ReadScope, period: Period, column: str, top: int
    ) -> list[tuple[str | None, int]]:
        """Declarations of the period by département, priority or status."""
        d = DeclarationRow
        key = getattr(d, column)
        n = func.count().label("n")
        rows = self.session.execute(
            select(key, n)
            .where(*self._scoped(d, scope), d.received_on.between(period.since, period.until))
            .group_by(key)
            .order_by(n.desc(), key)
            .limit(top)
        ).all()
        return [(r[0], int(r[1])) for r in rows]

    def by_facet(
        self, scope: ReadScope, period: Period, kind: str, top: int
    ) -> list[tuple[str | None, int]]:
        """Declarations of the period by criterion, micro-organism, resistance or mechanism."""
        f = FacetRow
        n = func.count().label("n")
        rows = self.session.execute(
            select(f.value, n)
            .where(
                *self._scoped(f, scope),
                f.kind == kind,
                f.received_on.between(period.since, period.until),
            )
            .group_by(f.value)
            .order_by(n.desc(), f.value)
            .limit(top)
        ).all()
        return [(r[0], int(r[1])) for r in rows]

    def line_list(
        self, scope: ReadScope, period: Period, filters: LineFilters, window: Window
    ) -> tuple[list[LineListRow], int | None]:
        """A page of the declarations that match, newest first, and how many match."""
        d = DeclarationRow
        where = [*self._scoped(d, scope), d.received_on.between(period.since, period.until)]
        for column in ("departement", "priority", "status"):
            value = getattr(filters, column)
            if value is not None:
                where.append(getattr(d, column) == value)
        for kind, value in (
            (CRITERION, filters.criterion),
            (PATHOGEN, filters.pathogen),
            (MECHANISM, filters.mechanism),
            (RESISTANCE, filters.resistance),
        ):
            if value is not None:
                where.append(
                    exists().where(
                        FacetRow.declaration_id == d.id,
                        FacetRow.kind == kind,
                        FacetRow.value == value,
                    )
                )
        total = (
            int(self.session.scalar(select(func.count()).select_from(d).where(*where)) or 0)
            if window.count
            else None
        )
        if window.after is not None:
            after = window.after
            where.append(
                or_(
                    d.received_at < after.received_at,
                    and_(d.received_at == after.received_at, d.id < after.declaration_id),
                )
            )
        rows = self.session.scalars(
            select(d)
            .where(*where)
            .order_by(d.received_at.desc(), d.id.desc())
            .limit(window.limit)
            .offset(window.offset)
        )
        return [_line(r) for r in rows], total


def _line(row: DeclarationRow) -> LineListRow:
    """What the line list shows of a declaration: codes, names, dates and counts; never its
    free text nor its declarant."""
    infection = row.body.get("infection", {})
    facets = facets_of_body(row.body)
    return LineListRow(
        **_summary(row).model_dump(),
        priority=row.priority,
        onset_date=infection.get("onset_date"),
        detection_date=infection.get("detection_date"),
        last_case_date=infection.get("last_case_date"),
        pathogens=[v for k, v in facets if k == PATHOGEN],
        resistances=[v for k, v in facets if k == RESISTANCE],
        mechanisms=[v for k, v in facets if k == MECHANISM],
        cases_infected=infection.get("cases_infected", 0),
        cases_colonised=infection.get("cases_colonised", 0),
        deaths=infection.get("deaths", 0),
        recipients=row.recipients,
    )
