"""The messages a declarant gets, requested by intake when it learns of the routing
decision (the receipt: reference, recipients, obligations still owed) and of the case's
closure. Pure: built from the stored record and the followed event, never from the
declaration's free text (the content rule, docs/notifications.md)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from schemas.events import (
    CaseStatusChanged,
    Milestone,
    NotificationKind,
    NotificationRequested,
    NotifiedEstablishment,
    Priority,
    RoutingDecided,
)
from services.intake.domain.records import DeclarationRecord
from services.intake.domain.timeline import FollowedEvent


def requested_by(
    record: DeclarationRecord, event: FollowedEvent, *, decision_before: dict[str, Any] | None
) -> NotificationRequested | None:
    """The declarant's message this event calls for, if any: the receipt when the first
    routing decision arrives (`decision_before` is the record's decision before the event),
    the closing message when the CPias closes the case."""
    if isinstance(event, RoutingDecided):
        if event.kind != "initial" or decision_before is not None:
            return None
        decision = event.decision
        return _request(
            record,
            NotificationKind.receipt,
            priority=decision.priority,
            cpias=decision.cpias,
            at=event.decided_at,
            recipients=[r.id for r in decision.recipients],
            obligations=decision.obligations,
        )
    if isinstance(event, CaseStatusChanged) and event.milestone is Milestone.closed:
        decided = record.routing_decision or {}
        return _request(
            record,
            NotificationKind.case_closed,
            priority=Priority(decided.get("priority", Priority.normal.value)),
            cpias=event.cpias,
            at=event.changed_at,
            case_id=event.case_id,
            outcome=event.outcome,
        )
    return None


def _request(
    record: DeclarationRecord,
    kind: NotificationKind,
    *,
    priority: Priority,
    cpias: str,
    at: dt.datetime,
    **extra: Any,
) -> NotificationRequested:
    establishment = record.body["establishment"]
    return NotificationRequested(
        kind=kind,
        declaration_id=record.id,
        reference=record.reference,
        priority=priority,
        region_code=record.region_code,
        cpias=cpias,
        establishment=NotifiedEstablishment(
            name=establishment["name"],
            finess=establishment.get("finess"),
            departement=record.departement,
        ),
        requested_at=at,
        declarant_email=record.body["declarant"]["email"],
        submitted_by=record.submitted_by,
        **extra,
    )
