"""CPias over HTTP on SQLite and PostgreSQL: queue, workflow, notes, links, history, metrics."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from iaspipe.principal import Caller, Principal, Role
from schemas import topics
from schemas.events import decode
from services.cpias import service
from services.cpias.adapters.orm import Outbox
from services.cpias.adapters.uow import SqlCpiasUnitOfWork
from services.cpias.domain.workflow import IllegalTransition, Status
from tests.events import received_in_cpias, submitted
from tests.factories import declaration_in, make_declaration

T0 = dt.datetime(2026, 11, 1, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def app(cpias_app: Any) -> Any:
    return cpias_app


@pytest.fixture
def client(cpias_client: TestClient) -> TestClient:
    return cpias_client


def open_case(
    app: Any,
    body: dict | None = None,
    *,
    at: dt.datetime = T0,
    reference: str = "IAS-2026-84-000001",
    received_at: dt.datetime | None = None,
) -> str:
    env = submitted(body, reference=reference, received_at=received_at or at)
    return received_in_cpias(app.state.sessions, env, now=at).declaration_id


def case_id(client: TestClient, declaration_id: str) -> str:
    return str(
        client.get("/v1/cases", params={"declaration_id": declaration_id}).json()["items"][0]["id"]
    )


def move(client: TestClient, cid: str, to: str, **extra: Any) -> Any:
    return client.post(f"/v1/cases/{cid}/transitions", json={"to": to, **extra})


NORMAL = {
    "criteria": ["1a"],
    "infection__cases_infected": 1,
    "infection__cases_colonised": 0,
    "cpias_support_requested": False,
    "infection__pathogens": [{"species": "E. coli", "resistance": ["esbl"], "mechanism": None}],
}


def test_queue_urgent_first_then_oldest_with_pagination(client: TestClient, app: Any) -> None:
    normal_old = open_case(app, make_declaration(**NORMAL), at=T0)
    high_new = open_case(app, make_declaration(), at=T0 + dt.timedelta(hours=2))
    high_old = open_case(app, make_declaration(), at=T0 + dt.timedelta(hours=1))
    urgent = open_case(
        app,
        make_declaration(criteria=["1a", "3"], infection__deaths=1),
        at=T0 + dt.timedelta(hours=3),
    )
    items = client.get("/v1/cases").json()["items"]
    assert [i["declaration_id"] for i in items] == [urgent, high_old, high_new, normal_old]
    assert [i["priority"] for i in items] == ["urgent", "high", "high", "normal"]
    page = client.get("/v1/cases", params={"limit": 2, "offset": 2}).json()
    assert page["total"] == 4 and [i["declaration_id"] for i in page["items"]] == [
        high_new,
        normal_old,
    ]


def test_oldest_means_received_first_even_when_delivered_late(client: TestClient, app: Any) -> None:
    # A declaration held up on the way (a broker outage) is opened after one received later:
    # it has waited longest, so it comes first among its priority.
    on_time = open_case(app, at=T0 + dt.timedelta(hours=1), received_at=T0 + dt.timedelta(hours=1))
    held_up = open_case(app, at=T0 + dt.timedelta(hours=2), received_at=T0)
    items = client.get("/v1/cases").json()["items"]
    assert [i["declaration_id"] for i in items] == [held_up, on_time]
    assert [i["received_at"] for i in items] == [
        T0.isoformat().replace("+00:00", "Z"),
        (T0 + dt.timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
    ]
    # Its time to acknowledge ran from its reception, as the ARS's figures count it: the two
    # hours on the way are not given back on arrival.
    due = {
        i["declaration_id"]: dt.datetime.fromisoformat(i["deadlines"]["acknowledge_by"])
        for i in items
    }
    assert due[held_up] - T0 == dt.timedelta(hours=24)
    assert due[on_time] - (T0 + dt.timedelta(hours=1)) == dt.timedelta(hours=24)


def test_filters(client: TestClient, app: Any) -> None:
    a = open_case(app, reference="IAS-2026-84-000001")
    b = open_case(app, make_declaration(**NORMAL), reference="IAS-2026-84-000002")
    cid = case_id(client, a)
    client.post(f"/v1/cases/{cid}/assignment", json={"assignee": "dr.dupont"})
    move(client, cid, "acknowledged")

    def ids(**params: Any) -> set[str]:
        return {i["declaration_id"] for i in client.get("/v1/cases", params=params).json()["items"]}

    assert ids(status="acknowledged") == {a}
    assert ids(status="new") == {b}
    assert ids(priority="normal") == {b}
    assert ids(assignee="dr.dupont") == {a}
    assert ids(reference="IAS-2026-84-000002") == {b}
    assert ids(declaration_id=a) == {a}
    assert ids(overdue=True) == {b}  # opened long ago, never acknowledged
    assert ids(overdue=False) == {a}
    assert client.get("/v1/cases", params={"status": "lost"}).status_code == 422


def test_deadlines_by_priority(client: TestClient, app: Any) -> None:
    for body, hours in (
        (make_declaration(criteria=["1a", "3"], infection__deaths=1), 4),
        (make_declaration(), 24),
        (make_declaration(**NORMAL), 72),
    ):
        did = open_case(app, body, at=T0)
        item = client.get("/v1/cases", params={"declaration_id": did}).json()["items"][0]
        due = dt.datetime.fromisoformat(item["deadlines"]["acknowledge_by"])
        assert due - T0 == dt.timedelta(hours=hours)
        assert item["overdue"] is True


def test_a_fresh_case_is_not_overdue(client: TestClient, app: Any) -> None:
    did = open_case(app, at=dt.datetime.now(dt.UTC))
    assert (
        client.get("/v1/cases", params={"declaration_id": did}).json()["items"][0]["overdue"]
        is False
    )


def test_workflow_path_and_history(client: TestClient, app: Any) -> None:
    cid = case_id(client, open_case(app))
    for to in ("acknowledged", "investigating", "monitoring", "investigating", "monitoring"):
        r = move(client, cid, to, reason=f"vers {to}")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == to
    r = move(client, cid, "closed", outcome="controlled", reason="Plus de nouveau cas")
    assert r.status_code == 200
    case = r.json()
    assert (case["status"], case["outcome"], case["complement_received"]) == (
        "closed",
        "controlled",
        False,
    )
    statuses = [
        (h["before"], h["after"]["status"], h["actor"])
        for h in case["history"]
        if h["action"] == "status"
    ]
    assert statuses[0] == ({"status": "new"}, "acknowledged", "inv.ara")
    assert len(statuses) == 6
    assert case["history"][0]["action"] == "opened"
    with app.state.sessions() as s:
        milestones = [
            decode(o.value)[1].milestone.value  # type: ignore[attr-defined]
            for o in s.scalars(
                select(Outbox).where(Outbox.topic == topics.STATUS).order_by(Outbox.id)
            )
        ]
    assert milestones == [
        "received",
        "acknowledged",
        "investigating",
        "monitoring",
        "investigating",
        "monitoring",
        "closed",
    ]


@pytest.mark.parametrize(
    ("path", "to", "allowed"),
    [
        ([], "closed", "acknowledged"),
        ([], "investigating", "acknowledged"),
        (["acknowledged"], "monitoring", "investigating"),
        (["acknowledged", "investigating"], "closed", "monitoring"),
        (["acknowledged", "investigating", "monitoring", "closed"], "investigating", ""),
    ],
)
def test_illegal_moves_are_409_naming_the_allowed_ones(
    client: TestClient, app: Any, path: list[str], to: str, allowed: str
) -> None:
    cid = case_id(client, open_case(app))
    for step in path:
        assert move(client, cid, step, outcome="controlled").status_code == 200
    r = move(client, cid, to)
    assert r.status_code == 409
    assert r.headers["X-Allowed-Transitions"] == allowed
    assert to in r.json()["errors"][0]["message"]


def test_moves_made_at_once_take_turns(client: TestClient, app: Any) -> None:
    """Eight investigators acknowledge the same new case at the same instant: one move is
    made, the seven others are illegal (acknowledged -> acknowledged), on either database;
    one history row and one status event, never eight."""
    cid = case_id(client, open_case(app))
    caller = Caller(Principal("inv.ara", Role.cpias_investigator, cpias="cpias-ara"))
    start = threading.Barrier(8)

    def status_events() -> int:
        with app.state.sessions() as session:
            headers = session.scalars(select(Outbox.headers)).all()
        return headers.count([["event_type", "CaseStatusChanged"]])

    before = status_events()  # the case's "received"

    def acknowledge() -> str:
        start.wait()
        try:
            service.transition(
                SqlCpiasUnitOfWork(app.state.sessions),
                cid,
                to=Status.acknowledged,
                caller=caller,
                reason=None,
                outcome=None,
            )
        except IllegalTransition:
            return "409"
        return "200"

    with ThreadPoolExecutor(8) as pool:
        answers = sorted(pool.map(lambda _: acknowledge(), range(8)))
    assert answers == ["200"] + ["409"] * 7
    history = client.get(f"/v1/cases/{cid}").json()["history"]
    assert [h["action"] for h in history].count("status") == 1
    assert status_events() == before + 1


def test_a_move_not_announced_as_json_is_a_415(client: TestClient, app: Any) -> None:
    cid = case_id(client, open_case(app))
    url = f"/v1/cases/{cid}/transitions"
    r = client.post(url, content=b'{"to": "acknowledged"}', headers={"content-type": "text/plain"})
    assert r.status_code == 415
    assert r.json()["errors"][0]["rule"] == "media_type"
    assert client.get(f"/v1/cases/{cid}").json()["status"] == "new"


def test_closing_needs_an_outcome(client: TestClient, app: Any) -> None:
    cid = case_id(client, open_case(app))
    for step in ("acknowledged", "investigating", "monitoring"):
        move(client, cid, step)
    r = move(client, cid, "closed")
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "outcome"
    assert move(client, cid, "closed", outcome="finished").status_code == 422
    assert client.get(f"/v1/cases/{cid}").json()["status"] == "monitoring"


def test_assignment_and_typed_notes(client: TestClient, app: Any, tokens: Any) -> None:
    cid = case_id(client, open_case(app))
    r = client.post(
        f"/v1/cases/{cid}/assignment",
        json={"assignee": "dr.dupont"},
        headers=tokens.headers("cpias_investigator", cpias="cpias-ara", subject="chef.ara"),
    )
    assert r.json()["assignee"] == "dr.dupont"
    for kind in ("call", "site_visit", "screening_result", "recommendation", "measure", "other"):
        r = client.post(
            f"/v1/cases/{cid}/notes",
            json={"kind": kind, "text": f"note {kind}"},
            headers=tokens.headers("cpias_investigator", cpias="cpias-ara", subject="dr.dupont"),
        )
        assert r.status_code == 201
    assert (
        client.post(f"/v1/cases/{cid}/notes", json={"kind": "gossip", "text": "x"}).status_code
        == 422
    )
    case = client.get(f"/v1/cases/{cid}").json()
    assert [n["kind"] for n in case["notes"]] == [
        "call",
        "site_visit",
        "screening_result",
        "recommendation",
        "measure",
        "other",
    ]
    assert {n["author"] for n in case["notes"]} == {"dr.dupont"}
    assignment = next(h for h in case["history"] if h["action"] == "assignment")
    assert (assignment["before"], assignment["after"], assignment["actor"]) == (
        {"assignee": None},
        {"assignee": "dr.dupont"},
        "chef.ara",
    )


def test_an_assignment_to_nobody_says_so_with_null(client: TestClient, app: Any) -> None:
    cid = case_id(client, open_case(app))
    for blank in ("", "   ", "\u200b"):
        r = client.post(f"/v1/cases/{cid}/assignment", json={"assignee": blank})
        assert r.status_code == 422, blank
        assert (r.json()["errors"][0]["path"], r.json()["errors"][0]["rule"]) == (
            "assignee",
            "blank",
        )
    assert client.post(f"/v1/cases/{cid}/assignment", json={"assignee": "dr.dupont"}).is_success
    assert client.post(f"/v1/cases/{cid}/assignment", json={"assignee": None}).is_success
    case = client.get(f"/v1/cases/{cid}").json()
    assert case["assignee"] is None
    assert [h["after"] for h in case["history"] if h["action"] == "assignment"] == [
        {"assignee": "dr.dupont"},
        {"assignee": None},
    ]


def test_a_closed_case_is_no_longer_assigned(client: TestClient, app: Any) -> None:
    cid = case_id(client, open_case(app))
    for step in ("acknowledged", "investigating", "monitoring", "closed"):
        assert move(client, cid, step, outcome="controlled").status_code == 200
    r = client.post(f"/v1/cases/{cid}/assignment", json={"assignee": "dr.dupont"})
    assert r.status_code == 409
    assert (r.json()["errors"][0]["path"], r.json()["errors"][0]["rule"]) == (
        "assignee",
        "case_closed",
    )
    case = client.get(f"/v1/cases/{cid}").json()
    assert case["assignee"] is None
    assert not [h for h in case["history"] if h["action"] == "assignment"]


def test_links_are_visible_from_both_cases(client: TestClient, app: Any) -> None:
    a = case_id(client, open_case(app, reference="IAS-2026-84-000001"))
    b = case_id(client, open_case(app, reference="IAS-2026-84-000002"))
    r = client.post(
        f"/v1/cases/{a}/links",
        json={"reference": "IAS-2026-84-000002", "kind": "cluster", "reason": "Même souche OXA-48"},
    )
    assert r.status_code == 201
    assert r.json()["links"][0]["case_id"] == b
    back = client.get(f"/v1/cases/{b}").json()["links"]
    assert [(x["case_id"], x["kind"]) for x in back] == [(a, "cluster")]
    again = client.post(f"/v1/cases/{b}/links", json={"case_id": a, "kind": "same_episode"})
    assert again.status_code == 409
    assert (
        client.post(f"/v1/cases/{a}/links", json={"case_id": a, "kind": "cluster"}).status_code
        == 409
    )
    assert (
        client.post(f"/v1/cases/{a}/links", json={"case_id": "nope", "kind": "cluster"}).status_code
        == 404
    )
    nameless = client.post(f"/v1/cases/{a}/links", json={"kind": "cluster"})
    assert nameless.status_code == 422
    [problem] = nameless.json()["errors"]
    assert problem["rule"] == "case_ref_missing"
    assert "case_id" in problem["message"] and "référence" in problem["message"]


def test_a_case_outside_the_readers_scope_is_not_named_in_the_history(
    client: TestClient, app: Any, tokens: Any
) -> None:
    """An admin links a Lyon case and a Paris one. The Paris investigator reads the link
    without the Lyon case's reference, and the history does not give it away either."""
    lyon = case_id(client, open_case(app, reference="IAS-2026-84-000001"))
    paris_body = declaration_in("75")
    paris_declaration = open_case(app, paris_body, reference="IAS-2026-11-000001")
    admin = tokens.headers("admin")
    paris = client.get(
        "/v1/cases", params={"declaration_id": paris_declaration}, headers=admin
    ).json()["items"][0]["id"]
    r = client.post(
        f"/v1/cases/{paris}/links", json={"case_id": lyon, "kind": "cluster"}, headers=admin
    )
    assert r.status_code == 201
    idf = tokens.headers("cpias_investigator", cpias="cpias-idf", subject="inv.idf")
    seen = client.get(f"/v1/cases/{paris}", headers=idf).json()
    assert [(x["case_id"], x["reference"], x["visible"]) for x in seen["links"]] == [
        (lyon, None, False)
    ]
    assert "IAS-2026-84-000001" not in json.dumps(seen["history"])
    assert any(h["action"] == "link" and h["after"]["case_id"] == lyon for h in seen["history"])
    # An admin, who sees both, reads it there.
    assert "IAS-2026-84-000001" in json.dumps(
        client.get(f"/v1/cases/{paris}", headers=admin).json()["history"]
    )


