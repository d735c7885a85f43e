"""The router's handling of one event: messages, deterministic ids, complements, poison."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from iaspipe.kafka import Outgoing, PoisonMessage
from schemas.declaration import Complement, Declaration
from schemas.events import (
    Decision,
    DeclarationComplemented,
    DeclarationRouted,
    Envelope,
    Priority,
    RecipientDecision,
    RoutingDecided,
    decode,
    envelope,
)
from services.router.domain.decide import UnroutableDeclaration, decide
from services.router.service import route
from tests.events import ROUTING, changed_routing, submitted
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


def _complemented(
    initial: Envelope, body: dict[str, Any], initial_decision: Decision | None
) -> Envelope:
    payload = DeclarationComplemented(
        declaration_id=str(initial.correlation_id),
        reference="IAS-2026-84-000001",
        received_at=dt.datetime.now(dt.UTC),
        complemented_at=dt.datetime.now(dt.UTC),
        complement=Complement(cause_analysis="Cause", action_plan=[{"action": "Plan"}]),
        declaration=Declaration.model_validate(body),
        initial_decision=initial_decision,
    )
    return envelope("DeclarationComplemented", payload, correlation_id=initial.correlation_id)


def _decision_of(out: list[Outgoing]) -> Decision:
    decided = decode(out[-1].value)[1]
    assert isinstance(decided, RoutingDecided)
    return decided.decision


def test_complement_goes_to_the_recipients_of_the_initial_decision() -> None:
    body = make_declaration(
        products__medical_device={"description": "cathéter", "already_declared": True}
    )
    initial = submitted(body)
    first = route(initial.to_bytes(), ROUTING)
    decision = _decision_of(first)
    second = route(_complemented(initial, body, decision).to_bytes(), ROUTING)
    assert [o.topic for o in second] == [o.topic for o in first]
    routed = decode(second[0].value)[1]
    assert isinstance(routed, DeclarationRouted)
    assert routed.kind == "complement"
    assert routed.complement is not None and routed.complement.cause_analysis == "Cause"
    assert _decision_of(second) == decision


def test_complement_follows_the_initial_decision_when_rules_and_reference_changed(
    tmp_path: Path,
) -> None:
    body = make_declaration(
        criteria=["1a", "2", "4"],
        infection__notifiable_disease="legionellosis",
        products__medical_device={"description": "Douche", "already_declared": False},
    )
    initial = submitted(body)
    first = route(initial.to_bytes(), ROUTING)
    decision = _decision_of(first)
    changed = changed_routing(tmp_path)
    # Under the changed data the declaration could not be decided again (legionellosis is
    # no longer listed): the complement goes where the initial declaration went.
    with pytest.raises(UnroutableDeclaration, match="legionellosis"):
        decide(Declaration.model_validate(body), changed)

    second = route(_complemented(initial, body, decision).to_bytes(), changed)

    assert [o.topic for o in second] == [o.topic for o in first]
    assert "ias.to.ansm.v1" in [o.topic for o in second]
    for out in second[:-1]:
        routed = decode(out.value)[1]
        assert isinstance(routed, DeclarationRouted)
        assert routed.kind == "complement"
        assert routed.rules_version == "2026-11-v2"
        assert routed.recipient == next(r for r in decision.recipients if r.topic == out.topic)
    assert _decision_of(second) == decision
    assert dict(second[0].headers)["rules_version"] == b"2026-11-v2"


def test_complement_routed_under_v1_keeps_its_v1_recipients() -> None:
    body = make_declaration(criteria=["1a", "3"], infection__deaths=1)
    initial = submitted(body)
    v1 = Decision(
        region_code="84",
        cpias="cpias-ara",
        priority=Priority.urgent,
        rules_version="2026-11-v1",
        recipients=[
            RecipientDecision(
                id=rid, kind=rid.split("-")[0], topic=f"ias.to.{rid}.v1", legal_basis=[b], reason=""
            )
            for rid, b in (
                ("ars-84", "R1413-79"),
                ("spf", "R1413-82"),
                ("cpias-ara", "R6111-17"),
                ("sra-84", "R1413-68"),
            )
        ],
    )
    out = route(_complemented(initial, body, v1).to_bytes(), ROUTING)
    assert [o.topic for o in out][:-1] == [r.topic for r in v1.recipients]
    assert _decision_of(out).rules_version == "2026-11-v1"


def test_complement_without_a_stored_decision_is_decided_under_the_rules_in_force() -> None:
    body = make_declaration()
    initial = submitted(body)
    out = route(_complemented(initial, body, None).to_bytes(), ROUTING)
    assert [o.topic for o in out] == [o.topic for o in route(initial.to_bytes(), ROUTING)]
    assert _decision_of(out).rules_version == ROUTING.rules.version


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


def test_a_declaration_intake_accepted_under_earlier_rules_is_routed() -> None:
    """Intake is the gate. A body the rules in force would refuse (criterion 3 with a death
    and no infected patient, accepted before that rule existed), republished or complemented
    later, still reaches its recipients: it is not dead-lettered."""
    env = submitted()
    raw = json.loads(env.to_bytes())
    decl = raw["payload"]["declaration"]
    decl["criteria"] = ["3"]
    decl["infection"].update(cases_infected=0, cases_colonised=1, deaths=1)
    out = route(json.dumps(raw).encode(), ROUTING)
    assert [o.topic for o in out][-1] == "ias.routing.v1"
    assert "ias.to.cpias-ara.v1" in [o.topic for o in out]
    _, routed = decode(out[0].value)
    assert routed.priority.value == "urgent"  # type: ignore[attr-defined]


def test_a_notifiable_disease_the_routing_data_lacks_is_poison(tmp_path: Path) -> None:
    """Criterion 4 with a disease the lists no longer hold (republished after they changed)
    is held in the dead letters, not routed as if it were not notifiable: that would drop
    its L3113-1 basis, its obligation and its urgent priority without a word."""
    body = make_declaration(criteria=["1a", "4"], infection__notifiable_disease="legionellosis")
    assert decode(route(submitted(body).to_bytes(), ROUTING)[0].value)[1].priority == "urgent"  # type: ignore[attr-defined]
    with pytest.raises(PoisonMessage, match="unknown notifiable disease 'legionellosis'"):
        route(submitted(body).to_bytes(), changed_routing(tmp_path))


def test_a_declaration_of_a_departement_the_routing_data_lacks_is_poison() -> None:
    env = submitted()
    raw = json.loads(env.to_bytes())
    raw["payload"]["declaration"]["establishment"]["departement"] = "96"
    raw["payload"]["declaration"]["establishment"]["finess"] = None
    with pytest.raises(PoisonMessage, match="96"):
        route(json.dumps(raw).encode(), ROUTING)
