"""Intake use cases. Each takes the unit of work (services/intake/ports.py), does its reads
and writes inside it, and ends with its single commit: the declaration, its timeline entry,
its outbox row and its audit row are committed together or not at all."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeGuard

from pydantic import TypeAdapter

from iaspipe.errors import InvalidRequest
from iaspipe.principal import Caller, Principal
from iaspipe.uow import CommitConflict
from schemas import topics
from schemas.answers import (
    ComplementAccepted,
    DeclarationBreakdown,
    DeclarationPage,
    DeclarationView,
    LineListPage,
    Tally,
    WeekFigures,
    WeeklyFigures,
)
from schemas.declaration import Complement, Criterion, Declaration, DeclarationAccepted
from schemas.events import (
    CaseStatusChanged,
    Decision,
    DeclarationComplemented,
    Envelope,
    Milestone,
    envelope,
    notification_envelope,
    utcnow,
)
from schemas.problems import Problem
from schemas.reference import ReferenceData, local_today
from schemas.validation import (
    check_complement,
    coherence_problems,
    complement_warnings,
    declaration_warnings,
    text_problems,
)
from services.intake import metrics
from services.intake.domain import figures, notices, policy
from services.intake.domain.records import (
    ComplementKeyConflict,
    DeclarationNotFound,
    DeclarationRecord,
    HeldComplement,
    IdempotencyConflict,
    KeyTaken,
    RecipientState,
    StoredAnswer,
    TimelineItem,
)
from services.intake.domain.submission import (
    REFERENCE_MARK,
    NewDeclaration,
    key_scope,
    new_id,
    split_on_reference,
    submitted_event_json,
)
from services.intake.domain.timeline import (
    FollowedEvent,
    apply_event,
    confirmations,
    recipients_told,
)
from services.intake.ports import IntakeUnitOfWork, Submissions

WARNINGS = TypeAdapter(list[Problem])
REFUSED_DETAIL = "Déclaration non conforme / Declaration not valid"


@dataclass(frozen=True)
class Submission:
    """The answer to a submission, as JSON text: the first one again for a replay."""

    status_code: int
    body_json: str
    replayed: bool = False

    @property
    def body(self) -> DeclarationAccepted:
        return DeclarationAccepted.model_validate_json(self.body_json)


def count_refused(problems: list[Problem]) -> None:
    """`intake_declarations_refused_total`: once for each rule a refused request broke."""
    for rule in {p.rule for p in problems}:
        metrics.REFUSED.labels(rule).inc()


def _refuse(problems: list[Problem]) -> InvalidRequest:
    count_refused(problems)
    return InvalidRequest(problems, REFUSED_DETAIL)


def validate(decl: Declaration, *, today: dt.date, ref: ReferenceData) -> list[Problem]:
    """Refuse a declaration that breaks a rule; else its warnings (never blocking)."""
    problems = coherence_problems(decl, today=today, ref=ref) + text_problems(decl)
    if problems:
        raise _refuse(problems)
    return declaration_warnings(decl, ref=ref)


def request_hash(body_json: str) -> str:
    return hashlib.sha256(body_json.encode()).hexdigest()


def submitted_event(record: DeclarationRecord) -> bytes:
    """The DeclarationSubmitted event of a stored declaration (to publish it again): the same
    event id, and bytes made by the same function as at submission."""
    return submitted_event_json(
        event_id=record.event_id,
        declaration_id=record.id,
        reference=record.reference,
        received_at=record.received_at,
        declaration_json=json.dumps(record.body, ensure_ascii=False, separators=(",", ":")),
    ).encode()


async def replay_of(
    submissions: Submissions, decl: Declaration, *, caller: Caller, idempotency_key: str | None
) -> Submission | None:
    """The first answer to this body under this key, if there is one (IdempotencyConflict
    for another body): a retry gets it whatever would refuse a new submission now (rules
    changed since, the establishment's rate spent)."""
    if not idempotency_key:
        return None
    stored = await submissions.answer(key_scope(caller), idempotency_key)
    return _replayed(stored, request_hash(decl.model_dump_json()), idempotency_key)


def _replayed(stored: StoredAnswer | None, digest: str, key: str) -> Submission | None:
    if stored is None:
        return None
    if stored.request_hash != digest:
        conflict = IdempotencyConflict(key)
        count_refused(conflict.problems())
        raise conflict
    return Submission(stored.status_code, json.dumps(stored.response), replayed=True)


def new_declaration(
    decl: Declaration,
    *,
    ref: ReferenceData,
    caller: Caller,
    idempotency_key: str | None,
    now: dt.datetime,
    year: int,
    warnings: list[Problem],
) -> NewDeclaration:
    """Every row of a valid declaration, its JSON encoded once."""
    dep = ref.departements[decl.establishment.departement]
    day = figures.received_on(dep.code, now)
    body_json = decl.model_dump_json()
    declaration_id, event_id = new_id(), new_id()
    event = submitted_event_json(
        event_id=event_id,
        declaration_id=declaration_id,
        reference=REFERENCE_MARK,
        received_at=now,
        declaration_json=body_json,
        warnings_json=WARNINGS.dump_json(warnings).decode(),
    )
    answer = DeclarationAccepted.model_construct(
        id=declaration_id,
        reference=REFERENCE_MARK,
        status="submitted",
        received_at=now,
        warnings=warnings,
    ).model_dump_json()
    return NewDeclaration(
        id=declaration_id,
        event_id=event_id,
        region_code=dep.region_code,
        year=year,
        departement=dep.code,
        finess=decl.establishment.finess,
        body_json=body_json,
        received_at=now,
        caller=caller,
        idempotency_key=idempotency_key,
        idempotency_scope=key_scope(caller),
        request_hash=request_hash(body_json),
        event_halves=split_on_reference(event),
        answer_halves=split_on_reference(answer),
        received_on=day,
        week=figures.week_of(day),
        facets=tuple(
            figures.facets(
                decl.criteria,
                (
                    {"species": p.species, "resistance": p.resistance, "mechanism": p.mechanism}
                    for p in decl.infection.pathogens
                ),
            )
        ),
    )


async def submit_declaration(
    submissions: Submissions,
    decl: Declaration,
    *,
    ref: ReferenceData,
    caller: Caller,
    idempotency_key: str | None = None,
    now: dt.datetime | None = None,
) -> Submission:
    """Validate, number and store a declaration with its outbox row, in one unit of work.

    Dates are checked against today in the declaration's département (its time zone), and
    the reference's year is that day's year. With an idempotency key, a retry of the same
    body returns the first answer and another body under the same key raises
    IdempotencyConflict. The key is looked up only when the store says it is taken (or the
    body no longer passes the rules): a first submission costs one round trip, or a share of
    one when submissions arrive together.
    """
    now = now or utcnow()
    policy.check_may_declare(caller.principal, decl.establishment.finess)
    today = local_today(decl.establishment.departement, now)
    try:
        warnings = validate(decl, today=today, ref=ref)
    except InvalidRequest:
        replay = await replay_of(submissions, decl, caller=caller, idempotency_key=idempotency_key)
        if replay:
            return replay
        raise
    new = new_declaration(
        decl,
        ref=ref,
        caller=caller,
        idempotency_key=idempotency_key,
        now=now,
        year=today.year,
        warnings=warnings,
    )
    try:
        reference = await submissions.add(new)
    except KeyTaken:
        assert idempotency_key is not None
        stored = await submissions.answer(new.idempotency_scope, idempotency_key)
        replay = _replayed(stored, new.request_hash, idempotency_key)
        if replay is None:  # purged between the two calls: try once more
            reference = await submissions.add(new)
        else:
            return replay
    metrics.ACCEPTED.labels(new.region_code).inc()
    for criterion in decl.criteria:
        metrics.RECEIVED.labels(new.region_code, criterion.value).inc()
    return Submission(201, reference.join(new.answer_halves))


def store_submission(uow: IntakeUnitOfWork, new: NewDeclaration) -> str:
    """The unit of work of a submission through the repositories (SQLite, and PostgreSQL when
    not on the single-statement path); returns the reference. KeyTaken if the idempotency key
    is stored already."""
    with uow:
        scope = new.idempotency_scope
        if new.idempotency_key and uow.idempotency.get(scope, new.idempotency_key) is not None:
            raise KeyTaken(new.idempotency_key)
        sequence = uow.numbers.next(new.region_code, new.year)
        reference = new.reference(sequence)
        uow.declarations.add(
            DeclarationRecord(
                id=new.id,
                reference=reference,
                region_code=new.region_code,
                year=new.year,
                sequence=sequence,
                departement=new.departement,
                finess=new.finess,
                status="submitted",
                body=json.loads(new.body_json),
                received_at=new.received_at,
                event_id=new.event_id,
                submitted_by=new.caller.subject,
                last_published_at=new.received_at,
                received_on=new.received_on,
                week=new.week,
            )
        )
        uow.declarations.add_facets(new)
        uow.timeline.add(TimelineItem(new.id, new.event_id, "submitted", new.received_at))
        uow.publish_raw(
            new.topic, new.id, new.event_id, "DeclarationSubmitted", new.event_bytes(reference)
        )
        uow.audit(new.caller, "submit", "declaration", new.id)
        if new.idempotency_key:
            stored = StoredAnswer(new.request_hash, 201, new.answer(reference))
            uow.idempotency.add(scope, new.idempotency_key, stored, new.received_at)
        try:
            uow.commit()
        except CommitConflict:
            if new.idempotency_key:
                raise KeyTaken(new.idempotency_key) from None
            raise
    return reference


def stored_answer(uow: IntakeUnitOfWork, scope: str, key: str) -> StoredAnswer | None:
    with uow:
        stored = uow.idempotency.get(scope, key)
        uow.commit()
    return stored


def _readable(
    uow: IntakeUnitOfWork,
    declaration_id: str,
    principal: Principal,
    ref: ReferenceData,
    *,
    for_update: bool = False,
) -> DeclarationRecord:
    record = uow.declarations.get(declaration_id, for_update=for_update)
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
    idempotency_key: str | None = None,
    now: dt.datetime | None = None,
) -> ComplementAccepted:
    """Attach a complement (R1413-80, second paragraph) and publish DeclarationComplemented
    with the initial routing decision, so that it reaches the same recipients. A declaration
    the caller may not read is reported as not found. A complement of a declaration whose
    decision has not come back yet is stored held, and published when the decision arrives
    (`follow_events`): never refused, never guessed. With an idempotency key, a retry of the same
    complement returns the first answer (its id derives from the declaration and the key)
    and another complement under that key is a 409."""
    try:
        return _complement(uow, declaration_id, body, caller, ref, idempotency_key, now)
    except CommitConflict:  # the same retry stored meanwhile by another request
        return _complement(uow, declaration_id, body, caller, ref, idempotency_key, now)


