"""Intake's status consumer follows the events of a poll in one transaction, on SQLite and
PostgreSQL: each event once (copies in the poll or already followed are passed over), the
declaration's record read and written once, the declarant's receipt requested once, poison
records still dead-lettered one by one by the loop."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select, update

from iaspipe.kafka import PoisonMessage
from schemas import topics
from schemas.events import (
    CaseStatusChanged,
    Milestone,
    RecipientAcknowledged,
    RoutingDecided,
    decode,
    envelope,
)
from services.intake import service as intake_service
from services.intake.adapters.orm import Outbox as IntakeOutbox
from services.intake.adapters.uow import SqlIntakeUnitOfWork
from services.intake.app import create_app as intake_app
from services.intake.consumer import StatusConsumer
from services.intake.reconciliation import Reconciler
from services.intake.settings import IntakeSettings
from services.router.service import route
from tests.events import ROUTING, outbox_events
from tests.factories import make_declaration
from tests.test_notification_requests import requests_in


@pytest.fixture
def intake(database_url: str, auth_settings: Any, tokens: Any) -> Iterator[Any]:
    settings = IntakeSettings(database_url=database_url, auth=auth_settings)
    app = intake_app(settings, start_workers=False)
    with TestClient(app) as client:
        client.headers.update(tokens.headers("admin"))
        consumer = StatusConsumer(settings, lambda: SqlIntakeUnitOfWork(app.state.sessions))
        yield app, client, consumer


def record(value: bytes, offset: int = 0) -> SimpleNamespace:
    return SimpleNamespace(value=value, offset=offset, topic=topics.STATUS, partition=0)


def routing_of(app: Any, declaration_id: str) -> bytes:
    out = route(outbox_events(app.state.sessions, declaration_id)[0], ROUTING)
    return next(o.value for o in out if o.topic == topics.ROUTING)


def received(
    declaration_id: str,
    reference: str,
    milestone: Milestone = Milestone.received,
    complement_id: str | None = None,
    changed_at: dt.datetime | None = None,
) -> bytes:
    """The CPias's CaseStatusChanged: the case opened, or (`complement_received`) the
    complement `complement_id` attached to it, or another milestone."""
    statuses = {Milestone.received: "new", Milestone.complement_received: "acknowledged"}
    event = CaseStatusChanged(
        declaration_id=declaration_id,
        reference=reference,
        case_id="case-1",
        cpias="cpias-ara",
        milestone=milestone,
        status=statuses.get(milestone, milestone.value),
        changed_at=changed_at or dt.datetime.now(dt.UTC),
        complement_id=complement_id,
    )
    return envelope("CaseStatusChanged", event, correlation_id=uuid.uuid4()).to_bytes()


def test_a_poll_is_followed_in_one_transaction_each_event_once(intake: Any) -> None:
    app, client, consumer = intake
    first = client.post("/v1/declarations", json=make_declaration()).json()
    second = client.post("/v1/declarations", json=make_declaration()).json()
    routed_first, routed_second = routing_of(app, first["id"]), routing_of(app, second["id"])
    got_first = received(first["id"], first["reference"])
    unknown = received(str(uuid.uuid4()), "IAS-2026-84-999999")
    poll = [routed_first, got_first, routed_first, unknown, routed_second]
    prepared = [consumer.prepare(record(v, i)) for i, v in enumerate(poll)]
    assert consumer.handle_batch(prepared) == []

    one = client.get(f"/v1/declarations/{first['id']}").json()
    assert [t["kind"] for t in one["timeline"]] == ["submitted", "routed", "received"]
    assert (one["status"], one["cpias_confirmed"]) == ("received_by_cpias", True)
    decision = decode(routed_first)[1]
    assert isinstance(decision, RoutingDecided)
    assert one["recipients"] == [r.id for r in decision.decision.recipients]
    two = client.get(f"/v1/declarations/{second['id']}").json()
    assert [t["kind"] for t in two["timeline"]] == ["submitted", "routed"]
    assert two["status"] == "routed"
    # One receipt each, whatever the copies
    receipts = [p.declaration_id for _, p in requests_in(app.state.sessions, IntakeOutbox)]
    assert sorted(receipts) == sorted([first["id"], second["id"]])

    # The whole poll again (a redelivery after a crash before the offsets' commit): nothing
    # more in the timelines, no second receipt.
    consumer.handle_batch([consumer.prepare(record(v, i)) for i, v in enumerate(poll)])
    again = client.get(f"/v1/declarations/{first['id']}").json()
    assert [t["kind"] for t in again["timeline"]] == ["submitted", "routed", "received"]
    assert len(requests_in(app.state.sessions, IntakeOutbox)) == 2


def test_prepare_tells_poison_from_events_intake_does_not_follow(intake: Any) -> None:
    _app, _client, consumer = intake
    with pytest.raises(PoisonMessage):
        consumer.prepare(record(b"not an event"))
    assert consumer.handle_batch([]) == []


def relay_published(app: Any) -> None:
    """Every outbox row marked published, as the relay does once the broker has them."""
    with app.state.sessions.begin() as s:
        s.execute(update(IntakeOutbox).values(published_at=dt.datetime.now(dt.UTC)))


def complemented_copies(app: Any, complement_id: str) -> int:
    with app.state.sessions() as s:
        rows = s.scalars(select(IntakeOutbox).where(IntakeOutbox.event_id == complement_id))
        return sum(1 for r in rows if decode(r.value)[0].event_type == "DeclarationComplemented")


def test_a_complement_the_cpias_has_not_confirmed_is_published_again(intake: Any) -> None:
    """Reconciliation's second chance covers complements too: one the CPias has not said it
    attached is published again (same event id) after the delay, until the CPias names it in
    a "complement_received"; a confirmation that names no complement (sent before they were
    named) confirms every complement of its declaration."""
    app, client, consumer = intake
    created = client.post("/v1/declarations", json=make_declaration()).json()
    did, ref = created["id"], created["reference"]
    poll = [routing_of(app, did), received(did, ref)]
    consumer.handle_batch([consumer.prepare(record(v, i)) for i, v in enumerate(poll)])
    body = {
        "cause_analysis": "Bionettoyage insuffisant",
        "action_plan": [{"action": "Audit des pratiques", "due_date": "2027-01-15"}],
    }
    answer = client.post(f"/v1/declarations/{did}/complement", json=body)
    assert answer.status_code == 202
    cid = answer.json()["id"]

    def republish(after: dt.timedelta) -> int:
        uow = SqlIntakeUnitOfWork(app.state.sessions)
        now = dt.datetime.now(dt.UTC) + after
        return intake_service.republish_unconfirmed(
            uow, older_than=dt.timedelta(minutes=10), now=now
        )

    assert republish(dt.timedelta(hours=1)) == 0  # still in the outbox: the relay will send it
    relay_published(app)
    assert republish(dt.timedelta(minutes=5)) == 0  # published, not yet late
    assert republish(dt.timedelta(hours=1)) == 1  # late: the complement alone (case opened)
    assert complemented_copies(app, cid) == 2
    relay_published(app)
    assert republish(dt.timedelta(hours=1)) == 0  # just published again: not late yet
    assert republish(dt.timedelta(hours=2)) == 1

    # The CPias names it: no more copies, and one timeline entry whatever the copies.
    said = received(did, ref, Milestone.complement_received, cid)
    consumer.handle_batch([consumer.prepare(record(said, i)) for i in range(2)])
    relay_published(app)
    assert republish(dt.timedelta(days=2)) == 0
    timeline = client.get(f"/v1/declarations/{did}").json()["timeline"]
    assert [t["kind"] for t in timeline].count("complement_received") == 1

    # A confirmation naming no complement confirms all those of its declaration.
    second = client.post(f"/v1/declarations/{did}/complement", json=body).json()["id"]
    relay_published(app)
    assert republish(dt.timedelta(days=3)) == 1 and complemented_copies(app, second) == 2
    unnamed = received(did, ref, Milestone.complement_received)
    consumer.handle_batch([consumer.prepare(record(unnamed, 0))])
    relay_published(app)
    assert republish(dt.timedelta(days=4)) == 0


def test_a_status_change_heard_late_does_not_take_the_status_back(intake: Any) -> None:
    """The CPias's changes may arrive out of order (published again, or by two relays): each
    goes to the timeline, and the status is that of the latest change made, not heard."""
    _, client, consumer = intake
    d = client.post("/v1/declarations", json=make_declaration()).json()
    t0 = dt.datetime(2026, 11, 23, 8, tzinfo=dt.UTC)

    def hear(milestone: Milestone, hours: float, offset: int) -> str:
        at = t0 + dt.timedelta(hours=hours)
        value = received(d["id"], d["reference"], milestone, changed_at=at)
        assert consumer.handle_batch([consumer.prepare(record(value, offset))]) == []
        return str(client.get(f"/v1/declarations/{d['id']}").json()["status"])

    assert hear(Milestone.received, 0, 0) == "received_by_cpias"
    assert hear(Milestone.investigating, 2, 1) == "investigating"
    assert hear(Milestone.monitoring, 3, 2) == "monitoring"
    # heard now, made before the investigation began: the timeline has it, the status stays
    assert hear(Milestone.acknowledged, 1, 3) == "monitoring"
    kinds = [t["kind"] for t in client.get(f"/v1/declarations/{d['id']}").json()["timeline"]]
    assert "acknowledged" in kinds
    # the investigation reopened later (monitoring -> investigating) still moves it
    assert hear(Milestone.investigating, 4, 4) == "investigating"
    assert hear(Milestone.monitoring, 5, 5) == "monitoring"
    assert hear(Milestone.closed, 6, 6) == "closed"


def acknowledged(declaration_id: str, recipient_id: str, at: dt.datetime) -> bytes:
    """A recipient's system says it holds the declaration (RecipientAcknowledged)."""
    event = RecipientAcknowledged(
        declaration_id=declaration_id, recipient_id=recipient_id, acknowledged_at=at
    )
    return envelope("RecipientAcknowledged", event, correlation_id=uuid.uuid4()).to_bytes()


