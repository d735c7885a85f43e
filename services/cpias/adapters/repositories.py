"""The CPias repositories: every query of the service lives here. They never commit; the
unit of work (adapters/uow.py) does."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, union_all, update
from sqlalchemy import case as when
from sqlalchemy.orm import Session

from iaspipe.db import from_row, values_of
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
from services.cpias.domain.cases import Case, QueueQuery
from services.cpias.domain.clusters import (
    Cluster,
    Episode,
    EpisodeKey,
    Member,
    ThresholdAlert,
    ThresholdWindow,
)
from services.cpias.domain.workflow import LinkKind, Status


def _columns(case: Case) -> dict[str, Any]:
    return {**values_of(case), "priority_rank": case.priority_rank}


class CaseRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add_many(self, cases: Sequence[Case]) -> None:
        if cases:
            self.session.execute(insert(CaseRow), [_columns(c) for c in cases])

    def save(self, case: Case) -> None:
        self.session.execute(
            update(CaseRow)
            .where(CaseRow.id == case.id)
            .values(**_columns(case))
            .execution_options(synchronize_session=False)
        )

    def get(self, case_id: str, *, for_update: bool = False) -> Case | None:
        row = self.session.get(
            CaseRow, case_id, populate_existing=True, with_for_update=for_update or None
        )
        return None if row is None else from_row(Case, row)

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
        return None if row is None else from_row(Case, row)

    def of_declarations(
        self, declaration_ids: Collection[str], *, for_update: bool = False
    ) -> dict[str, Case]:
        """The cases of these declarations that exist, by declaration id (`for_update`: locked
        until the commit, in the order of their ids)."""
        if not declaration_ids:
            return {}
        query = (
            select(CaseRow)
            .where(CaseRow.declaration_id.in_(sorted(declaration_ids)))
            .execution_options(populate_existing=True)
        )
        if for_update:
            query = query.order_by(CaseRow.id).with_for_update()
        rows = self.session.scalars(query)
        return {row.declaration_id: from_row(Case, row) for row in rows}

    def page(self, q: QueueQuery) -> tuple[list[Case], int]:
        query = select(CaseRow)
        for column, value in [*q.filters.items(), *q.scope.items()]:
            query = query.where(getattr(CaseRow, column) == value)
        if q.overdue is True:
            query = query.where(CaseRow.status == Status.new.value, CaseRow.ack_due_at < q.now)
        elif q.overdue is False:
            query = query.where(
                or_(CaseRow.status != Status.new.value, CaseRow.ack_due_at >= q.now)
            )
        if q.closed is not None:
            is_closed = CaseRow.status == Status.closed.value
            query = query.where(is_closed if q.closed else ~is_closed)
        if q.assigned is not None:
            query = query.where(
                CaseRow.assignee.is_not(None) if q.assigned else CaseRow.assignee.is_(None)
            )
        if q.search:
            name = CaseRow.declaration[("establishment", "name")].as_string()
            query = query.where(
                or_(
                    CaseRow.reference.icontains(q.search, autoescape=True),
                    name.icontains(q.search, autoescape=True),
                )
            )
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.session.scalars(
            query.order_by(CaseRow.priority_rank, CaseRow.received_at, CaseRow.id)
            .limit(q.limit)
            .offset(q.offset)
        )
        return [from_row(Case, r) for r in rows], total

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

    def seen(self, event_ids: Collection[str]) -> set[str]:
        """Those of `event_ids` already handled."""
        if not event_ids:
            return set()
        query = select(ProcessedEvent.event_id).where(
            ProcessedEvent.event_id.in_(sorted(event_ids))
        )
        return set(self.session.scalars(query))

    def add_many(self, events: Sequence[tuple[str, dt.datetime]]) -> None:
        """(event id, when) of events handled now."""
        if events:
            self.session.execute(
                insert(ProcessedEvent), [{"event_id": e, "processed_at": at} for e, at in events]
            )


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
        self, case_a: str, case_b: str, kind: str, reason: str | None, by: str, at: dt.datetime
    ) -> None:
        self.add_many(
            [
                {
                    "case_id": case_a,
                    "other_case_id": case_b,
                    "kind": kind,
                    "reason": reason,
                    "created_by": by,
                    "at": at,
                    "status": "confirmed",
                    "basis": None,
                }
            ]
        )

    def add_many(self, links: list[dict[str, Any]]) -> None:
        """Several links at once (the columns of `add`, ids of each pair in order)."""
        if links:
            self.session.execute(insert(LinkRow), links)

    def linked_with(self, case_id: str, others: list[str]) -> set[str]:
        """Which of `others` are linked with the case, whatever the link's kind or status."""
        return self._others(case_id, others)

    def pending_suggestions(self, case_id: str, others: list[str]) -> set[str]:
        """Which of `others` the cluster rule suggested with the case, still undecided."""
        return self._others(
            case_id,
            others,
            LinkRow.kind == LinkKind.cluster.value,
            LinkRow.status == "suggested",
        )

    def pending_counts(self, case_ids: list[str]) -> dict[str, int]:
        if not case_ids:
            return {}
        pending = (LinkRow.kind == LinkKind.cluster.value, LinkRow.status == "suggested")
        sides = [
            select(column.label("case_id")).where(column.in_(case_ids), *pending)
            for column in (LinkRow.case_id, LinkRow.other_case_id)
        ]
        both = union_all(*sides).subquery()
        rows = self.session.execute(
            select(both.c.case_id, func.count()).group_by(both.c.case_id)
        ).all()
        return {case_id: int(n) for case_id, n in rows}

    def _others(self, case_id: str, others: list[str], *where: Any) -> set[str]:
        if not others:
            return set()
        rows = self.session.execute(
            select(LinkRow.case_id, LinkRow.other_case_id).where(
                or_(
                    (LinkRow.case_id == case_id) & LinkRow.other_case_id.in_(others),
                    (LinkRow.other_case_id == case_id) & LinkRow.case_id.in_(others),
                ),
                *where,
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
                ClusterRow.id,
                ClusterRow.name,
            )
            .join(CaseRow, CaseRow.id == other_id)
            .outerjoin(ClusterMemberRow, ClusterMemberRow.case_id == CaseRow.id)
            .outerjoin(ClusterRow, ClusterRow.id == ClusterMemberRow.cluster_id)
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
                cluster_id=cluster,
                cluster_name=cluster_name if shown else None,
            )
            for link, other, reference, cpias, region, establishment, cluster, cluster_name in rows
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

    def add_many(self, episodes: Sequence[Episode]) -> None:
        if episodes:
            self.session.execute(
                insert(EpisodeRow),
                [
                    {
                        "case_id": e.case_id,
                        "reference": e.reference,
                        "finess": e.finess,
                        "organism": e.key.organism,
                        "mechanism_family": e.key.mechanism_family,
                        "region_code": e.key.region_code,
                        "departement": e.key.departement,
                        "episode_date": e.key.episode_date,
                    }
                    for e in episodes
                ],
            )

    def matching(self, keys: Sequence[EpisodeKey], window_days: int) -> list[Episode]:
        """The episodes of the keys' regions, families and organisms whose dates are at most
        `window_days` from one of them, in one query (index ix_case_episodes_match)."""
        if not keys:
            return []
        rows = self.session.execute(matching_query(keys, dt.timedelta(days=window_days))).all()
        return [
            Episode(
                case_id=r.case_id,
                reference=r.reference,
                finess=r.finess,
                key=EpisodeKey(
                    r.organism,
                    r.mechanism_family,
                    r.region_code,
                    r.departement,
                    r.episode_date,
                ),
            )
            for r in rows
        ]

    def in_departements(
        self, keys: Sequence[EpisodeKey], days: int
    ) -> list[tuple[str, str, str, dt.date]]:
        """(case id, département, family, episode date) of the episodes of the keys'
        families and départements within `days` of one of them, whatever the organism, in
        one query (index ix_case_episodes_threshold)."""
        if not keys:
            return []
        rows = self.session.execute(departement_query(keys, dt.timedelta(days=days))).all()
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def cases_between(
        self, departement: str, mechanism_family: str, first: dt.date, last: dt.date
    ) -> int:
        """(index ix_case_episodes_threshold: département, family, date)"""
        count = self.session.scalar(
            select(func.count(func.distinct(EpisodeRow.case_id))).where(
                EpisodeRow.departement == departement,
                EpisodeRow.mechanism_family == mechanism_family,
                EpisodeRow.episode_date.between(first, last),
            )
        )
        return int(count or 0)

    def of(self, case_id: str) -> list[EpisodeView]:
        rows = self.session.scalars(
            select(EpisodeRow).where(EpisodeRow.case_id == case_id).order_by(EpisodeRow.id)
        )
        return [EpisodeView.model_validate(r, from_attributes=True) for r in rows]