def _complement(
    uow: IntakeUnitOfWork,
    declaration_id: str,
    body: object,
    caller: Caller,
    ref: ReferenceData,
    key: str | None,
    now: dt.datetime | None,
) -> ComplementAccepted:
    now = now or utcnow()
    with uow:
        # Locked while the complement is stored: the routing decision coming back at the same
        # moment (follow_events) waits, then releases it; or it came first, and the complement
        # is not held. Never held after its release.
        record = _readable(uow, declaration_id, caller.principal, ref, for_update=True)
        policy.check_may_complement(caller.principal, record)
        complement, problems = check_complement(body)
        if complement is None:
            raise _refuse(problems)
        held = record.routing_decision is None and not record.recipients
        complement_id = _complement_id(record, caller, key)
        complement_json = complement.model_dump(mode="json")
        stored = uow.complements.get(complement_id) if key else None
        if stored is not None:
            if stored[0] != complement_json:
                raise ComplementKeyConflict(key)
            return ComplementAccepted(
                id=complement_id,
                declaration_id=declaration_id,
                received_at=stored[1],
                warnings=complement_warnings(complement),
            )
        uow.complements.add(complement_id, record.id, complement_json, now, held=held)
        uow.timeline.add(TimelineItem(record.id, complement_id, "complement_submitted", now))
        if not held:
            uow.publish(
                topics.DECLARATIONS,
                record.id,
                _complemented_event(record, complement, complement_id, now),
            )
        uow.audit(caller, "complement", "declaration", record.id)
        uow.commit()
    return ComplementAccepted(
        id=complement_id,
        declaration_id=declaration_id,
        received_at=now,
        warnings=complement_warnings(complement),
    )