def submitted_copies(app: Any, declaration_id: str) -> int:
    with app.state.sessions() as s:
        rows = s.scalars(select(IntakeOutbox).where(IntakeOutbox.key == declaration_id))
        return sum(1 for r in rows if decode(r.value)[0].event_type == "DeclarationSubmitted")


def test_a_declaration_an_awaited_recipient_has_not_confirmed_is_published_again(
    intake: Any,
) -> None:
    """Intake keeps which recipients confirmed (the CPias when it opened the case, the others
    by RecipientAcknowledged), shows them on the declaration, and publishes again a
    declaration that a recipient of an awaited kind has not confirmed; the CPias alone is
    awaited by default."""
    app, client, consumer = intake
    created = client.post("/v1/declarations", json=make_declaration()).json()
    did, ref = created["id"], created["reference"]
    t0 = dt.datetime.now(dt.UTC)
    poll = [routing_of(app, did), received(did, ref, changed_at=t0)]
    consumer.handle_batch([consumer.prepare(record(v, i)) for i, v in enumerate(poll)])
    relay_published(app)
    recipients = client.get(f"/v1/declarations/{did}").json()["recipients"]
    ars = next(r for r in recipients if r.startswith("ars-"))
    assert "spf" in recipients

    def republish(after: dt.timedelta, *awaited: str) -> int:
        uow = SqlIntakeUnitOfWork(app.state.sessions)
        return intake_service.republish_unconfirmed(
            uow,
            older_than=dt.timedelta(minutes=10),
            now=dt.datetime.now(dt.UTC) + after,
            awaited_kinds=awaited,
        )

    assert republish(dt.timedelta(hours=1)) == 0  # the CPias confirmed; no one else awaited
    assert republish(dt.timedelta(hours=1), "ars", "spf") == 1  # neither has confirmed
    assert submitted_copies(app, did) == 2
    relay_published(app)

    # Santé publique France confirms, twice (the second time later): the ARS is still awaited.
    said = [acknowledged(did, "spf", t0 + dt.timedelta(minutes=m)) for m in (5, 9)]
    consumer.handle_batch([consumer.prepare(record(v, i)) for i, v in enumerate(said)])
    assert republish(dt.timedelta(hours=2), "spf") == 0
    assert republish(dt.timedelta(hours=2), "ars", "spf") == 1
    relay_published(app)
    # The ARS's system said it first (a minute after the case opened), heard last.
    said_first = acknowledged(did, ars, t0 + dt.timedelta(minutes=1))
    consumer.handle_batch([consumer.prepare(record(said_first, 0))])
    assert republish(dt.timedelta(hours=3), "ars", "spf") == 0
    assert submitted_copies(app, did) == 3

    view = client.get(f"/v1/declarations/{did}").json()
    at = {
        c["recipient"]: dt.datetime.fromisoformat(c["confirmed_at"]) for c in view["confirmed_by"]
    }
    assert list(at) == ["cpias-ara", ars, "spf"]  # in the order they confirmed
    assert at == {
        "cpias-ara": t0,
        ars: t0 + dt.timedelta(minutes=1),
        "spf": t0 + dt.timedelta(minutes=5),  # the first time it said so
    }


