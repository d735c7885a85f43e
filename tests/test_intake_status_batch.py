"""Intake's status consumer follows the events of a poll in one transaction, on SQLite and
PostgreSQL: each event once (copies in the poll or already followed are passed over), the
declaration's record read and written once, the declarant's receipt requested once, poison
records still dead-lettered one by one by the loop."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from iaspipe.kafka import PoisonMessage
from schemas import topics
from schemas.events import CaseStatusChanged, Milestone, RoutingDecided, decode, envelope
from services.intake.adapters.orm import Outbox as IntakeOutbox
from services.intake.adapters.uow import SqlIntakeUnitOfWork
from services.intake.app import create_app as intake_app
from services.intake.consumer import StatusConsumer
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


def received(declaration_id: str, reference: str) -> bytes:
    event = CaseStatusChanged(
        declaration_id=declaration_id,
        reference=reference,
        case_id="case-1",
        cpias="cpias-ara",
        milestone=Milestone.received,
        status="new",
        changed_at=dt.datetime.now(dt.UTC),
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