def _complement_id(record: DeclarationRecord, caller: Caller, key: str | None) -> str:
    """A complement's id: from the declaration and the idempotency key within its sender's
    scope (`key_scope`), so that a retry finds its first answer and another sender's key is
    another complement; random without a key. The declaring establishment's own keys keep
    the id they always had ("complement:KEY")."""
    if not key:
        return str(uuid.uuid4())
    scope = key_scope(caller)
    own = record.finess is not None and scope == f"finess:{record.finess}"
    name = f"complement:{key}" if own else f"complement:{scope}:{key}"
    return str(uuid.uuid5(uuid.UUID(record.id), name))


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
        # None only for declarations routed before decisions were stored (rules v1): the
        # router then decides their recipients again.
        initial_decision=(
            Decision.model_validate(record.routing_decision) if record.routing_decision else None
        ),
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
        timeline = uow.timeline.of(record.id)
        view = DeclarationView(
            id=record.id,
            reference=record.reference,
            status=record.status,
            received_at=record.received_at,
            region_code=record.region_code,
            recipients=record.recipients,
            cpias_confirmed=record.cpias_confirmed_at is not None,
            confirmed_by=confirmations(timeline),
            declaration=Declaration.model_validate(record.body),
            complements=uow.complements.of(record.id),
            timeline=timeline,
        )
        uow.audit(caller, "read", "declaration", declaration_id)
        uow.commit()
    return view