def test_a_confirmation_heard_before_the_routing_decision_is_kept(intake: Any) -> None:
    """Acknowledgements (ias.status.v1) and decisions (ias.routing.v1) travel on two topics:
    a recipient's confirmation may be heard first, and the decision that names it later does
    not undo it."""
    app, client, consumer = intake
    created = client.post("/v1/declarations", json=make_declaration()).json()
    did, ref = created["id"], created["reference"]
    now = dt.datetime.now(dt.UTC)
    first = [acknowledged(did, "spf", now), received(did, ref, changed_at=now)]
    consumer.handle_batch([consumer.prepare(record(v, i)) for i, v in enumerate(first)])
    consumer.handle_batch([consumer.prepare(record(routing_of(app, did), 2))])
    relay_published(app)
    uow = SqlIntakeUnitOfWork(app.state.sessions)
    late = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert (
        intake_service.republish_unconfirmed(
            uow, older_than=dt.timedelta(minutes=10), now=late, awaited_kinds=("spf", "cpias")
        )
        == 0
    )
    uow = SqlIntakeUnitOfWork(app.state.sessions)
    assert (
        intake_service.republish_unconfirmed(
            uow, older_than=dt.timedelta(minutes=10), now=late, awaited_kinds=("ars",)
        )
        == 1
    )


