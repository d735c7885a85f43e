"""The CPias repositories: every query of the service lives here. They never commit; the
unit of work (adapters/uow.py) does."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy import case as when
from sqlalchemy.orm import Session

from schemas.answers import (
    ClusterMemberView,
    ClusterSummary,
    EpisodeView,
    EstablishmentSummary,
    HistoryEntry,
    LinkView,
    NoteView,
    ThresholdAlertView,
)
from services.cpias.adapters.orm import (
    CaseRow,
    ClusterMemberRow,
    ClusterRow,
    DeadlineNotice,
    EpisodeRow,
    HistoryRow,
    LinkRow,
    NoteRow,
    ProcessedEvent,
    ThresholdAlertRow,
)
from services.cpias.domain.cases import Case
from services.cpias.domain.clusters import Cluster, Episode, EpisodeKey, Member, ThresholdWindow
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
        search: str | None = None,
        assigned: bool | None = None,
        closed: bool | None = None,
    ) -> tuple[list[Case], int]:
        query = select(CaseRow)
        for column, value in [*filters.items(), *scope.items()]:
            query = query.where(getattr(CaseRow, column) == value)
        if overdue is True:
            query = query.where(CaseRow.status == Status.new.value, CaseRow.ack_due_at < now)
        elif overdue is False:
            query = query.where(or_(CaseRow.status != Status.new.value, CaseRow.ack_due_at >= now))
        if closed is not None:
            is_closed = CaseRow.status == Status.closed.value
            query = query.where(is_closed if closed else ~is_closed)
        if assigned is not None:
            query = query.where(
                CaseRow.assignee.is_not(None) if assigned else CaseRow.assignee.is_(None)
            )
        if search:
            name = CaseRow.declaration[("establishment", "name")].as_string()
            query = query.where(
                or_(
                    CaseRow.reference.icontains(search, autoescape=True),
                    name.icontains(search, autoescape=True),
                )
            )
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

    def add_many(self, entries: list[dict[str, Any]]) -> None:
        """Several rows at once (case_id, at, actor, action, before, after, reason)."""
        if entries:
            self.session.execute(insert(HistoryRow), entries)

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

    def add(
        self,
        case_a: str,
        case_b: str,
        kind: str,
        reason: str | None,
        by: str,
        at: dt.datetime,
        *,
        status: str = "confirmed",
        basis: dict[str, Any] | None = None,
    ) -> None:
        self.session.execute(
            insert(LinkRow).values(
                case_id=case_a,
                other_case_id=case_b,
                kind=kind,
                reason=reason,
                created_by=by,
                at=at,
                status=status,
                basis=basis,
            )
        )

    def add_many(self, links: list[dict[str, Any]]) -> None:
        """Several links at once (the columns of `add`, ids of each pair in order)."""
        if links:
            self.session.execute(insert(LinkRow), links)

    def linked_with(self, case_id: str, others: list[str]) -> set[str]:
        """Which of `others` are linked with the case, whatever the link's kind or status."""
        if not others:
            return set()
        rows = self.session.execute(
            select(LinkRow.case_id, LinkRow.other_case_id).where(
                or_(
                    (LinkRow.case_id == case_id) & LinkRow.other_case_id.in_(others),
                    (LinkRow.other_case_id == case_id) & LinkRow.case_id.in_(others),
                )
            )
        ).all()
        return {b if a == case_id else a for a, b in rows}

    def state(self, case_a: str, case_b: str) -> tuple[str, str, dict[str, Any] | None] | None:
        """(kind, status, basis) of the link of a pair (ids in order), or None."""
        row = self.session.execute(
            select(LinkRow.kind, LinkRow.status, LinkRow.basis).where(
                LinkRow.case_id == case_a, LinkRow.other_case_id == case_b
            )
        ).first()
        return None if row is None else (row[0], row[1], row[2])

    def decide(
        self,
        case_a: str,
        case_b: str,
        status: str,
        by: str,
        at: dt.datetime,
        *,
        kind: str | None = None,
    ) -> None:
        values: dict[str, Any] = {"status": status, "decided_by": by, "decided_at": at}
        if kind is not None:
            values["kind"] = kind
        self.session.execute(
            update(LinkRow)
            .where(LinkRow.case_id == case_a, LinkRow.other_case_id == case_b)
            .values(**values)
            .execution_options(synchronize_session=False)
        )

    def of(self, case_id: str, visible: Callable[[str, str], bool]) -> list[LinkView]:
        other_id = when((LinkRow.case_id == case_id, LinkRow.other_case_id), else_=LinkRow.case_id)
        rows = self.session.execute(
            select(
                LinkRow,
                CaseRow.id,
                CaseRow.reference,
                CaseRow.cpias,
                CaseRow.region_code,
                CaseRow.declaration["establishment"],
            )
            .join(CaseRow, CaseRow.id == other_id)
            .where(or_(LinkRow.case_id == case_id, LinkRow.other_case_id == case_id))
            .order_by(LinkRow.at)
        ).all()
        return [
            LinkView(
                case_id=other,
                reference=reference if (shown := visible(cpias, region)) else None,
                visible=shown,
                establishment=EstablishmentSummary.model_validate(establishment) if shown else None,
                kind=link.kind,
                reason=link.reason,
                created_by=link.created_by,
                at=link.at,
                status=link.status,
                basis=_seen_from(link.basis, case_id == link.case_id),
                decided_by=link.decided_by,
                decided_at=link.decided_at,
            )
            for link, other, reference, cpias, region, establishment in rows
        ]


