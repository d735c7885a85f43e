"""GET /v1/cases/{id}/fhir: a FHIR R4 Bundle checked with the fhir.resources models
(R4B, which the package ships as its R4), with no patient identity anywhere."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.adverseevent import AdverseEvent
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.task import Task
from sqlalchemy import select

from services.cpias.adapters.orm import AuditEntry
from services.cpias.app import create_app
from services.cpias.domain.fhir import FINESS_SYSTEM
from services.cpias.settings import CpiasSettings
from tests.events import opened_case, submitted
from tests.factories import make_declaration

# R4 TaskStatus (http://hl7.org/fhir/R4/valueset-task-status.html), a required binding.
TASK_STATUSES = {
    "draft",
    "requested",
    "received",
    "accepted",
    "rejected",
    "ready",
    "cancelled",
    "in-progress",
    "on-hold",
    "failed",
    "completed",
    "entered-in-error",
}
PERSONS = {"Patient", "RelatedPerson", "Person", "Practitioner", "PractitionerRole"}


@pytest.fixture
def app(tmp_path: Any, auth_settings: Any) -> Any:
    return create_app(
        CpiasSettings(database_url=f"sqlite:///{tmp_path}/c.db", auth=auth_settings),
        start_workers=False,
    )


@pytest.fixture
def client(app: Any, tokens: Any) -> Iterator[TestClient]:
    with TestClient(app) as c:
        c.headers.update(tokens.headers("cpias_investigator", cpias="cpias-ara"))
        yield c


def open_case(app: Any, body: dict[str, Any]) -> str:
    return opened_case(app.state.sessions, submitted(body))


def bundle_of(client: TestClient, cid: str) -> tuple[Bundle, dict[str, list[Any]]]:
    r = client.get(f"/v1/cases/{cid}/fhir")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    bundle = Bundle.model_validate(r.json())
    by_type: dict[str, list[Any]] = {}
    for entry in bundle.entry or []:
        assert entry.fullUrl == f"urn:uuid:{entry.resource.id}"
        by_type.setdefault(entry.resource.get_resource_type(), []).append(entry.resource)
    return bundle, by_type


def test_bundle_carries_the_declaration_the_investigation_and_the_establishment(
    client: TestClient, app: Any
) -> None:
    cid = open_case(app, make_declaration())
    bundle, res = bundle_of(client, cid)
    assert bundle.type == "collection"
    assert set(res) == {
        "AdverseEvent",
        "Communication",
        "Task",
        "Group",
        "Organization",
        "Location",
        "Condition",
    }
    [event] = res["AdverseEvent"]
    assert isinstance(event, AdverseEvent)
    assert event.category[0].coding[0].code == "hospital-aquired-infection"
    assert [c.code for c in event.category[1].coding] == ["1a", "2"]
    assert str(event.date) == "2026-11-10" and str(event.detected) == "2026-11-12"
    assert event.identifier.value == "IAS-2026-84-000001"
    [establishment] = [
        o for o in res["Organization"] if o.identifier and o.identifier[0].system == FINESS_SYSTEM
    ]
    assert isinstance(establishment, Organization)
    assert (establishment.identifier[0].value, establishment.name) == ("690781810", "CHU Exemple")
    assert establishment.identifier[0].type.coding[0].code == "FINEG"
    [communication] = res["Communication"]
    assert isinstance(communication, Communication)
    sent = json.loads(communication.payload[0].contentAttachment.data)  # decoded by the model
    assert sent == client.get(f"/v1/cases/{cid}").json()["declaration"]
    [condition] = res["Condition"]
    assert condition.code.text == "Klebsiella pneumoniae (cpe, OXA-48)"
    [task] = res["Task"]
    assert isinstance(task, Task)
    assert (task.status, task.businessStatus.text, task.intent, task.priority) == (
        "received",
        "new",
        "order",
        "asap",
    )
    refs = {
        "focus": task.focus.reference,
        "owner": task.owner.reference,
        "subject": event.subject.reference,
    }
    urls = {e.resource.get_resource_type(): e.fullUrl for e in bundle.entry}
    assert refs["focus"] == urls["AdverseEvent"] and refs["subject"] == urls["Group"]
    with app.state.sessions() as s:
        assert "read:fhir" in set(s.scalars(select(AuditEntry.action)))


def test_no_patient_identity_only_an_anonymous_count(client: TestClient, app: Any) -> None:
    cid = open_case(app, make_declaration(criteria=["1a", "2", "3"], infection__deaths=1))
    _, res = bundle_of(client, cid)
    assert not PERSONS & set(res)
    [group] = res["Group"]
    assert (group.quantity, group.member, group.actual) == (5, None, True)
    [event] = res["AdverseEvent"]
    assert event.seriousness.coding[0].code == "SeriousResultsInDeath"


@pytest.mark.parametrize(
    ("moves", "status", "business"),
    [
        ([], "received", "new"),
        (["acknowledged"], "accepted", "acknowledged"),
        (["acknowledged", "investigating"], "in-progress", "investigating"),
        (["acknowledged", "investigating", "monitoring"], "in-progress", "monitoring"),
        (["acknowledged", "investigating", "monitoring", "closed"], "completed", "closed"),
    ],
)
def test_task_status_follows_the_workflow(
    client: TestClient, app: Any, moves: list[str], status: str, business: str
) -> None:
    cid = open_case(app, make_declaration())
    for to in moves:
        body = {"to": to, **({"outcome": "controlled"} if to == "closed" else {})}
        assert client.post(f"/v1/cases/{cid}/transitions", json=body).status_code == 200
    _, res = bundle_of(client, cid)
    [task] = res["Task"]
    assert task.status in TASK_STATUSES
    assert (task.status, task.businessStatus.text) == (status, business)
    if moves:
        assert task.executionPeriod.start is not None
    if "closed" in moves:
        assert task.executionPeriod.end is not None
        assert task.output[0].valueCode == "controlled"


def test_community_practice_and_products(client: TestClient, app: Any) -> None:
    body = make_declaration(
        "candida_auris_paris_device",
        establishment__finess=None,
        establishment__kind="ville",
        establishment__departement="69",
        establishment__unit=None,
    )
    cid = open_case(app, body)
    _, res = bundle_of(client, cid)
    establishment = next(o for o in res["Organization"] if o.name == "Hôpital Exemple")
    assert establishment.identifier is None  # no FINESS in community practice
    [device] = res["Device"]
    assert device.deviceName[0].name == "Cathéter veineux central"
    [event] = res["AdverseEvent"]
    assert event.suspectEntity[0].instance.reference.endswith(device.id)


def test_scope_as_for_the_case(client: TestClient, app: Any, tokens: Any) -> None:
    cid = open_case(app, make_declaration())
    idf = tokens.headers("cpias_investigator", cpias="cpias-idf")
    assert client.get(f"/v1/cases/{cid}/fhir", headers=idf).status_code == 404
    assert client.get("/v1/cases/nope/fhir").status_code == 404