def test_a_query_parameter_out_of_its_values_says_which_form_is_expected(
    client: TestClient,
) -> None:
    r = client.get("/v1/cases", params={"priority": "bogus"})
    assert r.status_code == 422
    [problem] = r.json()["errors"]
    assert problem["path"] == "priority" and problem["rule"] == "string_pattern_mismatch"
    assert problem["message"].startswith("Valeur non prévue (forme attendue :")
    assert "urgent|high|normal" in problem["message"]


def test_unknown_case_is_404(client: TestClient) -> None:
    assert client.get("/v1/cases/nope").status_code == 404
    assert move(client, "nope", "acknowledged").status_code == 404


def test_a_caller_who_may_not_act_hears_so_before_what_its_text_holds(
    client: TestClient, app: Any, tokens: Any
) -> None:
    """Scope and role come first: another CPias gets the 404 of a case it cannot see, an ARS
    viewer the 403 of a role that does not act, whatever their text holds (no 422 that would
    tell them the case exists)."""
    cid = case_id(client, open_case(app))
    born = "Patient né le 03/03/1945"
    for headers, status in (
        (tokens.headers("cpias_investigator", cpias="cpias-idf", subject="inv.idf"), 404),
        (tokens.headers("ars_viewer", region="84", subject="ars.ara"), 403),
    ):
        r = client.post(
            f"/v1/cases/{cid}/transitions",
            json={"to": "acknowledged", "reason": born},
            headers=headers,
        )
        assert r.status_code == status, r.text
        r = client.post(
            f"/v1/cases/{cid}/notes", json={"kind": "call", "text": born}, headers=headers
        )
        assert r.status_code == status, r.text
    # The investigator of the case hears what its text holds.
    r = move(client, cid, "acknowledged", reason=born)
    assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "anonymity_birth_date"


def test_case_detail_holds_the_declaration_and_routing(client: TestClient, app: Any) -> None:
    cid = case_id(client, open_case(app))
    case = client.get(f"/v1/cases/{cid}").json()
    assert case["declaration"]["infection"]["pathogens"][0]["mechanism"] == "OXA-48"
    assert case["routing"]["legal_basis"] == ["R6111-17"]


def test_dashboard_metrics(client: TestClient, app: Any) -> None:
    open_case(app, make_declaration(criteria=["1a", "3"], infection__deaths=1), at=T0)
    cid = case_id(client, open_case(app, at=dt.datetime.now(dt.UTC)))
    move(client, cid, "acknowledged")
    text = client.get("/metrics").text
    assert re.search(
        r'cpias_open_cases\{cpias="cpias-ara",priority="urgent",region="84",'
        r'status="new"\} 1\.0',
        text,
    )
    assert re.search(
        r'cpias_overdue_cases\{cpias="cpias-ara",priority="urgent",region="84"\} '
        r"1\.0",
        text,
    )
    assert re.search(
        r'cpias_time_to_acknowledge_seconds_count\{cpias="cpias-ara",'
        r'priority="high"\} [1-9]',
        text,
    )
