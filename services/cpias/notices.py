"""The messages the CPias service decides: a new case for the CPias team (in the
case-opening transaction), a complement attached to a case (in the transaction that attaches
it), a reminder before the acknowledgement deadline and a warning once it has passed (from the
deadline watch). Each is a NotificationRequested written to the outbox with the change, its id
derived from the declaration and the kind (and the complement), so a case never requests the
same message twice. They carry the reference, priority, establishment,
département and deadline, never the declaration's free text (docs/notifications.md)."""

from __future__ import annotations

import datetime as dt

from schemas import topics
from schemas.events import (
    NotificationKind,
    NotificationRequested,
    NotifiedEstablishment,
    Priority,
    notification_envelope,
    utcnow,
)
from services.cpias.domain.cases import Case
from services.cpias.ports import CpiasUnitOfWork


def request_notification(
    uow: CpiasUnitOfWork,
    case: Case,
    kind: NotificationKind,
    now: dt.datetime,
    *,
    complement_id: str | None = None,
) -> None:
    """Write the request to the outbox of the unit of work in progress. A complement's
    message shows no acknowledgement deadline: it is about the case's later life."""
    establishment = case.declaration["establishment"]
    request = NotificationRequested(
        kind=kind,
        declaration_id=case.declaration_id,
        reference=case.reference,
        priority=Priority(case.priority),
        region_code=case.region_code,
        cpias=case.cpias,
        establishment=NotifiedEstablishment(
            name=establishment["name"],
            finess=establishment.get("finess"),
            departement=establishment["departement"],
        ),
        requested_at=now,
        case_id=case.id,
        deadline=None if complement_id else case.ack_due_at,
        complement_id=complement_id,
    )
    uow.publish(topics.NOTIFICATIONS, case.declaration_id, notification_envelope(request))


def request_new_case(uow: CpiasUnitOfWork, case: Case, now: dt.datetime) -> None:
    """The CPias team's alert for a case just opened (in its opening transaction)."""
    request_notification(uow, case, NotificationKind.new_case, now)


def request_complement(
    uow: CpiasUnitOfWork, case: Case, complement_id: str, now: dt.datetime
) -> None:
    """The CPias team's message for a complement just attached to a case (in that
    transaction): the cause analysis and action plan the investigator waits for."""
    request_notification(uow, case, NotificationKind.complement, now, complement_id=complement_id)


def request_deadline_notices(
    uow: CpiasUnitOfWork,
    *,
    remind_before: dict[str, float],
    now: dt.datetime | None = None,
    limit: int = 500,
) -> int:
    """One pass of the deadline watch, in one unit of work: request a reminder for every new
    case whose deadline is near, a warning for every one whose deadline has passed, and
    record each so that no later pass requests it again. Returns how many were requested."""
    now = now or utcnow()
    with uow:
        due = uow.deadlines.due(now=now, remind_before=remind_before, limit=limit)
        for case, kind in due:
            request_notification(uow, case, NotificationKind(kind), now)
            uow.deadlines.add(case.id, kind, now)
        uow.commit()
    return len(due)