def follow_event(uow: IntakeUnitOfWork, event_id: str, event: FollowedEvent) -> bool:
    """Add a routing decision, case milestone or acknowledgement to its declaration's
    timeline, and request the declarant's message it calls for (the receipt, the closing
    message) in the same transaction. False when intake does not hold that declaration. A
    second copy of the same event raises CommitConflict (its event id is unique in the
    timeline), so it requests nothing twice."""
    with uow:
        record = uow.declarations.get(event.declaration_id)
        if record is None:
            return False
        decided_before = record.routing_decision is not None
        uow.timeline.add(_follow(uow, record, event_id, event))
        uow.declarations.note_recipients(recipients_told(event))
        _publish_held(uow, [record] if not decided_before else [])
        uow.declarations.save_progress(record)
        uow.commit()
    return True


@dataclass(frozen=True)
class Followed:
    """What one batch of followed events did."""

    added: int = 0
    already_known: int = 0
    unknown_declaration: int = 0


def follow_events(uow: IntakeUnitOfWork, events: Sequence[tuple[str, FollowedEvent]]) -> Followed:
    """`follow_event` for the events of one poll, in order, in one transaction: the events
    already in the timeline (a redelivery, or two copies in the poll) are passed over, so
    nothing is requested twice; events about declarations intake does not hold are skipped.
    Each declaration's record is read once and written once, after its last event."""
    with uow:
        known = uow.timeline.known([event_id for event_id, _ in events])
        records = uow.declarations.get_many(
            {event.declaration_id for _, event in events}, for_update=True
        )
        changed: dict[str, DeclarationRecord] = {}
        entries: list[TimelineItem] = []
        told: list[RecipientState] = []  # the recipients named, and those that confirmed
        undecided = {i for i, r in records.items() if r.routing_decision is None}
        added = already = unknown = 0
        complements: set[str] = set()  # confirmed by the CPias, by id
        unnamed: set[str] = set()  # declarations whose complements were all confirmed
        for event_id, event in events:
            if _confirms_a_complement(event):
                # Even a copy: its first arrival may predate complements' confirmation.
                if event.complement_id:
                    complements.add(event.complement_id)
                else:
                    unnamed.add(event.declaration_id)
            if event_id in known:
                already += 1
                continue
            record = records.get(event.declaration_id)
            if record is None:
                unknown += 1
                continue
            known.add(event_id)
            entries.append(_follow(uow, record, event_id, event))
            told.extend(recipients_told(event))
            changed[record.id] = record
            added += 1
        uow.timeline.add(*entries)
        uow.declarations.note_recipients(told)
        if complements or unnamed:
            uow.complements.confirm(utcnow(), ids=complements, declarations=unnamed)
        _publish_held(
            uow, [r for r in changed.values() if r.id in undecided and r.routing_decision]
        )
        uow.declarations.save_progress(*changed.values())
        uow.commit()
    return Followed(added, already, unknown)