def _seen_from(basis: dict[str, Any] | None, first: bool) -> dict[str, Any] | None:
    """A suggestion's basis names the départements of (first case, second case) of the
    stored pair: seen from the second case, they are swapped."""
    if basis is None or first:
        return basis
    return {**basis, "departements": list(reversed(basis.get("departements", [])))}


class EpisodeRepository:
    """Episode keys: the two queries of the cluster rule, each served by its index."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, case_id: str, reference: str, finess: str | None, keys: list[EpisodeKey]) -> None:
        self.session.execute(
            insert(EpisodeRow),
            [
                {
                    "case_id": case_id,
                    "reference": reference,
                    "finess": finess,
                    "organism": k.organism,
                    "mechanism_family": k.mechanism_family,
                    "region_code": k.region_code,
                    "departement": k.departement,
                    "episode_date": k.episode_date,
                }
                for k in keys
            ],
        )

    def matching(self, key: EpisodeKey, window_days: int, *, excluding: str) -> list[Episode]:
        """Other cases of the key's region, family and organism whose episode dates are at
        most `window_days` from it (index ix_case_episodes_match)."""
        span = dt.timedelta(days=window_days)
        rows = self.session.execute(
            matching_query(key, span).where(EpisodeRow.case_id != excluding)
        ).all()
        return [
            Episode(
                case_id=r.case_id,
                reference=r.reference,
                finess=r.finess,
                key=EpisodeKey(
                    key.organism,
                    key.mechanism_family,
                    key.region_code,
                    r.departement,
                    r.episode_date,
                ),
            )
            for r in rows
        ]

    def in_departement(
        self, key: EpisodeKey, days: int, *, excluding: str
    ) -> list[tuple[str, dt.date]]:
        """(case id, episode date) of the other cases of the key's family and département
        within `days` of it, whatever the organism (index ix_case_episodes_threshold)."""
        query = departement_query(key, dt.timedelta(days=days))
        rows = self.session.execute(query.where(EpisodeRow.case_id != excluding)).all()
        return [(r[0], r[1]) for r in rows]

    def of(self, case_id: str) -> list[EpisodeView]:
        rows = self.session.scalars(
            select(EpisodeRow).where(EpisodeRow.case_id == case_id).order_by(EpisodeRow.id)
        )
        return [EpisodeView.model_validate(r, from_attributes=True) for r in rows]


def matching_query(key: EpisodeKey, span: dt.timedelta) -> Any:
    """The candidates query (also EXPLAINed by the bench and the tests)."""
    return select(
        EpisodeRow.case_id,
        EpisodeRow.reference,
        EpisodeRow.finess,
        EpisodeRow.departement,
        EpisodeRow.episode_date,
    ).where(
        EpisodeRow.region_code == key.region_code,
        EpisodeRow.mechanism_family == key.mechanism_family,
        EpisodeRow.organism == key.organism,
        EpisodeRow.episode_date.between(key.episode_date - span, key.episode_date + span),
    )


def departement_query(key: EpisodeKey, span: dt.timedelta) -> Any:
    """The threshold's query (also EXPLAINed by the bench and the tests)."""
    return select(EpisodeRow.case_id, EpisodeRow.episode_date).where(
        EpisodeRow.departement == key.departement,
        EpisodeRow.mechanism_family == key.mechanism_family,
        EpisodeRow.episode_date.between(key.episode_date - span, key.episode_date + span),
    )


