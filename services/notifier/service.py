"""Notifier use cases. A request is stored with its messages in one unit of work; a message
is claimed, sent, then recorded as sent: the record is checked before sending and written
after, so a message is sent once, and one the server did not take is tried again later."""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from iaspipe.http.refusals import REFUSED
from iaspipe.principal import Caller, Role, require
from schemas.events import NotificationKind, NotificationRequested, utcnow
from schemas.notifications import (
    AddressBook,
    ArsAddressChanged,
    ArsAddressIn,
    ArsAddressView,
    Audience,
    CpiasAddressChanged,
    CpiasAddressIn,
    CpiasAddressView,
    MessageStatus,
    NonUrgent,
    NotificationPage,
)
from schemas.reference import ReferenceData
from services.notifier import metrics
from services.notifier.domain import messages
from services.notifier.domain.address_book import ArsEntry, CpiasEntry, UnknownMailbox
from services.notifier.domain.content import Facts, digest_facts, facts_of
from services.notifier.domain.messages import Message, PermanentSendError, TransientSendError
from services.notifier.domain.policy import can_read, shows_address
from services.notifier.ports import Mail, NotifierUnitOfWork, Renderer, Sender

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]


def accept_request(
    uow: NotifierUnitOfWork,
    event_id: str,
    request: NotificationRequested,
    *,
    audiences: dict[NotificationKind, list[Audience]],
    now: dt.datetime | None = None,
) -> bool:
    """Store a notification request with the messages it calls for (recipients resolved
    from the address book now). False when this event was already stored; a copy stored
    concurrently raises CommitConflict."""
    return accept_requests(uow, [(event_id, request)], audiences=audiences, now=now) == 1


def accept_requests(
    uow: NotifierUnitOfWork,
    requests: Sequence[tuple[str, NotificationRequested]],
    *,
    audiences: dict[NotificationKind, list[Audience]],
    now: dt.datetime | None = None,
) -> int:
    """`accept_request` for the requests of one poll, in order, in one transaction; the
    requests already stored (a redelivery, or two copies in the poll) are passed over and
    counted as duplicates. How many were stored."""
    now = now or utcnow()
    planned: list[messages.Plan] = []
    stored: list[tuple[str, NotificationRequested, bool]] = []
    with uow:
        known = uow.requests.known([event_id for event_id, _ in requests])
        ars_of: dict[str, ArsEntry | None] = {}
        cpias_of: dict[str, CpiasEntry | None] = {}
        for event_id, request in requests:
            if event_id in known:
                metrics.DUPLICATES.inc()
                continue
            known.add(event_id)
            if request.region_code not in ars_of:
                ars_of[request.region_code] = uow.book.ars(request.region_code)
            if request.cpias not in cpias_of:
                cpias_of[request.cpias] = uow.book.cpias(request.cpias)
            ars = ars_of[request.region_code]
            plan = messages.plan(
                event_id,
                request,
                audiences=audiences.get(request.kind, []),
                cpias=cpias_of[request.cpias],
                ars_address=ars.address if ars else None,
                now=now,
            )
            stored.append((event_id, request, plan.awaits_digest))
            planned.append(plan)
        made = [m for plan in planned for m in plan.messages]
        uow.requests.add(stored, at=now)
        uow.messages.add(*made)
        uow.commit()
    for message in made:
        if message.status is MessageStatus.no_address:
            metrics.NO_ADDRESS.labels(message.kind, message.audience.value).inc()
            log.warning(
                "message=%s kind=%s audience=%s: no address in the book",
                message.message_id,
                message.kind,
                message.audience.value,
            )
    return len(planned)


