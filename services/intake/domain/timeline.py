"""How events about a declaration become timeline entries and move its status."""

from __future__ import annotations

from typing import Any

from schemas.answers import RecipientConfirmation, TimelineEntry
from schemas.events import CaseStatusChanged, Milestone, RecipientAcknowledged, RoutingDecided
from services.intake.domain.records import DeclarationRecord, RecipientState, TimelineItem

# Declaration status follows the furthest milestone reached; reopening goes back.
STATUS_OF_MILESTONE = {
    "received": "received_by_cpias",
    "acknowledged": "acknowledged",
    "investigating": "investigating",
    "monitoring": "monitoring",
    "closed": "closed",
}

FollowedEvent = RoutingDecided | CaseStatusChanged | RecipientAcknowledged


def apply_event(record: DeclarationRecord, event_id: str, event: FollowedEvent) -> TimelineItem:
    """The timeline entry of `event`; updates the record's status, recipients, routing
    decision and CPias confirmation in place. The "routed" entry carries what the declarant
    still owes elsewhere (the decision's obligations)."""
    if isinstance(event, RoutingDecided):
        recipients = [r.id for r in event.decision.recipients]
        detail: dict[str, Any] = {
            "recipients": recipients,
            "priority": event.decision.priority.value,
            "rules_version": event.decision.rules_version,
        }
        if event.kind == "initial":
            # The first decision is kept: the one its recipients received, and the one its
            # complements will follow.
            if record.routing_decision is None:
                record.routing_decision = event.decision.model_dump(mode="json")
                record.recipients = recipients
                record.priority = event.decision.priority.value
            if record.status == "submitted":
                record.status = "routed"
            detail["obligations"] = [o.model_dump(mode="json") for o in event.decision.obligations]
        return TimelineItem(
            declaration_id=record.id,
            event_id=event_id,
            kind="routed" if event.kind == "initial" else "complement_routed",
            at=event.decided_at,
            detail=detail,
        )
    if isinstance(event, CaseStatusChanged):
        kind = event.milestone.value
        detail = {"cpias": event.cpias, "case_status": event.status}
        if event.outcome:
            detail["outcome"] = event.outcome
        if kind == "received" and record.cpias_confirmed_at is None:
            record.cpias_confirmed_at = event.changed_at
        # A "received" said again late (after a broker lost the first) never takes a
        # declaration back from a later status; nor does any change older than the one that
        # set the status (events published again, or by two relays, arrive out of order).
        if (
            kind in STATUS_OF_MILESTONE
            and not (kind == "received" and record.status not in ("submitted", "routed"))
            and (record.status_changed_at is None or event.changed_at >= record.status_changed_at)
        ):
            record.status = STATUS_OF_MILESTONE[kind]
            record.status_changed_at = event.changed_at
        return TimelineItem(record.id, event_id, kind, event.changed_at, detail)
    return TimelineItem(
        record.id,
        event_id,
        "recipient_acknowledged",
        event.acknowledged_at,
        {"recipient": event.recipient_id},
    )


def recipients_told(event: FollowedEvent) -> list[RecipientState]:
    """What the event says of the declaration's recipients: an initial routing decision names
    them (none confirmed yet); the CPias's "received" confirms the CPias (it opened the case);
    a RecipientAcknowledged confirms its recipient."""
    if isinstance(event, RoutingDecided):
        if event.kind != "initial":
            return []
        return [
            RecipientState(event.declaration_id, r.id, r.kind) for r in event.decision.recipients
        ]
    if isinstance(event, CaseStatusChanged):
        if event.milestone is not Milestone.received:
            return []
        return [RecipientState(event.declaration_id, event.cpias, "cpias", event.changed_at)]
    kind = recipient_kind(event.recipient_id)
    return [RecipientState(event.declaration_id, event.recipient_id, kind, event.acknowledged_at)]


def recipient_kind(recipient_id: str) -> str:
    """ "ars-84" -> "ars", "cpias-ara" -> "cpias", "spf" -> "spf": a recipient id is its kind,
    then its region or its CPias (schemas/topics.py)."""
    return recipient_id.partition("-")[0]


def confirmations(timeline: list[TimelineEntry]) -> list[RecipientConfirmation]:
    """Who confirmed holding the declaration, first time each, in the timeline's order."""
    first: dict[str, RecipientConfirmation] = {}
    for entry in timeline:
        who = (
            entry.cpias
            if entry.kind == "received"
            else entry.recipient
            if entry.kind == "recipient_acknowledged"
            else None
        )
        if who and who not in first:
            first[who] = RecipientConfirmation(recipient=who, confirmed_at=entry.at)
    return list(first.values())
