"""Notifications are born in the outbox of the service that decides them, in the transaction
of the change, once: intake's receipt and closing message, cpias's new-case alert, complement
message, reminders and overdue warnings."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from iaspipe.principal import Caller, Principal, Role
from iaspipe.uow import CommitConflict
from schemas import topics
from schemas.declaration import Complement
from schemas.events import (
    CaseStatusChanged,
    DeclarationRouted,
    Milestone,
    NotificationRequested,
    decode,
    notification_event_id,
)
from services.cpias import notices
from services.cpias import service as cpias_service
from services.cpias.adapters.orm import Outbox as CpiasOutbox
from services.cpias.adapters.uow import SqlCpiasUnitOfWork
from services.cpias.app import create_app as cpias_app
from services.cpias.domain.workflow import Status
from services.cpias.settings import CpiasSettings
from services.intake import service as intake_service
from services.intake.adapters.orm import Outbox as IntakeOutbox
from services.intake.adapters.uow import SqlIntakeUnitOfWork
from services.intake.app import create_app as intake_app
from services.intake.settings import IntakeSettings
from tests.events import route_stored, routed_to_cpias, submitted
from tests.factories import make_declaration

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
ACK_HOURS = {"urgent": 4.0, "high": 24.0, "normal": 72.0}


def requests_in(sessions: Any, outbox: Any) -> list[tuple[str, NotificationRequested]]:
    with sessions() as s:
        rows = s.scalars(
            select(outbox).where(outbox.topic == topics.NOTIFICATIONS).order_by(outbox.id)
        ).all()
    found = []
    for row in rows:
        env, payload = decode(row.value)
        assert isinstance(payload, NotificationRequested) and row.key == payload.declaration_id
        found.append((str(env.event_id), payload))
    return found


@pytest.fixture
def intake(tmp_path: Any, auth_settings: Any, tokens: Any) -> Iterator[Any]:
    app = intake_app(
        IntakeSettings(database_url=f"sqlite:///{tmp_path}/i.db", auth=auth_settings),
        start_workers=False,
    )
    with TestClient(app) as client:
        client.headers.update(tokens.headers("admin"))
        yield app, client


def test_the_first_routing_decision_requests_the_receipt_once(intake: Any) -> None:
    app, client = intake
    body = make_declaration("candida_auris_paris_device")
    declaration_id = client.post("/v1/declarations", json=body).json()["id"]
    decided = route_stored(app.state.sessions, declaration_id)
    [(event_id, receipt)] = requests_in(app.state.sessions, IntakeOutbox)
    assert event_id == str(notification_event_id(declaration_id, receipt.kind))
    assert (receipt.kind.value, receipt.declarant_email, receipt.priority.value) == (
        "receipt",
        "claire.martin@chu.example",
        "urgent",
    )
    assert receipt.recipients == [r.id for r in decided.decision.recipients]
    assert [o.rule for o in receipt.obligations] == ["materiovigilance_ansm"]
    assert (receipt.establishment.finess, receipt.cpias, receipt.region_code) == (
        "750100125",
        "cpias-idf",
        "11",
    )
    # The same decision again changes nothing; a later one (the reconciler published the
    # declaration again) keeps the first decision and requests no second receipt.
    with pytest.raises(CommitConflict):
        route_stored(app.state.sessions, declaration_id)
    again = decided.model_copy(update={"decided_at": NOW})
    intake_service.follow_event(SqlIntakeUnitOfWork(app.state.sessions), str(uuid.uuid4()), again)
    assert len(requests_in(app.state.sessions, IntakeOutbox)) == 1


def test_closing_the_case_requests_the_declarants_closing_message(intake: Any) -> None:
    app, client = intake
    declaration_id = client.post("/v1/declarations", json=make_declaration()).json()["id"]
    route_stored(app.state.sessions, declaration_id)
    reference = client.get(f"/v1/declarations/{declaration_id}").json()["reference"]

    def milestone(name: Milestone) -> None:
        event = CaseStatusChanged(
            declaration_id=declaration_id,
            reference=reference,
            case_id="case-1",
            cpias="cpias-ara",
            milestone=name,
            status=name.value,
            changed_at=NOW,
            reason="Texte libre de l'enquêteur",
            outcome="controlled" if name is Milestone.closed else None,
        )
        intake_service.follow_event(
            SqlIntakeUnitOfWork(app.state.sessions), str(uuid.uuid4()), event
        )

    milestone(Milestone.acknowledged)
    assert [r.kind.value for _, r in requests_in(app.state.sessions, IntakeOutbox)] == ["receipt"]
    milestone(Milestone.closed)
    closing = requests_in(app.state.sessions, IntakeOutbox)[-1][1]
    assert (closing.kind.value, closing.outcome, closing.case_id) == (
        "case_closed",
        "controlled",
        "case-1",
    )
    assert "Texte libre" not in closing.model_dump_json()


@pytest.fixture
def cpias(database_url: str, auth_settings: Any) -> Iterator[Any]:
    app = cpias_app(
        CpiasSettings(database_url=database_url, auth=auth_settings),
        start_workers=False,
    )
    with TestClient(app):
        yield app


def open_case(app: Any, body: dict[str, Any], now: dt.datetime = NOW) -> str:
    env, routed = decode(routed_to_cpias(submitted(body)))
    handled = [
        cpias_service.receive_routed(
            SqlCpiasUnitOfWork(app.state.sessions),
            str(env.event_id),
            routed,  # type: ignore[arg-type]
            ack_hours=ACK_HOURS,
            now=now,
        )
        for _ in range(2)  # delivered twice
    ]
    assert handled == [True, False]
    return routed.declaration_id  # type: ignore[attr-defined, no-any-return]


def test_opening_a_case_requests_the_team_alert_once(cpias: Any) -> None:
    declaration_id = open_case(cpias, make_declaration("candida_auris_paris_device"))
    [(_, alert)] = requests_in(cpias.state.sessions, CpiasOutbox)
    assert (alert.kind.value, alert.declaration_id, alert.cpias, alert.priority.value) == (
        "new_case",
        declaration_id,
        "cpias-idf",
        "urgent",
    )
    assert alert.deadline == NOW + dt.timedelta(hours=4) and alert.case_id


def test_each_complement_requests_one_message_to_the_team_without_a_deadline(cpias: Any) -> None:
    env, initial = decode(
        routed_to_cpias(submitted(make_declaration("candida_auris_paris_device")))
    )
    assert isinstance(initial, DeclarationRouted)

    def receive(text: str, source: uuid.UUID) -> bool:
        event = initial.model_copy(
            update={
                "kind": "complement",
                "source_event_id": source,
                "complement": Complement(
                    cause_analysis=text,
                    action_plan=[{"action": "Renforcer l'hygiène des mains"}],  # type: ignore[list-item]
                ),
            }
        )
        return cpias_service.receive_routed(
            SqlCpiasUnitOfWork(cpias.state.sessions),
            str(uuid.uuid5(source, "routed")),
            event,
            ack_hours=ACK_HOURS,
            now=NOW + dt.timedelta(days=20),
        )

    cpias_service.receive_routed(
        SqlCpiasUnitOfWork(cpias.state.sessions),
        str(env.event_id),
        initial,
        ack_hours=ACK_HOURS,
        now=NOW,
    )
    first, second = uuid.uuid4(), uuid.uuid4()
    assert [receive("Analyse", first), receive("Analyse", first)] == [True, False]  # redelivered
    assert receive("Analyse complétée", second)
    found = requests_in(cpias.state.sessions, CpiasOutbox)
    assert [r.kind.value for _, r in found] == ["new_case", "complement", "complement"]
    for (event_id, request), source in zip(found[1:], (first, second), strict=True):
        assert request.complement_id == str(source) and request.deadline is None
        assert (request.cpias, request.declaration_id) == ("cpias-idf", initial.declaration_id)
        assert event_id == str(
            notification_event_id(initial.declaration_id, request.kind, str(source))
        )
        assert "Analyse" not in request.model_dump_json()  # never the complement's text


def test_each_deadline_notice_is_requested_once_and_only_for_unacknowledged_cases(
    cpias: Any,
) -> None:
    open_case(cpias, make_declaration("candida_auris_paris_device"))  # urgent: 4 hours
    open_case(cpias, make_declaration())  # high: 24 hours, no reminder by default

    def watch(after: dt.timedelta) -> list[tuple[str, str]]:
        notices.request_deadline_notices(
            SqlCpiasUnitOfWork(cpias.state.sessions),
            remind_before={"urgent": 1.0},
            now=NOW + after,
        )
        return [
            (r.kind.value, r.priority.value)
            for _, r in requests_in(cpias.state.sessions, CpiasOutbox)
            if r.kind.value != "new_case"
        ]

    assert watch(dt.timedelta(hours=2, minutes=59)) == []
    assert watch(dt.timedelta(hours=3)) == [("ack_reminder", "urgent")]
    assert watch(dt.timedelta(hours=3, minutes=1)) == [("ack_reminder", "urgent")]
    assert watch(dt.timedelta(hours=5)) == [("ack_reminder", "urgent"), ("ack_overdue", "urgent")]
    assert watch(dt.timedelta(hours=30)) == [
        ("ack_reminder", "urgent"),
        ("ack_overdue", "urgent"),
        ("ack_overdue", "high"),
    ]
    assert watch(dt.timedelta(days=9)) == watch(dt.timedelta(hours=30))


def test_an_acknowledged_case_gets_no_reminder_and_no_warning(cpias: Any) -> None:
    declaration_id = open_case(cpias, make_declaration("candida_auris_paris_device"))
    with SqlCpiasUnitOfWork(cpias.state.sessions) as uow:
        case = uow.cases.find(declaration_id=declaration_id)
    assert case is not None
    cpias_service.transition(
        SqlCpiasUnitOfWork(cpias.state.sessions),
        case.id,
        to=Status.acknowledged,
        caller=Caller(Principal("inv", Role.cpias_investigator, cpias="cpias-idf")),
        reason=None,
        outcome=None,
        now=NOW + dt.timedelta(minutes=30),
    )
    for hours in (3, 5, 100):
        notices.request_deadline_notices(
            SqlCpiasUnitOfWork(cpias.state.sessions),
            remind_before={"urgent": 1.0},
            now=NOW + dt.timedelta(hours=hours),
        )
    kinds = [r.kind.value for _, r in requests_in(cpias.state.sessions, CpiasOutbox)]
    assert kinds == ["new_case"]


def test_reminder_delays_are_checked_at_start() -> None:
    with pytest.raises(ValueError, match="unknown priority"):
        CpiasSettings(remind_before_hours={"critical": 1.0})
    assert CpiasSettings(remind_before_hours={"urgent": 1, "high": 6}).remind_before_hours["high"]