def compose_digests(
    uow: NotifierUnitOfWork, *, now: dt.datetime, hour: int, ref: ReferenceData
) -> int:
    """Make the day's digest of every CPias whose digest hour has come: one message per
    CPias and day (its id says which) with the non-urgent new cases opened before that hour
    (and any older ones left waiting). A case opened after the hour waits for tomorrow's,
    even on a day with no digest yet. A case opened before the hour but heard of after its
    day's digest went (the notifier restarted, a backlog) is sent at once, on its own: it
    does not wait a day more, past its deadline."""
    made = 0
    with uow:
        waiting: dict[str, list[tuple[str, NotificationRequested]]] = defaultdict(list)
        for event_id, request in uow.requests.awaiting_digest():
            waiting[request.cpias].append((event_id, request))
        for cpias, requests in waiting.items():
            zone = messages.cpias_time_zone(ref, cpias)
            day = messages.digest_day(zone, now, hour)
            if day is None:
                continue
            due = [
                (event_id, request)
                for event_id, request in requests
                if messages.digest_day_of(zone, request.requested_at, hour) <= day
            ]
            if not due:
                continue
            entry = uow.book.cpias(cpias)
            if uow.messages.exists(messages.digest_id(cpias, day)):
                for event_id, request in due:  # too late for it: at once
                    [alone] = messages.plan(
                        event_id,
                        request,
                        audiences=[Audience.cpias],
                        cpias=entry,
                        ars_address=None,
                        now=now,
                        digest=False,
                    ).messages
                    uow.messages.add(alone)
                    uow.requests.attach_to_digest([event_id], alone.message_id)
                continue
            digest = messages.digest_message(cpias, day, entry, now)
            uow.messages.add(digest)
            uow.requests.attach_to_digest([event_id for event_id, _ in due], digest.message_id)
            made += 1
        uow.commit()
    return made


@dataclass(frozen=True)
class Delivery:
    """How messages are sent: links, batches, claims and retries (from the settings)."""

    portal_url: str
    batch_size: int
    claim_for: dt.timedelta
    retry_base_seconds: float
    retry_max_seconds: float


def _facts(
    uow: NotifierUnitOfWork,
    message: Message,
    requests: dict[str, NotificationRequested],
    delivery: Delivery,
    ref: ReferenceData,
) -> Facts:
    if message.kind == messages.DIGEST:
        listed = uow.requests.of_digest(message.message_id)
        cpias = listed[0].cpias
        day = message.created_at.astimezone(messages.cpias_time_zone(ref, cpias)).date()
        return digest_facts(cpias, day, listed, portal_url=delivery.portal_url, ref=ref)
    assert message.request_event_id is not None
    request = requests.get(message.request_event_id)
    assert request is not None, f"message {message.message_id} without its request"
    return facts_of(request, message.audience.value, portal_url=delivery.portal_url, ref=ref)


def send_due(
    uow_factory: Callable[[], NotifierUnitOfWork],
    *,
    sender: Sender,
    renderer: Renderer,
    delivery: Delivery,
    ref: ReferenceData,
    clock: Clock = utcnow,
) -> int:
    """One pass: claim the messages due, send each, and record each sending in its own
    transaction once the server has taken it. A transient failure schedules the message
    again with backoff (and, when the server is unreachable, the rest of the batch too); a
    permanent refusal records the message as failed. Returns how many were sent."""
    now = clock()
    with uow_factory() as uow:
        claimed = uow.messages.claim_due(now, now + delivery.claim_for, delivery.batch_size)
        requests = uow.requests.get_many(
            [m.request_event_id for m in claimed if m.request_event_id]
        )
        batch = [(m, _facts(uow, m, requests, delivery, ref)) for m in claimed]
        uow.commit()
    sent = 0
    for index, (message, facts) in enumerate(batch):
        assert message.to is not None
        mail = Mail(message.message_id, message.kind, message.to, renderer.render(facts))
        try:
            sender.send(mail)
        except TransientSendError as exc:
            retry_at = _retry(uow_factory, message, exc, delivery, clock)
            if exc.unavailable:
                with uow_factory() as uow:
                    uow.messages.release([m.message_id for m, _ in batch[index + 1 :]], retry_at)
                    uow.commit()
                break
            continue
        except PermanentSendError as exc:
            with uow_factory() as uow:
                uow.messages.mark_failed(
                    message.message_id, attempts=message.attempts + 1, error=str(exc)[:200]
                )
                uow.commit()
            metrics.FAILED.labels(message.kind, "permanent").inc()
            log.error(
                "message=%s kind=%s refused for good: %s", message.message_id, message.kind, exc
            )
            continue
        with uow_factory() as uow:
            uow.messages.mark_sent(message.message_id, clock())
            uow.commit()
        metrics.SENT.labels(message.kind).inc()
        sent += 1
    return sent


