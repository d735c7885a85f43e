"""CPias consumer: DeclarationRouted from every CPias topic opens (or completes) one case.

Each record is one transaction holding its effect and its processed event id; offsets are
committed by the loop afterwards. A unique-key conflict means another copy won: skip."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from iaspipe.kafka import Outgoing, PoisonMessage
from schemas.events import DeclarationRouted, UndecodableEvent, decode
from schemas.reference import ReferenceData
from schemas.topics import recipient_topic
from services.cpias import service

log = logging.getLogger(__name__)


def cpias_topics(ref: ReferenceData) -> list[str]:
    return [recipient_topic(c) for c in ref.cpias_ids]


def make_handler(sessions: sessionmaker[Session], ack_hours: dict[str, float]) -> Any:
    def handle(record: Any) -> Sequence[Outgoing]:
        try:
            env, payload = decode(record.value, {"DeclarationRouted"})
        except UndecodableEvent as exc:
            raise PoisonMessage(str(exc)) from exc
        assert isinstance(payload, DeclarationRouted)
        if payload.recipient.kind != "cpias" or payload.priority.value not in ack_hours:
            raise PoisonMessage(f"not a CPias delivery (recipient {payload.recipient.id})")
        try:
            with sessions() as session, session.begin():
                done = service.handle_routed(
                    session, str(env.event_id), payload, ack_hours=ack_hours
                )
        except IntegrityError:
            done = False
            service.DUPLICATES.inc()
        log.info(
            "topic=%s partition=%d offset=%d event=%s declaration=%s %s",
            record.topic,
            record.partition,
            record.offset,
            env.event_id,
            payload.declaration_id,
            "handled" if done else "duplicate skipped",
        )
        return []

    return handle