def test_the_reconciler_awaits_the_kinds_its_settings_name(
    intake: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, client, consumer = intake
    created = client.post("/v1/declarations", json=make_declaration()).json()
    did, ref = created["id"], created["reference"]
    poll = [routing_of(app, did), received(did, ref)]
    consumer.handle_batch([consumer.prepare(record(v, i)) for i, v in enumerate(poll)])
    relay_published(app)
    url = app.state.settings.database_url
    monkeypatch.setenv("INTAKE_AWAITED_RECIPIENT_KINDS", '["ars"]')
    awaiting = IntakeSettings(database_url=url, reconcile_after_seconds=0)
    assert awaiting.awaited_recipient_kinds == ["ars"]
    monkeypatch.delenv("INTAKE_AWAITED_RECIPIENT_KINDS")
    by_default = IntakeSettings(database_url=url, reconcile_after_seconds=0)
    assert by_default.awaited_recipient_kinds == []

    def uow() -> SqlIntakeUnitOfWork:
        return SqlIntakeUnitOfWork(app.state.sessions)

    assert Reconciler(by_default, uow).run_once() == 0
    assert Reconciler(awaiting, uow).run_once() == 1


@pytest.mark.parametrize("recipient", ["x" * 65, "ARS 84", "ars-84\n", ""])
def test_an_acknowledgement_from_no_recipient_routing_names_is_poison(
    intake: Any, recipient: str
) -> None:
    """A recipient id is a kind, then a region or a CPias, at most 64 characters: anything
    else is dead-lettered with the reason, never written."""
    _app, _client, consumer = intake
    said = acknowledged(str(uuid.uuid4()), "spf", dt.datetime.now(dt.UTC))
    value = said.replace(
        b'"recipient_id":"spf"', f'"recipient_id":{json.dumps(recipient)}'.encode()
    )
    assert value != said
    with pytest.raises(PoisonMessage, match="recipient_id"):
        consumer.prepare(record(value))


def test_an_unknown_awaited_kind_is_refused_by_name() -> None:
    with pytest.raises(ValidationError) as refused:
        IntakeSettings(awaited_recipient_kinds=["ars", "agence"])
    assert "unknown recipient kind(s) agence" in str(refused.value)
