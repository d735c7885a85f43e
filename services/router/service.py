"""Routing one event: the decision, one DeclarationRouted per recipient, one RoutingDecided.

Event ids derive from the source event id (uuid5 with the recipient), so a redelivered source
produces byte-identical copies that every consumer recognises as duplicates."""

from __future__ import annotations

import functools
import time
from typing import Literal

from prometheus_client import Counter, Histogram

from iaspipe.kafka import Outgoing, PoisonMessage
from schemas import topics
from schemas.events import (
    Decision,
    DeclarationComplemented,
    DeclarationRouted,
    DeclarationSubmitted,
    EventHead,
    RecipientDecision,
    RoutingDecided,
    UndecodableEvent,
    decode,
    derived_event_text,
    envelope_bytes,
    timestamp,
    utcnow,
)
from services.router.domain.decide import UnroutableDeclaration, decide
from services.router.domain.routing_rules import RoutingData

ROUTED = Counter("router_routed_total", "Messages sent to recipients", ["recipient_kind", "region"])
DECISIONS = Counter("router_decisions_total", "Routing decisions", ["priority", "kind", "region"])
LATENCY = Histogram("router_processing_seconds", "Time to decide and build one event's messages")
END_TO_END = Histogram(
    "router_event_age_seconds",
    "Age of a declaration event when the router handles it",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
)

EXPECTED = {"DeclarationSubmitted", "DeclarationComplemented"}

# A counter's labelled child, looked up once per set of labels (a few dozen: kinds, regions,
# priorities): `labels()` checks and joins its arguments on every call.
_routed = functools.cache(ROUTED.labels)
_decided = functools.cache(DECISIONS.labels)
_ROUTED_JSON = DeclarationRouted.__pydantic_serializer__
_RECIPIENT_JSON = RecipientDecision.__pydantic_serializer__
_DECIDED_JSON = RoutingDecided.__pydantic_serializer__


def route(raw: bytes | None, data: RoutingData) -> list[Outgoing]:
    """Messages to send for one record of ias.declarations.v1; PoisonMessage if impossible.

    A complement carrying the initial decision (intake stores it) goes to exactly those
    recipients, with their legal bases and the rules version that chose them, whatever rules
    or reference data are in force now: it is not decided again."""
    started = time.perf_counter()
    try:
        env, payload = decode(raw, EXPECTED)
    except UndecodableEvent as exc:
        raise PoisonMessage(str(exc)) from exc
    assert isinstance(payload, DeclarationSubmitted | DeclarationComplemented)
    if isinstance(payload, DeclarationComplemented) and payload.initial_decision is not None:
        decision = payload.initial_decision
    else:
        decision = _decide(payload, data)
    out = messages_for(env, payload, decision)
    LATENCY.observe(time.perf_counter() - started)
    END_TO_END.observe(max((utcnow() - env.occurred_at).total_seconds(), 0))
    return out


def _decide(payload: DeclarationSubmitted | DeclarationComplemented, data: RoutingData) -> Decision:
    # Intake is the gate: what it accepted, under whichever rules were in force then, is
    # routed. The router does not apply the coherence rules again: a declaration accepted
    # before a rule was added (a republication, a complement) would be dead-lettered, and a
    # declaration that got a 2xx must reach each recipient. Only what cannot be routed at
    # all (a département the routing data does not know) is poison.
    try:
        warnings = payload.warnings if isinstance(payload, DeclarationSubmitted) else None
        return decide(payload.declaration, data, warnings)
    except UnroutableDeclaration as exc:
        raise PoisonMessage(str(exc)) from exc


def messages_for(
    env: EventHead, payload: DeclarationSubmitted | DeclarationComplemented, decision: Decision
) -> list[Outgoing]:
    """One DeclarationRouted per recipient and the RoutingDecided. The declaration is
    encoded once for all recipients: each message is that text with its own recipient."""
    kind: Literal["initial", "complement"] = (
        "initial" if isinstance(payload, DeclarationSubmitted) else "complement"
    )
    complement = payload.complement if isinstance(payload, DeclarationComplemented) else None
    key = payload.declaration_id.encode()
    headers = [("rules_version", decision.rules_version.encode())]
    now = utcnow()
    at = timestamp(now)
    # The payload's JSON as bytes straight from pydantic-core (`to_json`; `model_dump_json`
    # decodes them to str, which each message would encode again).
    shared = memoryview(
        _ROUTED_JSON.to_json(
            DeclarationRouted.model_construct(  # type: ignore[call-arg]  # recipient: below
                declaration_id=payload.declaration_id,
                reference=payload.reference,
                kind=kind,
                source_event_id=env.event_id,
                received_at=payload.received_at,
                region_code=decision.region_code,
                cpias=decision.cpias,
                priority=decision.priority,
                rules_version=decision.rules_version,
                declaration=payload.declaration,
                complement=complement,
            ),
            exclude={"recipient"},
        )
    )[1:]
    routed_headers = [("event_type", b"DeclarationRouted"), *headers]
    out = []
    for recipient in decision.recipients:
        value = envelope_bytes(
            "DeclarationRouted",
            b'{"recipient":',
            _RECIPIENT_JSON.to_json(recipient),
            b",",
            shared,
            event_id=derived_event_text(env.event_id, recipient.id),
            correlation_id=env.correlation_id,
            occurred_at=at,
        )
        out.append(Outgoing(recipient.topic, key, value, routed_headers))
        _routed(recipient.kind, decision.region_code).inc()
    decided = RoutingDecided(
        declaration_id=payload.declaration_id,
        reference=payload.reference,
        kind=kind,
        source_event_id=env.event_id,
        decided_at=now,
        decision=decision,
    )
    value = envelope_bytes(
        "RoutingDecided",
        _DECIDED_JSON.to_json(decided),
        event_id=derived_event_text(env.event_id, "routing"),
        correlation_id=env.correlation_id,
        occurred_at=at,
    )
    out.append(Outgoing(topics.ROUTING, key, value, [("event_type", b"RoutingDecided"), *headers]))
    _decided(decision.priority.value, kind, decision.region_code).inc()
    return out
