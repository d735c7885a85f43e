"""The router's handling of one event: messages, deterministic ids, complements, poison."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from iaspipe.kafka import PoisonMessage
from schemas.declaration import Complement, Declaration
from schemas.events import DeclarationComplemented, decode, envelope
from services.router.service import route
from tests.events import ROUTING, submitted
from tests.factories import make_declaration


def test_one_message_per_recipient_and_one_decision() -> None:
    env = submitted(
        make_declaration(
            criteria=["1a", "2", "3"],
            infection__deaths=1,
            products__drug={"description": "x", "already_declared": False},
        )
    )
    out = route(env.to_bytes(), ROUTING)
    assert [o.topic for o in out] == [
        "ias.to.ars-84.v1",
        "ias.to.spf.v1",
        "ias.to.cpias-ara.v1",
        "ias.to.crpv-84.v1",
        "ias.to.sra-84.v1",
        "ias.routing.v1",
    ]
    assert {o.key for o in out} == {env.correlation_id.__str__().encode()}
    for o in out[:-1]:
        routed_env, payload = decode(o.value)
        assert routed_env.event_type == "DeclarationRouted"
        assert routed_env.event_id == uuid.uuid5(env.event_id, payload.recipient.id)  # type: ignore[attr-defined]
        assert payload.priority.value == "urgent"  # type: ignore[attr-defined]
    decided_env, decided = decode(out[-1].value)
    assert decided_env.event_id == uuid.uuid5(env.event_id, "routing")
    assert decided.decision.rules_version == ROUTING.rules.version  # type: ignore[attr-defined]


def test_same_event_twice_gives_the_same_ids() -> None:
    env = submitted()
    first = [decode(o.value)[0].event_id for o in route(env.to_bytes(), ROUTING)]
    again = [decode(o.value)[0].event_id for o in route(env.to_bytes(), ROUTING)]
    assert first == again


def test_complement_goes_to_the_same_recipients() -> None:
    body = make_declaration(
        products__medical_device={"description": "cathéter", "already_declared": True}
    )
    initial = submitted(body)
    payload = DeclarationComplemented(
        declaration_id=str(initial.correlation_id),
        reference="IAS-2026-84-000001",
        received_at=dt.datetime.now(dt.UTC),
        complemented_at=dt.datetime.now(dt.UTC),
        complement=Complement(cause_analysis="Cause", action_plan=[{"action": "Plan"}]),
        declaration=Declaration.model_validate(body),
    )
    complemented = envelope(
        "DeclarationComplemented", payload, correlation_id=initial.correlation_id
    )
    first = [o.topic for o in route(initial.to_bytes(), ROUTING)]
    second = route(complemented.to_bytes(), ROUTING)
    assert [o.topic for o in second] == first
    routed = decode(second[0].value)[1]
    assert routed.kind == "complement"  # type: ignore[attr-defined]
    assert routed.complement.cause_analysis == "Cause"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "raw",
    [
        b"garbage",
        b"{}",
        json.dumps(
            {
                "event_id": str(uuid.uuid4()),
                "event_type": "CaseStatusChanged",
                "occurred_at": "2026-11-22T10:00:00Z",
                "correlation_id": str(uuid.uuid4()),
                "payload": {},
            }
        ).encode(),
    ],
)
def test_undecodable_or_unexpected_is_poison(raw: bytes) -> None:
    with pytest.raises(PoisonMessage):
        route(raw, ROUTING)


def test_declaration_breaking_the_rules_is_poison() -> None:
    env = submitted()
    raw = json.loads(env.to_bytes())
    raw["payload"]["declaration"]["criteria"] = ["3"]  # no death declared
    with pytest.raises(PoisonMessage, match=r"infection\.deaths"):
        route(json.dumps(raw).encode(), ROUTING)