def _retry(
    uow_factory: Callable[[], NotifierUnitOfWork],
    message: Message,
    exc: TransientSendError,
    delivery: Delivery,
    clock: Clock,
) -> dt.datetime:
    attempts = message.attempts + 1
    delay = messages.retry_delay(
        attempts, base=delivery.retry_base_seconds, cap=delivery.retry_max_seconds
    )
    retry_at = clock() + delay
    with uow_factory() as uow:
        uow.messages.mark_retry(
            message.message_id, attempts=attempts, next_attempt_at=retry_at, error=str(exc)[:200]
        )
        uow.commit()
    metrics.FAILED.labels(message.kind, "transient").inc()
    log.warning(
        "message=%s kind=%s not sent (%s); attempt %d, next in %.0fs",
        message.message_id,
        message.kind,
        exc,
        attempts,
        delay.total_seconds(),
    )
    return retry_at


def list_notifications(
    uow: NotifierUnitOfWork, declaration_id: str, *, caller: Caller
) -> NotificationPage:
    """What was sent (or is to be sent) about a declaration, to whom and when, if the caller
    may read that declaration; nothing otherwise. The read is audited."""
    with uow:
        scope = uow.requests.scope_of(declaration_id)
        readable = scope is not None and can_read(caller.principal, scope)
        items = [
            m if shows_address(caller.principal, m.audience) else m.model_copy(update={"to": None})
            for m in (uow.messages.of_declaration(declaration_id) if readable else [])
        ]
        if readable or scope is None:
            # Nothing known of the declaration yet (its receipt not asked for: the portal
            # shows its own declaration before) is an ordinary read of nothing.
            uow.audit(caller, "read", "notifications", declaration_id)
        else:
            # Answered as an empty list, as a declaration with nothing sent yet is, but a
            # read of another scope's declaration is a refusal in the audit log and the
            # refusals' count, as a 404 elsewhere is.
            uow.audit(
                caller,
                "read",
                "notifications",
                declaration_id,
                outcome="refused",
                reason="not_found",
            )
            REFUSED.labels("notifier", "not_found").inc()
        uow.commit()
    return NotificationPage(declaration_id=declaration_id, items=items)


def _cpias_view(cpias: str, entry: CpiasEntry | None, ref: ReferenceData) -> CpiasAddressView:
    names = {d.cpias_id: d.cpias_name for d in ref.departements.values()}
    return CpiasAddressView(
        cpias=cpias,
        name=names[cpias],
        address=entry.address if entry else None,
        non_urgent=entry.non_urgent if entry else NonUrgent.immediate,
        updated_at=entry.updated_at if entry else None,
        updated_by=entry.updated_by if entry else None,
    )


def _ars_view(region_code: str, entry: ArsEntry | None, ref: ReferenceData) -> ArsAddressView:
    names = {d.region_code: d.region_name for d in ref.departements.values()}
    return ArsAddressView(
        region_code=region_code,
        name=names[region_code],
        address=entry.address if entry else None,
        updated_at=entry.updated_at if entry else None,
        updated_by=entry.updated_by if entry else None,
    )


def address_book(
    uow: NotifierUnitOfWork, *, caller: Caller, ref: ReferenceData, digest_hour: int | None = None
) -> AddressBook:
    """Every CPias and ARS region with its address, and the digest's hour (admins)."""
    require(caller.principal, Role.admin)
    with uow:
        cpias, ars = uow.book.all_cpias(), uow.book.all_ars()
        uow.audit(caller, "read", "address_book", "*")
        uow.commit()
    return AddressBook(
        cpias=[_cpias_view(c, cpias.get(c), ref) for c in ref.cpias_ids],
        ars=[_ars_view(r, ars.get(r), ref) for r in ref.region_codes],
        digest_hour=digest_hour,
    )