def _merged(
    intervals: Iterable[tuple[tuple[str, ...], dt.date, dt.date]],
) -> list[tuple[tuple[str, ...], dt.date, dt.date]]:
    """(group, first, last) intervals merged where they overlap or touch, by group: the
    same dates, in fewer conditions."""
    merged: list[tuple[tuple[str, ...], dt.date, dt.date]] = []
    for group, first, last in sorted(intervals):
        if merged and merged[-1][0] == group and first <= merged[-1][2] + dt.timedelta(days=1):
            merged[-1] = (group, merged[-1][1], max(merged[-1][2], last))
        else:
            merged.append((group, first, last))
    return merged


def _any(
    spans: Sequence[tuple[tuple[str, ...], dt.date, dt.date]],
    group: Sequence[Any],
    ends: Any,
    starts: Any,
) -> Any:
    """Rows of one of the groups (values of the `group` columns) whose dates meet its span:
    ending on or after its first date, starting on or before its last."""
    return or_(
        *(
            and_(*(c == v for c, v in zip(group, values, strict=True)), ends >= lo, starts <= hi)
            for values, lo, hi in spans
        )
    )


def matching_query(keys: Sequence[EpisodeKey], span: dt.timedelta) -> Any:
    """The candidates query (also EXPLAINed by the bench and the tests): the episodes of
    the keys' regions, families and organisms within `span` of one of them, each served by
    the index."""
    spans = _merged(
        (
            (k.region_code, k.mechanism_family, k.organism),
            k.episode_date - span,
            k.episode_date + span,
        )
        for k in keys
    )
    group = (EpisodeRow.region_code, EpisodeRow.mechanism_family, EpisodeRow.organism)
    return select(
        EpisodeRow.case_id,
        EpisodeRow.reference,
        EpisodeRow.finess,
        EpisodeRow.organism,
        EpisodeRow.mechanism_family,
        EpisodeRow.region_code,
        EpisodeRow.departement,
        EpisodeRow.episode_date,
    ).where(_any(spans, group, EpisodeRow.episode_date, EpisodeRow.episode_date))


