"""CPias use cases. Every change writes its history row, and every status change its outbox row,
in the same transaction as the change itself."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from prometheus_client import Counter, Histogram
from sqlalchemy import case, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from iaspipe.auth import Principal
from iaspipe.outbox import outbox_row
from schemas import topics
from schemas.events import CaseStatusChanged, DeclarationRouted, Milestone, envelope, utcnow
from services.cpias import policy
from services.cpias.adapters.orm import (
    CaseRow,
    HistoryRow,
    LinkRow,
    NoteRow,
    Outbox,
    ProcessedEvent,
)
from services.cpias.domain.workflow import (
    LinkKind,
    NoteKind,
    Outcome,
    Status,
    ack_deadline,
    check_transition,
    is_overdue,
)
from services.cpias.errors import CaseNotFound, LinkRefused

PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2}
OPENED = Counter("cpias_cases_opened_total", "Cases opened", ["cpias", "priority"])
DUPLICATES = Counter("cpias_duplicate_events_total", "Redelivered events recognised and skipped")
TIME_TO_ACK = Histogram(
    "cpias_time_to_acknowledge_seconds",
    "From case opening to acknowledgement",
    ["cpias", "priority"],
    buckets=(300, 900, 1800, 3600, 4 * 3600, 8 * 3600, 86400, 3 * 86400, 7 * 86400),
)
SUBMISSION_TO_ACK = Histogram(
    "cpias_submission_to_acknowledge_seconds",
    "From the declaration's submission to its acknowledgement by the CPias",
    ["cpias", "region", "priority"],
    buckets=(60, 300, 900, 1800, 3600, 4 * 3600, 8 * 3600, 86400, 3 * 86400, 7 * 86400),
)
TIME_TO_CLOSE = Histogram(
    "cpias_time_to_close_seconds",
    "From case opening to closure",
    ["cpias", "priority"],
    buckets=(86400, 3 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 90 * 86400, 365 * 86400),
)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _status_event(
    session: Session,
    row: CaseRow,
    milestone: Milestone,
    at: dt.datetime,
    actor: str | None,
    reason: str | None = None,
) -> None:
    payload = CaseStatusChanged(
        declaration_id=row.declaration_id,
        reference=row.reference,
        case_id=row.id,
        cpias=row.cpias,
        milestone=milestone,
        status=row.status,
        changed_at=at,
        actor=actor,
        reason=reason,
        outcome=row.outcome if milestone is Milestone.closed else None,
    )
    event = envelope(
        "CaseStatusChanged", payload, correlation_id=uuid.UUID(row.declaration_id), occurred_at=at
    )
    session.add(outbox_row(Outbox, topics.STATUS, row.declaration_id, event))


def _history(
    session: Session,
    row: CaseRow,
    at: dt.datetime,
    actor: str,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    reason: str | None = None,
) -> None:
    session.add(
        HistoryRow(
            case_id=row.id,
            at=at,
            actor=actor,
            action=action,
            before=before,
            after=after,
            reason=reason,
        )
    )


def handle_routed(
    session: Session,
    event_id: str,
    routed: DeclarationRouted,
    *,
    ack_hours: dict[str, float],
    now: dt.datetime | None = None,
) -> bool:
    """Open the case of a routed declaration, or attach a complement to it. Idempotent: the
    event id is recorded with the effect; False when the event was already handled."""
    now = now or utcnow()
    if session.get(ProcessedEvent, event_id) is not None:
        DUPLICATES.inc()
        return False
    session.add(ProcessedEvent(event_id=event_id, processed_at=now))
    row = session.scalars(
        select(CaseRow).where(CaseRow.declaration_id == routed.declaration_id)
    ).one_or_none()
    if row is None:
        row = _open(session, routed, ack_hours=ack_hours, now=now)
    if routed.kind == "complement" and routed.complement is not None:
        complement = routed.complement.model_dump(mode="json")
        if complement not in row.complements:
            row.complements = [*row.complements, complement]
            before = {"complement_received": row.complement_received}
            row.complement_received = True
            _history(
                session,
                row,
                now,
                "system",
                "complement_received",
                before,
                {"complement_received": True},
            )
            _status_event(session, row, Milestone.complement_received, now, "system")
    return True


def _open(
    session: Session, routed: DeclarationRouted, *, ack_hours: dict[str, float], now: dt.datetime
) -> CaseRow:
    priority = routed.priority.value
    row = CaseRow(
        id=str(uuid.uuid4()),
        declaration_id=routed.declaration_id,
        reference=routed.reference,
        cpias=routed.recipient.id,
        region_code=routed.region_code,
        priority=priority,
        priority_rank=PRIORITY_RANK[priority],
        status=Status.new.value,
        assignee=None,
        opened_at=now,
        ack_due_at=ack_deadline(now, priority, ack_hours),
        declaration=routed.declaration.model_dump(mode="json"),
        complements=[],
        routing={
            "legal_basis": routed.recipient.legal_basis,
            "reason": routed.recipient.reason,
            "rules_version": routed.rules_version,
        },
        received_at=routed.received_at,
        complement_received=False,
    )
    session.add(row)
    session.flush()
    _history(
        session, row, now, "system", "opened", None, {"status": row.status, "priority": priority}
    )
    _status_event(session, row, Milestone.received, now, "system")
    OPENED.labels(row.cpias, priority).inc()
    return row


def case_summary(row: CaseRow, now: dt.datetime) -> dict[str, Any]:
    decl = row.declaration
    return {
        "id": row.id,
        "declaration_id": row.declaration_id,
        "reference": row.reference,
        "cpias": row.cpias,
        "region_code": row.region_code,
        "priority": row.priority,
        "status": row.status,
        "assignee": row.assignee,
        "opened_at": _aware(row.opened_at),
        "deadlines": {"acknowledge_by": _aware(row.ack_due_at)},
        "overdue": is_overdue(row.status, _aware(row.ack_due_at), now),
        "acknowledged_at": row.acknowledged_at and _aware(row.acknowledged_at),
        "closed_at": row.closed_at and _aware(row.closed_at),
        "outcome": row.outcome,
        "complement_received": row.complement_received,
        "establishment": {
            k: decl["establishment"].get(k) for k in ("finess", "name", "kind", "departement")
        },
        "criteria": decl.get("criteria", []),
    }


def list_cases(
    sessions: sessionmaker[Session],
    *,
    filters: dict[str, Any],
    principal: Principal,
    limit: int,
    offset: int,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The caller's queue: only cases in its scope, urgent first, then oldest."""
    now = now or utcnow()
    query = select(CaseRow)
    for column, value in policy.queue_scope(principal).items():
        query = query.where(getattr(CaseRow, column) == value)
    for column in (
        "status",
        "priority",
        "assignee",
        "declaration_id",
        "reference",
        "cpias",
        "region_code",
    ):
        value = filters.get(column)
        if value is not None:
            query = query.where(getattr(CaseRow, column) == value)
    overdue = filters.get("overdue")
    if overdue is True:
        query = query.where(CaseRow.status == Status.new.value, CaseRow.ack_due_at < now)
    elif overdue is False:
        query = query.where(or_(CaseRow.status != Status.new.value, CaseRow.ack_due_at >= now))
    with sessions() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(
            query.order_by(CaseRow.priority_rank, CaseRow.opened_at, CaseRow.id)
            .limit(limit)
            .offset(offset)
        ).all()
        return {
            "items": [case_summary(r, now) for r in rows],
            "total": total,
            "limit": limit,
            "offset": offset,
        }