def set_cpias_address(
    uow: NotifierUnitOfWork,
    cpias: str,
    body: CpiasAddressIn,
    *,
    caller: Caller,
    ref: ReferenceData,
    now: dt.datetime | None = None,
) -> CpiasAddressChanged:
    """Set a CPias team's mailbox and its choice for non-urgent new cases (admins, audited).
    It applies to the requests received from now on, and to the team's messages of the last
    72 hours that found no address (`_send_the_waiting`)."""
    require(caller.principal, Role.admin)
    if cpias not in ref.cpias_ids:
        raise UnknownMailbox("cpias", cpias)
    now = now or utcnow()
    with uow:
        uow.book.put_cpias(cpias, body.address, body.non_urgent, at=now, by=caller.subject)
        uow.audit(caller, "address_book:update", "cpias", cpias)
        entry = uow.book.cpias(cpias)
        waiting = _send_the_waiting(uow, Audience.cpias, ("cpias", cpias), body.address, now)
        uow.commit()
    view = _cpias_view(cpias, entry, ref)
    return CpiasAddressChanged.model_validate({**view.model_dump(), "readdressed": waiting})


# How far back a message left without an address is sent once one is set: the longest
# acknowledgement deadline (a normal case's, 72 h) — an older alert would only mislead.
WAITING_FOR_AN_ADDRESS = dt.timedelta(hours=72)


def _send_the_waiting(
    uow: NotifierUnitOfWork, audience: Audience, where: tuple[str, str], to: str, now: dt.datetime
) -> int:
    """The messages of the last `WAITING_FOR_AN_ADDRESS` that found no address for this
    CPias team or ARS go to the address just set (the digests excepted: the next one lists
    the cases it missed); how many."""
    waiting = uow.messages.readdress(
        audience, where=where, to=to, since=now - WAITING_FOR_AN_ADDRESS, now=now
    )
    if waiting:
        log.info("%d message(s) without an address now sent to the new one", waiting)
    return waiting


def set_ars_address(
    uow: NotifierUnitOfWork,
    region_code: str,
    body: ArsAddressIn,
    *,
    caller: Caller,
    ref: ReferenceData,
    now: dt.datetime | None = None,
) -> ArsAddressChanged:
    """Set the mailbox of an ARS region (admins, audited); its messages of the last 72 hours
    that found no address go to it."""
    require(caller.principal, Role.admin)
    if region_code not in ref.region_codes:
        raise UnknownMailbox("region_code", region_code)
    now = now or utcnow()
    with uow:
        uow.book.put_ars(region_code, body.address, at=now, by=caller.subject)
        uow.audit(caller, "address_book:update", "ars", region_code)
        entry = uow.book.ars(region_code)
        waiting = _send_the_waiting(
            uow, Audience.ars, ("region_code", region_code), body.address, now
        )
        uow.commit()
    view = _ars_view(region_code, entry, ref)
    return ArsAddressChanged.model_validate({**view.model_dump(), "readdressed": waiting})


def seed_address_book(
    uow: NotifierUnitOfWork,
    *,
    cpias: dict[str, CpiasAddressIn],
    ars: dict[str, str],
    ref: ReferenceData,
    now: dt.datetime | None = None,
) -> None:
    """Write the configured addresses the book does not hold yet. Unknown ids refuse the
    start (a typo would silently leave a team without messages)."""
    unknown = sorted(set(cpias) - set(ref.cpias_ids)) + sorted(set(ars) - set(ref.region_codes))
    if unknown:
        raise ValueError(f"address book: unknown CPias or region {', '.join(unknown)}")
    now = now or utcnow()
    with uow:
        for cpias_id, entry in cpias.items():
            uow.book.seed_cpias(cpias_id, entry.address, entry.non_urgent, now)
        for region_code, address in ars.items():
            uow.book.seed_ars(region_code, address, now)
        uow.commit()


def pending_summary(uow: NotifierUnitOfWork) -> tuple[int, dt.datetime | None]:
    with uow:
        summary = uow.messages.pending_summary()
        uow.commit()
    return summary
