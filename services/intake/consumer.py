"""Intake follows what happens to each declaration: routing decisions (ias.routing.v1) and
case milestones and acknowledgements (ias.status.v1) become timeline entries.

Each record is one transaction; its event id is unique in the timeline, so a redelivered
record changes nothing. Events about declarations this intake does not hold are skipped."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from iaspipe.kafka import Outgoing, PoisonMessage
from schemas.events import (
    CaseStatusChanged,
    RecipientAcknowledged,
    RoutingDecided,
    UndecodableEvent,
    decode,
)
from services.intake.adapters.orm import DeclarationRow, TimelineEntry

log = logging.getLogger(__name__)

EXPECTED = {"RoutingDecided", "CaseStatusChanged", "RecipientAcknowledged"}
# Declaration status follows the furthest milestone reached; reopening goes back.
STATUS_OF_MILESTONE = {
    "received": "received_by_cpias",
    "acknowledged": "acknowledged",
    "investigating": "investigating",
    "monitoring": "monitoring",
    "closed": "closed",
}


def make_handler(sessions: sessionmaker[Session]) -> Any:
    def handle(record: Any) -> Sequence[Outgoing]:
        try:
            env, payload = decode(record.value, EXPECTED)
        except UndecodableEvent as exc:
            raise PoisonMessage(str(exc)) from exc
        try:
            with sessions() as session, session.begin():
                _apply(session, str(env.event_id), payload)
        except IntegrityError:
            log.info("event=%s already in the timeline", env.event_id)
        return []

    return handle


def _apply(session: Session, event_id: str, payload: Any) -> None:
    row = session.get(DeclarationRow, payload.declaration_id)
    if row is None:
        log.info("event=%s for unknown declaration=%s skipped", event_id, payload.declaration_id)
        return
    if isinstance(payload, RoutingDecided):
        recipients = [r.id for r in payload.decision.recipients]
        kind = "routed" if payload.kind == "initial" else "complement_routed"
        detail = {
            "recipients": recipients,
            "priority": payload.decision.priority.value,
            "rules_version": payload.decision.rules_version,
        }
        at = payload.decided_at
        if payload.kind == "initial":
            row.recipients = recipients
            if row.status == "submitted":
                row.status = "routed"
    elif isinstance(payload, CaseStatusChanged):
        kind = payload.milestone.value
        detail = {"cpias": payload.cpias, "case_status": payload.status}
        if payload.outcome:
            detail["outcome"] = payload.outcome
        at = payload.changed_at
        if payload.milestone.value == "received" and row.cpias_confirmed_at is None:
            row.cpias_confirmed_at = at
        if kind in STATUS_OF_MILESTONE:
            row.status = STATUS_OF_MILESTONE[kind]
    elif isinstance(payload, RecipientAcknowledged):
        kind, at = "recipient_acknowledged", payload.acknowledged_at
        detail = {"recipient": payload.recipient_id}
    else:  # pragma: no cover - decode() only returns the expected types
        return
    session.add(
        TimelineEntry(declaration_id=row.id, event_id=event_id, kind=kind, at=at, detail=detail)
    )