def departement_query(keys: Sequence[EpisodeKey], span: dt.timedelta) -> Any:
    """The threshold's query (also EXPLAINed by the bench and the tests): the episodes of
    the keys' départements and families within `span` of one of them, whatever the
    organism, each served by the index."""
    spans = _merged(
        ((k.departement, k.mechanism_family), k.episode_date - span, k.episode_date + span)
        for k in keys
    )
    group = (EpisodeRow.departement, EpisodeRow.mechanism_family)
    return select(
        EpisodeRow.case_id,
        EpisodeRow.departement,
        EpisodeRow.mechanism_family,
        EpisodeRow.episode_date,
    ).where(_any(spans, group, EpisodeRow.episode_date, EpisodeRow.episode_date))


def _alert_columns(alert: ThresholdAlert) -> dict[str, Any]:
    return {**values_of(alert, leave_out=("id",)), "expires_on": alert.expires_on}


class ClusterRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, cluster: Cluster) -> None:
        self.session.execute(insert(ClusterRow).values(**values_of(cluster)))

    def save(self, cluster: Cluster) -> None:
        self.session.execute(
            update(ClusterRow)
            .where(ClusterRow.id == cluster.id)
            .values(**values_of(cluster))
            .execution_options(synchronize_session=False)
        )

    def get(self, cluster_id: str) -> Cluster | None:
        row = self.session.get(ClusterRow, cluster_id, populate_existing=True)
        return None if row is None else from_row(Cluster, row)

    def of_case(self, case_id: str, *, for_update: bool = False) -> Cluster | None:
        query = (
            select(ClusterRow)
            .join(ClusterMemberRow, ClusterMemberRow.cluster_id == ClusterRow.id)
            .where(ClusterMemberRow.case_id == case_id)
            .execution_options(populate_existing=True)
        )
        if for_update:
            query = query.with_for_update(of=ClusterRow)
        row = self.session.scalars(query).first()
        return None if row is None else from_row(Cluster, row)

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

    def names_of(self, case_ids: Sequence[str]) -> dict[str, str]:
        if not case_ids:
            return {}
        rows = self.session.execute(
            select(ClusterMemberRow.case_id, ClusterRow.name)
            .join(ClusterRow, ClusterRow.id == ClusterMemberRow.cluster_id)
            .where(ClusterMemberRow.case_id.in_(case_ids))
        ).all()
        return {case_id: name for case_id, name in rows}

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
            select(ClusterMemberRow, CaseRow.reference, CaseRow.declaration_id, CaseRow.declaration)
            .join(CaseRow, CaseRow.id == ClusterMemberRow.case_id)
            .where(ClusterMemberRow.cluster_id == cluster_id)
            .order_by(ClusterMemberRow.episode_date, ClusterMemberRow.id)
        ).all()
        views = []
        for m, reference, declaration_id, declaration in rows:
            shown = bool(visible(m.cpias, m.region_code))
            establishment = declaration["establishment"]
            views.append(
                ClusterMemberView(
                    visible=shown,
                    case_id=m.case_id if shown else None,
                    declaration_id=declaration_id if shown else None,
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
        return [self.summary(from_row(Cluster, r)) for r in rows], total


class AlertRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def near(self, windows: Sequence[ThresholdWindow]) -> list[ThresholdAlert]:
        """The alerts of the windows' families and départements that overlap one of them
        (index ix_threshold_alerts_key)."""
        if not windows:
            return []
        spans = _merged(
            ((w.departement, w.mechanism_family), w.first_date, w.last_date) for w in windows
        )
        group = (ThresholdAlertRow.departement, ThresholdAlertRow.mechanism_family)
        ends, starts = ThresholdAlertRow.last_date, ThresholdAlertRow.first_date
        rows = self.session.scalars(
            select(ThresholdAlertRow).where(_any(spans, group, ends, starts))
        )
        return [from_row(ThresholdAlert, r) for r in rows]

    def add_many(self, alerts: Sequence[ThresholdAlert]) -> None:
        if alerts:
            self.session.execute(insert(ThresholdAlertRow), [_alert_columns(a) for a in alerts])

    def save_many(self, alerts: Sequence[ThresholdAlert]) -> None:
        """Write the episodes and dates of alerts read from this repository."""
        if alerts:
            self.session.execute(
                update(ThresholdAlertRow),
                [{**_alert_columns(a), "id": a.id} for a in alerts],
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
            found += [(from_row(Case, r), "ack_reminder") for r in reminders]
        overdue = self.session.scalars(
            select(CaseRow)
            .where(new, CaseRow.ack_due_at < now, self._without("ack_overdue"))
            .order_by(CaseRow.ack_due_at)
            .limit(limit)
        )
        return found + [(from_row(Case, r), "ack_overdue") for r in overdue]

    def add(self, case_id: str, kind: str, at: dt.datetime) -> None:
        self.session.execute(
            insert(DeadlineNotice).values(case_id=case_id, kind=kind, requested_at=at)
        )