def _publish_held(uow: IntakeUnitOfWork, decided: list[DeclarationRecord]) -> None:
    """Publish the complements held for these declarations, whose initial routing decision
    just came back, with that decision (one query for them all)."""
    by_id = {r.id: r for r in decided if r.routing_decision is not None}
    _publish_complements(uow, by_id, uow.complements.release_held(by_id.keys(), utcnow()))


def _publish_complements(
    uow: IntakeUnitOfWork,
    records: Mapping[str, DeclarationRecord],
    complements: Sequence[HeldComplement],
) -> None:
    """Publish stored complements (their declarations' records in `records`), each under its
    own id as event id."""
    for stored in complements:
        record = records[stored.declaration_id]
        complement = Complement.model_validate(stored.body)
        uow.publish(
            topics.DECLARATIONS,
            record.id,
            _complemented_event(record, complement, stored.id, stored.received_at),
        )


def _confirms_a_complement(event: FollowedEvent) -> TypeGuard[CaseStatusChanged]:
    return isinstance(event, CaseStatusChanged) and event.milestone is Milestone.complement_received


def _follow(
    uow: IntakeUnitOfWork, record: DeclarationRecord, event_id: str, event: FollowedEvent
) -> TimelineItem:
    """The event's timeline entry (the caller adds it), and the declarant's message it calls
    for; the record changes in place (the caller saves it)."""
    decision_before = record.routing_decision
    entry = apply_event(record, event_id, event)
    notice = notices.requested_by(record, event, decision_before=decision_before)
    if notice is not None:
        uow.publish(topics.NOTIFICATIONS, record.id, notification_envelope(notice))
    return entry


def republish_unconfirmed(
    uow: IntakeUnitOfWork,
    *,
    older_than: dt.timedelta,
    now: dt.datetime | None = None,
    limit: int = 500,
    awaited_kinds: Collection[str] = (),
) -> int:
    """Publish again every declaration the CPias, or a recipient of one of `awaited_kinds`,
    has not confirmed in time, and every complement the CPias has not (same event id, so every
    handler downstream treats the copy as a duplicate if the first one arrived); how many
    were."""
    now = now or utcnow()
    with uow:
        records = uow.declarations.unconfirmed(
            published_before=now - older_than, limit=limit, awaited_kinds=awaited_kinds
        )
        for record in records:
            uow.publish_raw(
                topics.DECLARATIONS,
                record.id,
                record.event_id,
                "DeclarationSubmitted",
                submitted_event(record),
            )
        uow.declarations.mark_republished([r.id for r in records], now)
        # A complement still held whose decision came back (a release missed): sent now.
        stranded = uow.complements.held_of_decided(limit)
        _publish_held(uow, list(uow.declarations.get_many(stranded).values()))
        complements = uow.complements.unconfirmed(published_before=now - older_than, limit=limit)
        of = uow.declarations.get_many({c.declaration_id for c in complements})
        _publish_complements(uow, of, complements)
        uow.complements.mark_republished([c.id for c in complements], now)
        uow.commit()
    metrics.REPUBLISHED.inc(len(records))
    metrics.COMPLEMENTS_REPUBLISHED.inc(len(complements))
    return len(records) + len(complements)


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


# -- regional figures (docs/ars.md) ---------------------------------------------------------

BREAKDOWN_COLUMNS = ("departement", "priority", "status")
BREAKDOWN_FACETS = (figures.CRITERION, figures.PATHOGEN, figures.RESISTANCE, figures.MECHANISM)
CRITERIA = tuple(c.value for c in Criterion)


