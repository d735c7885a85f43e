"""Intake use cases. Each function runs inside one transaction opened by the caller's unit of
work (`with sessions.begin()`): the declaration, its timeline entry and its outbox row are
committed together or not at all."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from prometheus_client import Counter
from sqlalchemy import and_, delete, exists, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from iaspipe import audit
from iaspipe.auth import Principal
from iaspipe.outbox import outbox_row
from schemas import topics
from schemas.declaration import Complement, Declaration, DeclarationAccepted
from schemas.events import (
    DeclarationComplemented,
    DeclarationSubmitted,
    Envelope,
    envelope,
    utcnow,
)
from schemas.reference import ReferenceData
from schemas.rules import anonymity_problems, check_complement, coherence_problems
from services.intake import policy
from services.intake.adapters.orm import (
    AuditEntry,
    ComplementRow,
    DeclarationRow,
    IdempotencyKey,
    Outbox,
    ReferenceCounter,
    TimelineEntry,
)
from services.intake.errors import DeclarationNotFound, IdempotencyConflict, InvalidRequest

RECEIVED = Counter(
    "intake_declarations_received_total",
    "Declarations accepted, once per criterion ticked",
    ["region", "criterion"],
)
ACCEPTED = Counter("intake_declarations_accepted_total", "Declarations accepted", ["region"])
REFUSED = Counter("intake_declarations_refused_total", "Submissions refused, by rule", ["reason"])
REPUBLISHED = Counter(
    "intake_declarations_republished_total",
    "Declarations published again because no CPias confirmation came back",
)


@dataclass(frozen=True)
class Submission:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False


def local_today(tz: str, now: dt.datetime) -> dt.date:
    return now.astimezone(ZoneInfo(tz)).date()


def _refuse(problems: list[Any]) -> InvalidRequest:
    for rule in {p.rule for p in problems}:
        REFUSED.labels(rule).inc()
    return InvalidRequest(problems)


def validate(decl: Declaration, *, today: dt.date, ref: ReferenceData) -> None:
    problems = coherence_problems(decl, today=today, ref=ref) + anonymity_problems(decl)
    if problems:
        raise _refuse(problems)


def request_hash(decl: Declaration) -> str:
    return hashlib.sha256(decl.model_dump_json().encode()).hexdigest()


def _insert(session: Session, obj: Any) -> None:
    """A plain INSERT of a new row: no identity map, no RETURNING of generated keys (the
    submission writes five rows under its region's lock; every millisecond there counts)."""
    values = {
        attr.key: getattr(obj, attr.key)
        for attr in obj.__mapper__.column_attrs
        if getattr(obj, attr.key) is not None
    }
    session.execute(insert(type(obj)).values(**values))


def _next_sequence(session: Session, region: str, year: int) -> int:
    """Next number of the region's year. The UPDATE takes the counter's row lock (PostgreSQL)
    or the write lock (SQLite) until commit: concurrent submissions of one region queue here
    and get consecutive numbers, and a rolled-back submission gives its number back."""
    bump = (
        update(ReferenceCounter)
        .where(ReferenceCounter.region_code == region, ReferenceCounter.year == year)
        .values(last_value=ReferenceCounter.last_value + 1)
        .returning(ReferenceCounter.last_value)
    )
    value = session.execute(bump).scalar_one_or_none()
    if value is None:
        dialect = session.get_bind().dialect.name
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(ReferenceCounter)
        session.execute(
            ins.values(region_code=region, year=year, last_value=0).on_conflict_do_nothing()
        )
        value = session.execute(bump).scalar_one()
    return int(value)


def submitted_event(row: DeclarationRow, decl: Declaration | None = None) -> Envelope:
    """The DeclarationSubmitted event of a stored declaration: identical bytes every time."""
    payload = DeclarationSubmitted.model_construct(
        declaration_id=row.id,
        reference=row.reference,
        received_at=_aware(row.received_at),
        declaration=decl or Declaration.model_validate(row.body),
    )
    return envelope(
        "DeclarationSubmitted",
        payload,
        event_id=uuid.UUID(row.event_id),
        correlation_id=uuid.UUID(row.id),
        occurred_at=_aware(row.received_at),
    )


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _replay(session: Session, key: str, digest: str) -> Submission | None:
    stored = session.get(IdempotencyKey, key)
    if stored is None:
        return None
    if stored.request_hash != digest:
        raise IdempotencyConflict(key)
    return Submission(stored.status_code, stored.response, replayed=True)


def submit_declaration(
    sessions: sessionmaker[Session],
    decl: Declaration,
    *,
    ref: ReferenceData,
    tz: str,
    principal: Principal,
    address: str = "unknown",
    idempotency_key: str | None = None,
    now: dt.datetime | None = None,
) -> Submission:
    """Validate, number and store a declaration with its outbox row, in one transaction.

    With an idempotency key, a retry of the same body returns the first answer and another
    body under the same key raises IdempotencyConflict.
    """
    now = now or utcnow()
    policy.check_may_declare(principal, decl.establishment.finess)
    digest = request_hash(decl)
    if idempotency_key:
        with sessions() as session, session.begin():
            replay = _replay(session, idempotency_key, digest)
        if replay:
            return replay
    validate(decl, today=local_today(tz, now), ref=ref)
    dep = ref.departements[decl.establishment.departement]
    year = now.astimezone(ZoneInfo(tz)).year
    body = decl.model_dump(mode="json")
    declaration_id, event_id = str(uuid.uuid4()), str(uuid.uuid4())
    try:
        with sessions() as session, session.begin():
            # The number is taken last: the region's lock is held only for what follows.
            seq = _next_sequence(session, dep.region_code, year)
            row = DeclarationRow(
                id=declaration_id,
                reference=f"IAS-{year}-{dep.region_code}-{seq:06d}",
                region_code=dep.region_code,
                year=year,
                sequence=seq,
                departement=dep.code,
                finess=decl.establishment.finess,
                status="submitted",
                body=body,
                received_at=now,
                event_id=event_id,
                submitted_by=principal.subject,
                recipients=[],
                last_published_at=now,
                publish_count=1,
                cpias_confirmed_at=None,
            )
            answer = DeclarationAccepted.model_construct(
                id=row.id, reference=row.reference, status=row.status, received_at=now
            ).model_dump(mode="json")
            _insert(session, row)
            _insert(
                session,
                TimelineEntry(
                    declaration_id=row.id, event_id=event_id, kind="submitted", at=now, detail={}
                ),
            )
            _insert(
                session, outbox_row(Outbox, topics.DECLARATIONS, row.id, submitted_event(row, decl))
            )
            _insert(
                session,
                audit.entry(AuditEntry, principal, "submit", "declaration", row.id, address),
            )
            if idempotency_key:
                _insert(
                    session,
                    IdempotencyKey(
                        key=idempotency_key,
                        request_hash=digest,
                        status_code=201,
                        response=answer,
                        created_at=now,
                    ),
                )
    except IntegrityError:
        # Two retries with one key raced: the other one committed first.
        if idempotency_key:
            with sessions() as session, session.begin():
                replay = _replay(session, idempotency_key, digest)
            if replay:
                return replay
        raise
    ACCEPTED.labels(dep.region_code).inc()
    for criterion in decl.criteria:
        RECEIVED.labels(dep.region_code, criterion.value).inc()
    return Submission(201, answer)


def complement_declaration(
    sessions: sessionmaker[Session],
    declaration_id: str,
    body: Any,
    *,
    principal: Principal,
    ref: ReferenceData,
    address: str = "unknown",
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Attach a complement (R1413-80, second paragraph) and publish DeclarationComplemented.
    A declaration the caller may not read is reported as not found."""
    with sessions() as session:
        row = session.get(DeclarationRow, declaration_id)
        if row is None or not policy.can_read(principal, row, ref):
            raise DeclarationNotFound(declaration_id)
        policy.check_may_complement(principal, row)
    complement, problems = check_complement(body)
    if complement is None:
        raise _refuse(problems)
    return _store_complement(
        sessions,
        declaration_id,
        complement,
        now or utcnow(),
        audit_row=audit.entry(
            AuditEntry, principal, "complement", "declaration", declaration_id, address
        ),
    )


def _store_complement(
    sessions: sessionmaker[Session],
    declaration_id: str,
    complement: Complement,
    now: dt.datetime,
    audit_row: AuditEntry,
) -> dict[str, Any]:
    with sessions() as session, session.begin():
        row = session.get(DeclarationRow, declaration_id)
        if row is None:
            raise DeclarationNotFound(declaration_id)
        session.add(audit_row)
        complement_id = str(uuid.uuid4())
        session.add(
            ComplementRow(
                id=complement_id,
                declaration_id=row.id,
                body=complement.model_dump(mode="json"),
                received_at=now,
            )
        )
        payload = DeclarationComplemented(
            declaration_id=row.id,
            reference=row.reference,
            received_at=_aware(row.received_at),
            complemented_at=now,
            complement=complement,
            declaration=Declaration.model_validate(row.body),
        )
        event = envelope(
            "DeclarationComplemented",
            payload,
            event_id=uuid.UUID(complement_id),
            correlation_id=uuid.UUID(row.id),
            occurred_at=now,
        )
        session.add(
            TimelineEntry(
                declaration_id=row.id,
                event_id=complement_id,
                kind="complement_submitted",
                at=now,
                detail={},
            )
        )
        session.add(outbox_row(Outbox, topics.DECLARATIONS, row.id, event))
    return {"id": complement_id, "declaration_id": declaration_id, "received_at": now}


def get_declaration(
    sessions: sessionmaker[Session],
    declaration_id: str,
    *,
    principal: Principal,
    ref: ReferenceData,
    address: str = "unknown",
) -> dict[str, Any]:
    """The declaration and its timeline, if the caller may read it (else not found)."""
    with sessions() as session:
        row = session.get(DeclarationRow, declaration_id)
        if row is None or not policy.can_read(principal, row, ref):
            raise DeclarationNotFound(declaration_id)
        timeline = session.scalars(
            select(TimelineEntry)
            .where(TimelineEntry.declaration_id == row.id)
            .order_by(TimelineEntry.at, TimelineEntry.id)
        ).all()
        complements = session.scalars(
            select(ComplementRow)
            .where(ComplementRow.declaration_id == row.id)
            .order_by(ComplementRow.received_at)
        ).all()
        result = {
            "id": row.id,
            "reference": row.reference,
            "status": row.status,
            "received_at": _aware(row.received_at),
            "region_code": row.region_code,
            "recipients": row.recipients,
            "cpias_confirmed": row.cpias_confirmed_at is not None,
            "declaration": row.body,
            "complements": [
                {"id": c.id, "received_at": _aware(c.received_at), **c.body} for c in complements
            ],
            "timeline": [{"kind": t.kind, "at": _aware(t.at), **t.detail} for t in timeline],
        }
    # After the read transaction: on SQLite a second writer inside it would wait on itself.
    audit.record(sessions, AuditEntry, principal, "read", "declaration", declaration_id, address)
    return result


def republish_unconfirmed(
    sessions: sessionmaker[Session],
    *,
    older_than: dt.timedelta,
    now: dt.datetime | None = None,
    limit: int = 500,
) -> int:
    """Publish again every declaration the CPias has not confirmed in time (same event id, so
    every handler downstream treats the copy as a duplicate if the first one arrived)."""
    now = now or utcnow()
    with sessions() as session, session.begin():
        pending_outbox = exists().where(
            and_(Outbox.event_id == DeclarationRow.event_id, Outbox.published_at.is_(None))
        )
        rows = session.scalars(
            select(DeclarationRow)
            .where(
                DeclarationRow.cpias_confirmed_at.is_(None),
                DeclarationRow.last_published_at < now - older_than,
                ~pending_outbox,
            )
            .order_by(DeclarationRow.received_at)
            .limit(limit)
        ).all()
        for row in rows:
            session.add(outbox_row(Outbox, topics.DECLARATIONS, row.id, submitted_event(row)))
            row.last_published_at = now
            row.publish_count += 1
    REPUBLISHED.inc(len(rows))
    return len(rows)


def purge_idempotency_keys(
    sessions: sessionmaker[Session],
    *,
    older_than: dt.timedelta,
    now: dt.datetime | None = None,
) -> int:
    now = now or utcnow()
    with sessions() as session, session.begin():
        result = session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.created_at < now - older_than)
        )
    return int(getattr(result, "rowcount", 0) or 0)