def _get(session: Session, case_id: str, principal: Principal, *, act: bool = False) -> CaseRow:
    """The case if the caller may see it (else CaseNotFound); `act` also checks it may act."""
    row = session.get(CaseRow, case_id)
    if row is None or not policy.can_read(principal, row):
        raise CaseNotFound(case_id)
    if act:
        policy.check_may_act(principal)
    return row


def _links(session: Session, row: CaseRow) -> list[dict[str, Any]]:
    links = session.scalars(
        select(LinkRow)
        .where(or_(LinkRow.case_id == row.id, LinkRow.other_case_id == row.id))
        .order_by(LinkRow.at)
    ).all()
    out = []
    for link in links:
        other_id = link.other_case_id if link.case_id == row.id else link.case_id
        other = session.get(CaseRow, other_id)
        out.append(
            {
                "case_id": other_id,
                "reference": other.reference if other else None,
                "kind": link.kind,
                "reason": link.reason,
                "created_by": link.created_by,
                "at": _aware(link.at),
            }
        )
    return out


def get_case(
    sessions: sessionmaker[Session],
    case_id: str,
    principal: Principal,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    now = now or utcnow()
    with sessions() as session:
        row = _get(session, case_id, principal)
        notes = session.scalars(
            select(NoteRow).where(NoteRow.case_id == row.id).order_by(NoteRow.at, NoteRow.id)
        ).all()
        history = session.scalars(
            select(HistoryRow)
            .where(HistoryRow.case_id == row.id)
            .order_by(HistoryRow.at, HistoryRow.id)
        ).all()
        return {
            **case_summary(row, now),
            "declaration": row.declaration,
            "complements": row.complements,
            "routing": row.routing,
            "received_at": _aware(row.received_at),
            "notes": [
                {"id": n.id, "kind": n.kind, "text": n.text, "author": n.author, "at": _aware(n.at)}
                for n in notes
            ],
            "history": [
                {
                    "at": _aware(h.at),
                    "actor": h.actor,
                    "action": h.action,
                    "before": h.before,
                    "after": h.after,
                    "reason": h.reason,
                }
                for h in history
            ],
            "links": _links(session, row),
        }


def transition(
    sessions: sessionmaker[Session],
    case_id: str,
    *,
    to: Status,
    principal: Principal,
    reason: str | None,
    outcome: Outcome | None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Move a case along the workflow; IllegalTransition says which moves are allowed."""
    now = now or utcnow()
    with sessions() as session, session.begin():
        row = _get(session, case_id, principal, act=True)
        actor = principal.subject
        current = Status(row.status)
        check_transition(current, to, outcome)
        before = {"status": row.status}
        row.status = to.value
        after: dict[str, Any] = {"status": to.value}
        if to is Status.acknowledged:
            row.acknowledged_at = now
            TIME_TO_ACK.labels(row.cpias, row.priority).observe(
                (now - _aware(row.opened_at)).total_seconds()
            )
            SUBMISSION_TO_ACK.labels(row.cpias, row.region_code, row.priority).observe(
                max((now - _aware(row.received_at)).total_seconds(), 0)
            )
        if to is Status.closed:
            assert outcome is not None
            row.closed_at, row.outcome = now, outcome.value
            row.complement_received_at_close = row.complement_received
            after |= {"outcome": outcome.value, "complement_received": row.complement_received}
            TIME_TO_CLOSE.labels(row.cpias, row.priority).observe(
                (now - _aware(row.opened_at)).total_seconds()
            )
        _history(session, row, now, actor, "status", before, after, reason)
        _status_event(session, row, Milestone(to.value), now, actor, reason)
    return get_case(sessions, case_id, principal, now)


def assign(
    sessions: sessionmaker[Session],
    case_id: str,
    *,
    assignee: str | None,
    principal: Principal,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    now = now or utcnow()
    with sessions() as session, session.begin():
        row = _get(session, case_id, principal, act=True)
        actor = principal.subject
        before = {"assignee": row.assignee}
        row.assignee = assignee
        _history(session, row, now, actor, "assignment", before, {"assignee": assignee})
    return get_case(sessions, case_id, principal, now)


def add_note(
    sessions: sessionmaker[Session],
    case_id: str,
    *,
    kind: NoteKind,
    text: str,
    principal: Principal,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    now = now or utcnow()
    with sessions() as session, session.begin():
        row = _get(session, case_id, principal, act=True)
        actor = principal.subject
        note = NoteRow(case_id=row.id, kind=kind.value, text=text, author=actor, at=now)
        session.add(note)
        session.flush()
        _history(session, row, now, actor, "note", None, {"note_id": note.id, "kind": kind.value})
        return {
            "id": note.id,
            "kind": note.kind,
            "text": note.text,
            "author": note.author,
            "at": now,
        }


def link_cases(
    sessions: sessionmaker[Session],
    case_id: str,
    *,
    other: dict[str, str | None],
    kind: LinkKind,
    reason: str | None,
    principal: Principal,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Link two cases (same episode, or a cluster across establishments); seen from both."""
    now = now or utcnow()
    try:
        with sessions() as session, session.begin():
            row = _get(session, case_id, principal, act=True)
            actor = principal.subject
            target = _find_other(session, other, principal)
            if target.id == row.id:
                raise LinkRefused("a case cannot be linked to itself")
            a, b = sorted((row.id, target.id))
            exists_ = session.scalars(
                select(LinkRow).where(LinkRow.case_id == a, LinkRow.other_case_id == b)
            ).first()
            if exists_ is not None:
                raise LinkRefused("these cases are already linked")
            session.add(
                LinkRow(
                    case_id=a,
                    other_case_id=b,
                    kind=kind.value,
                    reason=reason,
                    created_by=actor,
                    at=now,
                )
            )
            for one, two in ((row, target), (target, row)):
                _history(
                    session,
                    one,
                    now,
                    actor,
                    "link",
                    None,
                    {"case_id": two.id, "reference": two.reference, "kind": kind.value},
                    reason,
                )
    except IntegrityError as exc:
        raise LinkRefused("these cases are already linked") from exc
    return get_case(sessions, case_id, principal, now)


def _find_other(session: Session, other: dict[str, str | None], principal: Principal) -> CaseRow:
    query = select(CaseRow)
    if other.get("case_id"):
        query = query.where(CaseRow.id == other["case_id"])
    elif other.get("declaration_id"):
        query = query.where(CaseRow.declaration_id == other["declaration_id"])
    elif other.get("reference"):
        query = query.where(CaseRow.reference == other["reference"])
    else:
        raise LinkRefused("name the other case by case_id, declaration_id or reference")
    row = session.scalars(query).first()
    if row is None or not policy.can_read(principal, row):
        raise CaseNotFound("linked case")
    return row


def dashboard_counts(
    sessions: sessionmaker[Session], now: dt.datetime | None = None
) -> dict[str, list[tuple[Any, ...]]]:
    """Open cases by CPias, priority and status; overdue cases by CPias and priority."""
    now = now or utcnow()
    overdue = case((CaseRow.ack_due_at < now, 1), else_=0)
    with sessions() as session:
        open_rows = session.execute(
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
    return {"open": [tuple(r) for r in open_rows]}