def _scope_and_period(
    caller: Caller, ref: ReferenceData, asked: figures.Asked, now: dt.datetime | None
) -> tuple[policy.ReadScope, figures.Period]:
    """Whose declarations the caller's figures count (policy.figures_scope), and over which
    days (the last 52 weeks of the region by default)."""
    scope = policy.figures_scope(caller.principal, ref, asked.region)
    today = figures.region_today(scope.region_code, ref, now or utcnow())
    return scope, figures.Period.of(asked.since, asked.until, today)


def weekly_figures(
    uow: IntakeUnitOfWork,
    *,
    caller: Caller,
    ref: ReferenceData,
    region: str | None,
    weeks: int,
    departement: str | None = None,
    now: dt.datetime | None = None,
) -> WeeklyFigures:
    """Declarations per ISO week and criterion over the last `weeks` weeks, in the caller's
    figures scope (policy.figures_scope), or in one of its départements; the read is
    audited."""
    scope = policy.figures_scope(caller.principal, ref, region)
    if departement is not None:
        scope = policy.within_departement(scope, departement)
    today = figures.region_today(scope.region_code, ref, now or utcnow())
    mondays = figures.week_range(today, weeks)
    with uow:
        totals, by_criterion = uow.figures.weekly(scope, mondays[0])
        uow.audit(caller, "read:figures", "declaration", scope.region_code or "*")
        uow.commit()
    return WeeklyFigures(
        region_code=scope.region_code,
        departement=departement,
        weeks=[
            WeekFigures(week=m, iso_week=figures.iso_week(m), total=total, by_criterion=counts)
            for m, total, counts in figures.by_week(mondays, totals, by_criterion, CRITERIA)
        ],
    )


def declaration_breakdown(
    uow: IntakeUnitOfWork,
    *,
    caller: Caller,
    ref: ReferenceData,
    asked: figures.Asked,
    top: int,
    now: dt.datetime | None = None,
) -> DeclarationBreakdown:
    """The period's declarations (the last 52 weeks by default) counted by département,
    criterion, micro-organism, resistance, mechanism, priority and status; audited."""
    scope, period = _scope_and_period(caller, ref, asked, now)
    with uow:
        counted = {
            f"by_{column}": uow.figures.by_column(scope, period, column, top)
            for column in BREAKDOWN_COLUMNS
        } | {
            f"by_{kind}": uow.figures.by_facet(scope, period, kind, top)
            for kind in BREAKDOWN_FACETS
        }
        total = uow.figures.total(scope, period)
        uow.audit(caller, "read:figures", "declaration", scope.region_code or "*")
        uow.commit()
    return DeclarationBreakdown(
        region_code=scope.region_code,
        since=period.since,
        until=period.until,
        total=total,
        **{
            name: [Tally(key=key or "", count=n) for key, n in counts]
            for name, counts in counted.items()
        },
    )


def line_list(
    uow: IntakeUnitOfWork,
    *,
    caller: Caller,
    ref: ReferenceData,
    asked: figures.Asked,
    filters: figures.LineFilters,
    limit: int,
    offset: int = 0,
    cursor: str | None = None,
    count: bool = True,
    now: dt.datetime | None = None,
) -> LineListPage:
    """A page of the line list of the caller's figures scope, newest first, filtered; each
    row without free text nor declarant (LineListRow). `cursor` (from the previous page's
    `next_cursor`) continues after that page, whatever arrived since. Audited as a list."""
    scope, period = _scope_and_period(caller, ref, asked, now)
    after = figures.Cursor.decode(cursor) if cursor else None
    with uow:
        window = figures.Window(limit=limit, offset=offset, after=after, count=count)
        rows, total = uow.figures.line_list(scope, period, filters, window)
        uow.audit(caller, "list", "declaration", scope.region_code or "*")
        uow.commit()
    last = rows[-1] if len(rows) == limit else None
    return LineListPage(
        region_code=scope.region_code,
        since=period.since,
        until=period.until,
        items=rows,
        total=total,
        limit=limit,
        offset=offset,
        next_cursor=figures.Cursor(last.received_at, last.id).encode() if last else None,
    )
