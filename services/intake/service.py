"""Intake use cases. Each takes the unit of work (services/intake/ports.py), does its reads
and writes inside it, and ends with its single commit: the declaration, its timeline entry,
its outbox row and its audit row are committed together or not at all."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from iaspipe.errors import InvalidRequest
from iaspipe.principal import Caller, Principal
from iaspipe.uow import CommitConflict
from schemas import topics
from schemas.answers import ComplementAccepted, DeclarationPage, DeclarationView
from schemas.declaration import Complement, Declaration, DeclarationAccepted
from schemas.events import (
    DeclarationComplemented,
    DeclarationSubmitted,
    Envelope,
    envelope,
    utcnow,
)
from schemas.problems import Problem
from schemas.reference import ReferenceData
from schemas.validation import anonymity_problems, check_complement, coherence_problems
from services.intake import metrics
from services.intake.domain import policy
from services.intake.domain.records import (
    DeclarationNotFound,
    DeclarationRecord,
    IdempotencyConflict,
    StoredAnswer,
    TimelineItem,
)
from services.intake.domain.timeline import FollowedEvent, apply_event
from services.intake.ports import IntakeUnitOfWork

REFUSED_DETAIL = "Déclaration non conforme / Declaration not valid"


@dataclass(frozen=True)
class Submission:
    status_code: int
    body: DeclarationAccepted
    replayed: bool = False


def local_today(tz: str, now: dt.datetime) -> dt.date:
    return now.astimezone(ZoneInfo(tz)).date()


def _refuse(problems: list[Problem]) -> InvalidRequest:
    for rule in {p.rule for p in problems}:
        metrics.REFUSED.labels(rule).inc()
    return InvalidRequest(problems, REFUSED_DETAIL)


def validate(decl: Declaration, *, today: dt.date, ref: ReferenceData) -> None:
    problems = coherence_problems(decl, today=today, ref=ref) + anonymity_problems(decl)
    if problems:
        raise _refuse(problems)


def request_hash(decl: Declaration) -> str:
    return hashlib.sha256(decl.model_dump_json().encode()).hexdigest()


def submitted_event(record: DeclarationRecord, decl: Declaration | None = None) -> Envelope:
    """The DeclarationSubmitted event of a stored declaration: identical bytes every time."""
    payload = DeclarationSubmitted.model_construct(
        declaration_id=record.id,
        reference=record.reference,
        received_at=record.received_at,
        declaration=decl or Declaration.model_validate(record.body),
    )
    return envelope(
        "DeclarationSubmitted",
        payload,
        event_id=uuid.UUID(record.event_id),
        correlation_id=uuid.UUID(record.id),
        occurred_at=record.received_at,
    )


def _replay(uow: IntakeUnitOfWork, key: str, digest: str) -> Submission | None:
    stored = uow.idempotency.get(key)
    if stored is None:
        return None
    if stored.request_hash != digest:
        raise IdempotencyConflict(key)
    return Submission(
        stored.status_code, DeclarationAccepted.model_validate(stored.response), replayed=True
    )


def submit_declaration(
    uow: IntakeUnitOfWork,
    decl: Declaration,
    *,
    ref: ReferenceData,
    tz: str,
    caller: Caller,
    idempotency_key: str | None = None,
    now: dt.datetime | None = None,
) -> Submission:
    """Validate, number and store a declaration with its outbox row, in one transaction.

    With an idempotency key, a retry of the same body returns the first answer and another
    body under the same key raises IdempotencyConflict.
    """
    now = now or utcnow()
    policy.check_may_declare(caller.principal, decl.establishment.finess)
    digest = request_hash(decl)
    if idempotency_key:
        with uow:
            replay = _replay(uow, idempotency_key, digest)
        if replay:
            return replay
    validate(decl, today=local_today(tz, now), ref=ref)
    dep = ref.departements[decl.establishment.departement]
    year = now.astimezone(ZoneInfo(tz)).year
    declaration_id, event_id = str(uuid.uuid4()), str(uuid.uuid4())
    try:
        with uow:
            # The number is taken first of the writes; see ReferenceNumbers for its lock.
            seq = uow.numbers.next(dep.region_code, year)
            record = DeclarationRecord(
                id=declaration_id,
                reference=f"IAS-{year}-{dep.region_code}-{seq:06d}",
                region_code=dep.region_code,
                year=year,
                sequence=seq,
                departement=dep.code,
                finess=decl.establishment.finess,
                status="submitted",
                body=decl.model_dump(mode="json"),
                received_at=now,
                event_id=event_id,
                submitted_by=caller.subject,
                last_published_at=now,
            )
            answer = DeclarationAccepted.model_construct(
                id=record.id, reference=record.reference, status=record.status, received_at=now
            )
            uow.declarations.add(record)
            uow.timeline.add(TimelineItem(record.id, event_id, "submitted", now))
            uow.publish(topics.DECLARATIONS, record.id, submitted_event(record, decl))
            uow.audit(caller, "submit", "declaration", record.id)
            if idempotency_key:
                stored = StoredAnswer(digest, 201, answer.model_dump(mode="json"))
                uow.idempotency.add(idempotency_key, stored, now)
            uow.commit()
    except CommitConflict:
        # Two retries with one key raced: the other one committed first.
        if idempotency_key:
            with uow:
                replay = _replay(uow, idempotency_key, digest)
            if replay:
                return replay
        raise
    metrics.ACCEPTED.labels(dep.region_code).inc()
    for criterion in decl.criteria:
        metrics.RECEIVED.labels(dep.region_code, criterion.value).inc()
    return Submission(201, answer)


def _readable(
    uow: IntakeUnitOfWork, declaration_id: str, principal: Principal, ref: ReferenceData
) -> DeclarationRecord:
    record = uow.declarations.get(declaration_id)
    if record is None or not policy.can_read(principal, record, ref):
        raise DeclarationNotFound(declaration_id)
    return record


def complement_declaration(
    uow: IntakeUnitOfWork,
    declaration_id: str,
    body: object,
    *,
    caller: Caller,
    ref: ReferenceData,
    now: dt.datetime | None = None,
) -> ComplementAccepted:
    """Attach a complement (R1413-80, second paragraph) and publish DeclarationComplemented.
    A declaration the caller may not read is reported as not found."""
    now = now or utcnow()
    with uow:
        record = _readable(uow, declaration_id, caller.principal, ref)
        policy.check_may_complement(caller.principal, record)
        complement, problems = check_complement(body)
        if complement is None:
            raise _refuse(problems)
        complement_id = str(uuid.uuid4())
        uow.complements.add(complement_id, record.id, complement.model_dump(mode="json"), now)
        uow.timeline.add(TimelineItem(record.id, complement_id, "complement_submitted", now))
        uow.publish(
            topics.DECLARATIONS,
            record.id,
            _complemented_event(record, complement, complement_id, now),
        )
        uow.audit(caller, "complement", "declaration", record.id)
        uow.commit()
    return ComplementAccepted(id=complement_id, declaration_id=declaration_id, received_at=now)


def _complemented_event(
    record: DeclarationRecord, complement: Complement, complement_id: str, now: dt.datetime
) -> Envelope:
    payload = DeclarationComplemented(
        declaration_id=record.id,
        reference=record.reference,
        received_at=record.received_at,
        complemented_at=now,
        complement=complement,
        declaration=Declaration.model_validate(record.body),
    )
    return envelope(
        "DeclarationComplemented",
        payload,
        event_id=uuid.UUID(complement_id),
        correlation_id=uuid.UUID(record.id),
        occurred_at=now,
    )


def get_declaration(
    uow: IntakeUnitOfWork,
    declaration_id: str,
    *,
    caller: Caller,
    ref: ReferenceData,
) -> DeclarationView:
    """The declaration and its timeline, if the caller may read it (else not found); the
    read is audited in the same transaction."""
    with uow:
        record = _readable(uow, declaration_id, caller.principal, ref)
        view = DeclarationView(
            id=record.id,
            reference=record.reference,
            status=record.status,
            received_at=record.received_at,
            region_code=record.region_code,
            recipients=record.recipients,
            cpias_confirmed=record.cpias_confirmed_at is not None,
            declaration=Declaration.model_validate(record.body),
            complements=uow.complements.of(record.id),
            timeline=uow.timeline.of(record.id),
        )
        uow.audit(caller, "read", "declaration", declaration_id)
        uow.commit()
    return view


def follow_event(uow: IntakeUnitOfWork, event_id: str, event: FollowedEvent) -> bool:
    """Add a routing decision, case milestone or acknowledgement to its declaration's
    timeline. False when intake does not hold that declaration. A second copy of the same
    event raises CommitConflict (its event id is unique in the timeline)."""
    with uow:
        record = uow.declarations.get(event.declaration_id)
        if record is None:
            return False
        uow.timeline.add(apply_event(record, event_id, event))
        uow.declarations.save_progress(record)
        uow.commit()
    return True


def republish_unconfirmed(
    uow: IntakeUnitOfWork,
    *,
    older_than: dt.timedelta,
    now: dt.datetime | None = None,
    limit: int = 500,
) -> int:
    """Publish again every declaration the CPias has not confirmed in time (same event id, so
    every handler downstream treats the copy as a duplicate if the first one arrived)."""
    now = now or utcnow()
    with uow:
        records = uow.declarations.unconfirmed(published_before=now - older_than, limit=limit)
        for record in records:
            uow.publish(topics.DECLARATIONS, record.id, submitted_event(record))
        uow.declarations.mark_republished([r.id for r in records], now)
        uow.commit()
    metrics.REPUBLISHED.inc(len(records))
    return len(records)


def purge_idempotency_keys(
    uow: IntakeUnitOfWork, *, older_than: dt.timedelta, now: dt.datetime | None = None
) -> int:
    now = now or utcnow()
    with uow:
        purged = uow.idempotency.purge(now - older_than)
        uow.commit()
    return purged


def list_declarations(
    uow: IntakeUnitOfWork, *, caller: Caller, ref: ReferenceData, limit: int, offset: int
) -> DeclarationPage:
    """The declarations the caller may read (the same scope as `get_declaration`), newest
    first; the read is audited in the same transaction."""
    scope = policy.read_scope(caller.principal, ref)
    with uow:
        page = uow.listing.page(scope, limit=limit, offset=offset)
        uow.audit(caller, "list", "declaration", "*")
        uow.commit()
    return page