CLUSTER_FIELDS = tuple(Cluster.__dataclass_fields__)


def _cluster(row: ClusterRow) -> Cluster:
    return Cluster(**{name: getattr(row, name) for name in CLUSTER_FIELDS})


class ClusterRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, cluster: Cluster) -> None:
        self.session.execute(
            insert(ClusterRow).values(**{n: getattr(cluster, n) for n in CLUSTER_FIELDS})
        )

    def save(self, cluster: Cluster) -> None:
        self.session.execute(
            update(ClusterRow)
            .where(ClusterRow.id == cluster.id)
            .values(**{n: getattr(cluster, n) for n in CLUSTER_FIELDS})
            .execution_options(synchronize_session=False)
        )

    def get(self, cluster_id: str) -> Cluster | None:
        row = self.session.get(ClusterRow, cluster_id, populate_existing=True)
        return None if row is None else _cluster(row)

    def of_case(self, case_id: str) -> Cluster | None:
        row = self.session.scalars(
            select(ClusterRow)
            .join(ClusterMemberRow, ClusterMemberRow.cluster_id == ClusterRow.id)
            .where(ClusterMemberRow.case_id == case_id)
            .execution_options(populate_existing=True)
        ).first()
        return None if row is None else _cluster(row)

    def add_member(self, cluster_id: str, member: Member) -> None:
        self.session.execute(
            insert(ClusterMemberRow).values(
                cluster_id=cluster_id,
                case_id=member.case_id,
                cpias=member.cpias,
                region_code=member.region_code,
                departement=member.departement,
                episode_date=member.episode_date,
                added_by=member.added_by,
                added_at=member.added_at,
            )
        )

    def members(self, cluster_id: str) -> list[Member]:
        rows = self.session.scalars(
            select(ClusterMemberRow)
            .where(ClusterMemberRow.cluster_id == cluster_id)
            .order_by(ClusterMemberRow.episode_date, ClusterMemberRow.id)
        )
        return [
            Member(
                case_id=r.case_id,
                cpias=r.cpias,
                region_code=r.region_code,
                departement=r.departement,
                episode_date=r.episode_date,
                added_by=r.added_by,
                added_at=r.added_at,
            )
            for r in rows
        ]

    def member_views(
        self, cluster_id: str, visible: Callable[[str, str], bool]
    ) -> list[ClusterMemberView]:
        """Members with their case's reference and establishment; `visible(cpias, region)`
        says whether the caller may see that case (else only where and when)."""
        rows = self.session.execute(
            select(ClusterMemberRow, CaseRow.reference, CaseRow.declaration)
            .join(CaseRow, CaseRow.id == ClusterMemberRow.case_id)
            .where(ClusterMemberRow.cluster_id == cluster_id)
            .order_by(ClusterMemberRow.episode_date, ClusterMemberRow.id)
        ).all()
        views = []
        for m, reference, declaration in rows:
            shown = bool(visible(m.cpias, m.region_code))
            establishment = declaration["establishment"]
            views.append(
                ClusterMemberView(
                    visible=shown,
                    case_id=m.case_id if shown else None,
                    reference=reference if shown else None,
                    establishment=EstablishmentSummary.model_validate(establishment)
                    if shown
                    else None,
                    cpias=m.cpias,
                    region_code=m.region_code,
                    departement=m.departement,
                    episode_date=m.episode_date,
                    added_by=m.added_by if shown else None,
                    added_at=m.added_at,
                )
            )
        return views

    def summary(self, cluster: Cluster) -> ClusterSummary:
        rows = self.session.execute(
            select(ClusterMemberRow.departement, func.count())
            .where(ClusterMemberRow.cluster_id == cluster.id)
            .group_by(ClusterMemberRow.departement)
        ).all()
        return ClusterSummary(
            id=cluster.id,
            name=cluster.name,
            organism=cluster.organism,
            mechanism_family=cluster.mechanism_family,
            first_date=cluster.first_date,
            last_date=cluster.last_date,
            size=sum(int(r[1]) for r in rows),
            regions=cluster.regions,
            departements=sorted(str(r[0]) for r in rows),
            spf_flagged_at=cluster.spf_flagged_at,
            created_by=cluster.created_by,
            created_at=cluster.created_at,
        )

    def page(
        self, *, scope: dict[str, Any], limit: int, offset: int
    ) -> tuple[list[ClusterSummary], int]:
        """Clusters with at least one case in the scope (cpias or region_code), the latest
        episode first."""
        query = select(ClusterRow)
        if scope:
            (column, value), *_ = scope.items()
            holding = select(ClusterMemberRow.cluster_id).where(
                getattr(ClusterMemberRow, column) == value
            )
            query = query.where(ClusterRow.id.in_(holding))
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.session.scalars(
            query.order_by(ClusterRow.last_date.desc(), ClusterRow.id).limit(limit).offset(offset)
        )
        return [self.summary(_cluster(r)) for r in rows], total


class AlertRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def overlapping(self, window: ThresholdWindow) -> tuple[int, int, dt.date, dt.date] | None:
        """(id, episodes, first date, last date) of the alert of the window's family and
        département that it overlaps, if one was raised (index ix_threshold_alerts_key)."""
        row = self.session.execute(
            select(
                ThresholdAlertRow.id,
                ThresholdAlertRow.episodes,
                ThresholdAlertRow.first_date,
                ThresholdAlertRow.last_date,
            )
            .where(
                ThresholdAlertRow.departement == window.departement,
                ThresholdAlertRow.mechanism_family == window.mechanism_family,
                ThresholdAlertRow.last_date >= window.first_date,
                ThresholdAlertRow.first_date <= window.last_date,
            )
            .order_by(ThresholdAlertRow.last_date.desc())
        ).first()
        return None if row is None else (row[0], row[1], row[2], row[3])

    def add(
        self,
        window: ThresholdWindow,
        *,
        region_code: str,
        cpias: str,
        threshold: int,
        window_days: int,
        at: dt.datetime,
    ) -> None:
        self.session.execute(
            insert(ThresholdAlertRow).values(
                mechanism_family=window.mechanism_family,
                departement=window.departement,
                region_code=region_code,
                cpias=cpias,
                episodes=window.episodes,
                first_date=window.first_date,
                last_date=window.last_date,
                expires_on=window.last_date + dt.timedelta(days=window_days),
                threshold=threshold,
                window_days=window_days,
                raised_at=at,
                updated_at=at,
            )
        )

    def extend(
        self, alert_id: int, episodes: int, first: dt.date, last: dt.date, at: dt.datetime
    ) -> None:
        row = self.session.get(ThresholdAlertRow, alert_id)
        assert row is not None
        self.session.execute(
            update(ThresholdAlertRow)
            .where(ThresholdAlertRow.id == alert_id)
            .values(
                episodes=episodes,
                first_date=first,
                last_date=last,
                expires_on=last + dt.timedelta(days=row.window_days),
                updated_at=at,
            )
            .execution_options(synchronize_session=False)
        )

    def listed(
        self, *, scope: dict[str, Any], today: dt.date, current: bool, limit: int
    ) -> list[ThresholdAlertView]:
        query = select(ThresholdAlertRow)
        for column, value in scope.items():
            query = query.where(getattr(ThresholdAlertRow, column) == value)
        if current:
            query = query.where(ThresholdAlertRow.expires_on >= today)
        rows = self.session.scalars(
            query.order_by(ThresholdAlertRow.last_date.desc(), ThresholdAlertRow.id.desc()).limit(
                limit
            )
        )
        return [
            ThresholdAlertView.model_validate(
                {
                    **{c: getattr(r, c) for c in ThresholdAlertView.model_fields if c != "current"},
                    "current": r.expires_on >= today,
                }
            )
            for r in rows
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
