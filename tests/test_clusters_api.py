"""Outbreaks across establishments over HTTP on SQLite and PostgreSQL (docs/clusters.md):
suggestions when a case opens, confirm and dismiss, confirmed clusters, the Santé publique
France flag, threshold alerts."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import select, text

from iaspipe.principal import Caller, Principal, Role
from schemas import topics
from schemas.events import ClusterFlagged, decode
from services.cpias import clusters, outbreaks
from services.cpias.adapters.orm import AuditEntry, LinkRow, Outbox
from services.cpias.adapters.uow import SqlCpiasUnitOfWork
from services.cpias.domain.clusters import ClusterRules, episode_keys
from services.intake.consumer import StatusConsumer
from services.intake.settings import IntakeSettings
from tests.events import opened_case, submitted
from tests.factories import finess_in, make_declaration

T0 = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)
ARA = {"cpias": "cpias-ara", "subject": "inv.ara"}


@pytest.fixture
def client(cpias_client: TestClient) -> TestClient:
    return cpias_client


def declaration(
    departement: str = "69",
    *,
    serial: str = "1",
    species: str = "Klebsiella pneumoniae",
    resistance: tuple[str, ...] = ("cpe",),
    mechanism: str | None = "OXA-48",
    onset: str = "2026-11-10",
) -> dict[str, Any]:
    return make_declaration(
        establishment__departement=departement,
        establishment__finess=finess_in(departement, serial),
        infection__onset_date=onset,
        infection__detection_date=onset,
        infection__pathogens=[
            {"species": species, "resistance": list(resistance), "mechanism": mechanism}
        ],
    )


class Cases:
    """Opens cases the way the consumer does, numbering their references."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.n = 0

    def uow(self) -> SqlCpiasUnitOfWork:
        return SqlCpiasUnitOfWork(self.app.state.sessions)

    def open(self, body: dict[str, Any], rules: ClusterRules = ClusterRules()) -> str:
        self.n += 1
        env = submitted(body, reference=f"IAS-2026-84-{self.n:06d}")
        return opened_case(self.app.state.sessions, env, now=T0, clusters=rules)


@pytest.fixture
def cases(cpias_app: Any, client: TestClient) -> Cases:
    return Cases(cpias_app)


def links(client: TestClient, cid: str) -> list[dict[str, Any]]:
    return list(client.get(f"/v1/cases/{cid}").json()["links"])


def confirm(client: TestClient, a: str, b: str, **body: Any) -> Any:
    return client.post(
        f"/v1/cases/{a}/cluster-suggestions/{b}", json={"decision": "confirm", **body}
    )


def dismiss(client: TestClient, a: str, b: str, **body: Any) -> Any:
    return client.post(
        f"/v1/cases/{a}/cluster-suggestions/{b}", json={"decision": "dismiss", **body}
    )


def test_opening_a_case_suggests_a_cluster_seen_from_both_cases(
    client: TestClient, cases: Cases, cpias_app: Any
) -> None:
    a = cases.open(declaration("69", serial="1"))
    b = cases.open(declaration("38", serial="2", species="K. pneumoniae", onset="2026-11-22"))
    seen_from_b = links(client, b)
    assert [(x["case_id"], x["kind"], x["status"], x["created_by"]) for x in seen_from_b] == [
        (a, "cluster", "suggested", "system")
    ]
    assert seen_from_b[0]["basis"] == {
        "organism": "Klebsiella pneumoniae",
        "mechanism_family": "OXA-48",
        "days_apart": 12,
        "same_departement": False,
        "same_establishment": False,
        "departements": ["38", "69"],
    }
    seen_from_a = links(client, a)
    assert seen_from_a[0]["case_id"] == b
    assert seen_from_a[0]["basis"]["departements"] == ["69", "38"]
    for cid, other in ((a, b), (b, a)):
        detail = client.get(f"/v1/cases/{cid}").json()
        suggested = [h for h in detail["history"] if h["action"] == "cluster_suggested"]
        assert [h["after"]["case_id"] for h in suggested] == [other]
        assert detail["episodes"][0]["mechanism_family"] == "OXA-48"
        assert detail["cluster"] is None
    # A suggestion is the CPias's business: nothing reaches the declarants' timelines.
    with cpias_app.state.sessions() as s:
        status_events = s.scalars(select(Outbox).where(Outbox.topic == topics.STATUS)).all()
    assert len(status_events) == 2  # the two "received" milestones


def test_no_suggestion_outside_the_rule(client: TestClient, cases: Cases) -> None:
    a = cases.open(declaration("69"))
    cases.open(declaration("75", serial="2"))  # another region
    cases.open(declaration("69", serial="3", onset="2026-12-11"))  # 31 days later
    cases.open(declaration("69", serial="4", mechanism="NDM-1"))  # another family
    cases.open(declaration("69", serial="5", species="Escherichia coli"))  # another organism
    cases.open(declaration("69", serial="6", species="Clostridioides difficile", mechanism=None))
    assert links(client, a) == []


def test_window_and_limit_are_settings(client: TestClient, cases: Cases) -> None:
    a = cases.open(declaration("69"))
    b = cases.open(declaration("69", serial="2", onset="2026-11-25"), ClusterRules(window_days=14))
    assert links(client, b) == []
    c = cases.open(declaration("69", serial="3"), ClusterRules(max_suggestions=0))
    assert links(client, c) == []
    d = cases.open(declaration("69", serial="4"), ClusterRules(max_suggestions=2))
    assert {x["case_id"] for x in links(client, d)} == {a, c}  # closest two, same département


def test_confirm_makes_a_named_cluster_seen_from_each_case(
    client: TestClient, cases: Cases, tokens: Any, cpias_app: Any
) -> None:
    a = cases.open(declaration("69"))
    b = cases.open(declaration("69", serial="2", onset="2026-11-18"))
    r = confirm(client, b, a, name="OXA-48 Lyon-Villeurbanne", reason="Même souche")
    assert r.status_code == 200, r.text
    cluster = r.json()["cluster"]
    assert (cluster["name"], cluster["size"], cluster["first_date"], cluster["last_date"]) == (
        "OXA-48 Lyon-Villeurbanne",
        2,
        "2026-11-10",
        "2026-11-18",
    )
    assert (cluster["organism"], cluster["mechanism_family"], cluster["regions"]) == (
        "Klebsiella pneumoniae",
        "OXA-48",
        ["84"],
    )
    other = client.get(f"/v1/cases/{a}").json()
    assert other["cluster"]["id"] == cluster["id"]
    assert [(x["status"], x["decided_by"]) for x in other["links"]] == [("confirmed", "inv.ara")]
    confirmed = [h for h in other["history"] if h["action"] == "cluster_confirmed"]
    assert [(h["actor"], h["reason"]) for h in confirmed] == [("inv.ara", "Même souche")]
    assert confirm(client, a, b).status_code == 409  # already confirmed
    view = client.get(f"/v1/clusters/{cluster['id']}").json()
    assert [m["case_id"] for m in view["members"]] == [a, b]
    assert all(m["visible"] and m["establishment"]["departement"] == "69" for m in view["members"])
    ars = tokens.headers("ars_viewer", region="84")
    assert [c["id"] for c in client.get("/v1/clusters", headers=ars).json()["items"]] == [
        cluster["id"]
    ]
    assert (
        client.get("/v1/clusters", headers=tokens.headers("ars_viewer", region="11")).json()[
            "items"
        ]
        == []
    )
    idf = tokens.headers("cpias_investigator", cpias="cpias-idf")
    assert client.get(f"/v1/clusters/{cluster['id']}", headers=idf).status_code == 404
    with cpias_app.state.sessions() as s:
        actions = set(s.scalars(select(AuditEntry.action)))
    assert {"cluster:confirm", "read"} <= actions


def test_joining_a_cluster_settles_the_suggestions_with_its_other_members(
    client: TestClient, cases: Cases
) -> None:
    a = cases.open(declaration("69"))
    b = cases.open(declaration("69", serial="2"))
    assert confirm(client, a, b, name="OXA-48 Lyon").status_code == 200
    c = cases.open(declaration("69", serial="3"))
    d = cases.open(declaration("69", serial="4"))
    assert {(x["case_id"], x["status"]) for x in links(client, c)} == {
        (a, "suggested"),
        (b, "suggested"),
        (d, "suggested"),
    }

    # The queue counts each case's undecided suggestions.
    def waiting() -> dict[str, int]:
        page = client.get("/v1/cases", params={"limit": 50}).json()["items"]
        return {x["id"]: x["suggestions_pending"] for x in page}

    assert waiting() == {a: 2, b: 2, c: 3, d: 3}
    assert client.get(f"/v1/cases/{c}").json()["suggestions_pending"] == 3
    # One confirmation puts c in the cluster: its suggestion with b, the other member, has
    # nothing left to decide; the one with d, outside the cluster, stays to be decided.
    joined = confirm(client, c, a, reason="Même souche")
    assert joined.status_code == 200 and joined.json()["cluster"]["size"] == 3
    assert {(x["case_id"], x["status"], x["decided_by"]) for x in joined.json()["links"]} == {
        (a, "confirmed", "inv.ara"),
        (b, "confirmed", "inv.ara"),
        (d, "suggested", None),
    }
    for one, other in ((c, b), (b, c)):
        rows = [
            (h["after"]["case_id"], h["reason"])
            for h in client.get(f"/v1/cases/{one}").json()["history"]
            if h["action"] == "cluster_confirmed"
        ]
        assert (other, outbreaks.SETTLED) in rows
    assert confirm(client, c, b).status_code == 409  # already settled
    assert waiting() == {a: 1, b: 1, c: 1, d: 3}
    # The queue also says which cluster each case is in (d is in none yet).
    page = client.get("/v1/cases", params={"limit": 50}).json()["items"]
    clusters = {x["id"]: x["cluster_name"] for x in page}
    assert clusters == {a: "OXA-48 Lyon", b: "OXA-48 Lyon", c: "OXA-48 Lyon", d: None}
    assert client.get(f"/v1/cases/{c}").json()["cluster_name"] == "OXA-48 Lyon"
    # A suggestion an investigator dismissed stays dismissed when its cases meet in a cluster.
    assert dismiss(client, d, a, reason="Souches différentes").status_code == 200
    assert confirm(client, d, c).status_code == 200
    assert {(x["case_id"], x["status"]) for x in links(client, d)} == {
        (a, "dismissed"),
        (b, "confirmed"),
        (c, "confirmed"),
    }


def test_a_dismissed_suggestion_is_never_suggested_again(
    client: TestClient, cases: Cases, cpias_app: Any
) -> None:
    a = cases.open(declaration("69"))
    b = cases.open(declaration("69", serial="2"))
    r = dismiss(client, a, b, reason="Souches différentes")
    assert r.status_code == 200
    assert [(x["status"], x["decided_by"]) for x in r.json()["links"]] == [("dismissed", "inv.ara")]
    assert dismiss(client, a, b).status_code == 409
    uow = cases.uow()
    with uow:
        case_b = uow.cases.get(b)
        assert case_b is not None
        keys = episode_keys(case_b.declaration, case_b.region_code)
        assert outbreaks.suggest_for(uow, case_b, keys, ClusterRules(), T0) == 0
        uow.commit()
    c = cases.open(declaration("69", serial="3"))
    assert {x["case_id"] for x in links(client, c)} == {a, b}
    with cpias_app.state.sessions() as s:
        pair = s.scalars(select(LinkRow).where(LinkRow.case_id.in_([a, b]))).all()
    assert [x.status for x in pair if {x.case_id, x.other_case_id} == {a, b}] == ["dismissed"]
    # Investigators may still change their mind.
    assert confirm(client, a, b).json()["cluster"]["size"] == 2


def test_only_the_cases_investigators_decide_and_only_suggestions(
    client: TestClient, cases: Cases, tokens: Any
) -> None:
    a = cases.open(declaration("69"))
    b = cases.open(declaration("69", serial="2"))
    legionella = {"species": "Legionella pneumophila", "mechanism": None, "resistance": ()}
    c = cases.open(declaration("69", serial="3", **legionella))
    ars = tokens.headers("ars_viewer", region="84")
    idf = tokens.headers("cpias_investigator", cpias="cpias-idf")
    assert (
        client.post(
            f"/v1/cases/{a}/cluster-suggestions/{b}", json={"decision": "confirm"}, headers=ars
        ).status_code
        == 403
    )
    assert (
        client.post(
            f"/v1/cases/{a}/cluster-suggestions/{b}", json={"decision": "dismiss"}, headers=idf
        ).status_code
        == 404
    )
    assert confirm(client, a, c).status_code == 404  # no suggestion between them
    assert confirm(client, a, "nope").status_code == 404
    client.post(f"/v1/cases/{a}/links", json={"case_id": c, "kind": "same_episode"})
    assert confirm(client, a, c).status_code == 404  # an investigator's link is no suggestion
    admin = tokens.headers("admin")
    assert (
        client.post(
            f"/v1/cases/{a}/cluster-suggestions/{b}", json={"decision": "confirm"}, headers=admin
        ).status_code
        == 200
    )


def test_an_investigators_cluster_link_is_a_confirmed_cluster(
    client: TestClient, cases: Cases
) -> None:
    legionella = {"species": "Legionella pneumophila", "mechanism": None, "resistance": ()}
    a = cases.open(declaration("69", **legionella))
    b = cases.open(declaration("69", serial="2", onset="2026-11-01", **legionella))
    r = client.post(f"/v1/cases/{a}/links", json={"case_id": b, "kind": "cluster"})
    assert r.status_code == 201
    cluster = r.json()["cluster"]
    assert (cluster["name"], cluster["organism"], cluster["first_date"]) == (
        "Cas groupés, 69, 2026-11",
        None,
        "2026-11-01",
    )
    # Linking a suggested pair decides the suggestion.
    c = cases.open(declaration("69", serial="3"))
    d = cases.open(declaration("69", serial="4"))
    r = client.post(f"/v1/cases/{c}/links", json={"case_id": d, "kind": "cluster"})
    assert r.status_code == 201
    assert [(x["status"], x["kind"]) for x in r.json()["links"]] == [("confirmed", "cluster")]
    assert r.json()["cluster"]["organism"] == "Klebsiella pneumoniae"
    # Its history says what the link was before: a suggestion of the cluster rule.
    (linked,) = [h for h in r.json()["history"] if h["action"] == "link"]
    assert linked["before"]["kind"] == "cluster" and linked["before"]["status"] == "suggested"
    assert linked["after"]["kind"] == "cluster"
    # Cases of two clusters are not merged silently.
    r = client.post(f"/v1/cases/{a}/links", json={"case_id": c, "kind": "cluster"})
    assert r.status_code == 409 and r.json()["errors"][0]["rule"] == "cluster_refused"


def test_a_cluster_across_two_regions_is_flagged_for_spf(
    client: TestClient, cases: Cases, tokens: Any, cpias_app: Any
) -> None:
    """The CPias Océan Indien serves La Réunion (region 04) and Mayotte (06)."""
    auris = {"species": "Candida auris", "mechanism": None, "resistance": ()}
    reunion = [cases.open(declaration("974", serial=str(i), **auris)) for i in (1, 2, 3)]
    mayotte = cases.open(declaration("976", serial="4", onset="2026-11-15", **auris))
    oi = tokens.headers("cpias_investigator", cpias="cpias-oi", subject="inv.oi")
    assert links(client.__class__(cpias_app, headers=oi), mayotte) == []  # regions differ
    r = client.post(
        f"/v1/cases/{reunion[0]}/cluster-suggestions/{reunion[1]}",
        json={"decision": "confirm"},
        headers=oi,
    )
    cluster_id = r.json()["cluster"]["id"]
    assert r.json()["cluster"]["spf_flagged_at"] is None

    def flags() -> list[ClusterFlagged]:
        with cpias_app.state.sessions() as s:
            rows = s.scalars(select(Outbox).where(Outbox.key == cluster_id)).all()
        events = [decode(row.value) for row in rows]
        assert all(row.topic == topics.CLUSTERS for row in rows)  # not a declaration's status
        return [p for _, p in events if isinstance(p, ClusterFlagged)]

    assert flags() == []
    r = client.post(f"/v1/clusters/{cluster_id}/members", json={"case_id": mayotte}, headers=oi)
    assert r.status_code == 201, r.text
    assert r.json()["regions"] == ["04", "06"] and r.json()["spf_flagged_at"]
    [flag] = flags()
    assert (flag.recipient, flag.reason, flag.regions, flag.mechanism_family) == (
        "spf",
        "spans_regions",
        ["04", "06"],
        "C. auris",
    )
    assert {c.region_code for c in flag.cases} == {"04", "06"} and len(flag.cases) == 3
    r = client.post(f"/v1/clusters/{cluster_id}/members", json={"case_id": reunion[2]}, headers=oi)
    assert r.json()["size"] == 4 and len(flags()) == 1  # no new region: told once
    assert (
        client.post(
            f"/v1/clusters/{cluster_id}/members", json={"case_id": mayotte}, headers=oi
        ).status_code
        == 409
    )
    # The ARS of Mayotte sees the cluster; La Réunion's cases show only where and when.
    view = client.get(
        f"/v1/clusters/{cluster_id}", headers=tokens.headers("ars_viewer", region="06")
    ).json()
    assert [(m["visible"], m["region_code"], m["reference"] is None) for m in view["members"]] == [
        (False, "04", True),
        (False, "04", True),
        (False, "04", True),
        (True, "06", False),
    ]  # by episode date
    # Only a case it may read gives the declaration a reader opens.
    assert [m["declaration_id"] for m in view["members"][:3]] == [None, None, None]
    mayotte_case = client.get(f"/v1/cases/{mayotte}", headers=oi).json()
    assert view["members"][3]["declaration_id"] == mayotte_case["declaration_id"]


def test_intake_skips_the_spf_flag_without_dead_lettering_it(tmp_path: Any) -> None:
    # Flags went to ias.status.v1 before ias.clusters.v1 existed: such a record still there
    # is skipped and committed.
    payload = ClusterFlagged(
        cluster_id=str(uuid.uuid4()),
        name="x",
        regions=["04", "06"],
        first_date=dt.date(2026, 11, 1),
        last_date=dt.date(2026, 11, 2),
        cases=[],
        flagged_at=T0,
    )
    from schemas.events import envelope

    env = envelope("ClusterFlagged", payload, correlation_id=uuid.uuid4())
    consumer = StatusConsumer(IntakeSettings(database_url=f"sqlite:///{tmp_path}/i.db"), None)
    record = SimpleNamespace(value=env.to_bytes(), offset=7, topic=topics.STATUS, partition=0)
    from iaspipe.kafka import PoisonMessage, handle_alone

    assert handle_alone(consumer, record) == []

    with pytest.raises(PoisonMessage):  # an unknown type is still a poison message
        handle_alone(
            consumer, SimpleNamespace(value=env.to_bytes().replace(b"ClusterFlagged", b"Nope"))
        )


def crossings(family: str, departement: str) -> float:
    labels = {"mechanism_family": family, "departement": departement}
    return REGISTRY.get_sample_value("cpias_threshold_alerts_total", labels) or 0.0


def test_threshold_alert_raised_once_per_crossing(
    client: TestClient, cases: Cases, tokens: Any, cpias_app: Any
) -> None:
    before = crossings("OXA-48", "01")
    for serial, species, onset in (
        ("1", "Klebsiella pneumoniae", "2026-10-01"),
        ("2", "Escherichia coli", "2026-10-15"),
    ):
        cases.open(declaration("01", serial=serial, species=species, onset=onset))
    ars = tokens.headers("ars_viewer", region="84")
    assert client.get("/v1/alerts", params={"current": False}, headers=ars).json()["items"] == []
    cases.open(declaration("01", serial="3", species="Enterobacter cloacae", onset="2026-10-30"))
    assert crossings("OXA-48", "01") == before + 1
    cases.open(declaration("01", serial="4", species="Citrobacter freundii", onset="2026-10-20"))
    cases.open(declaration("01", serial="5", mechanism="NDM"))  # another family
    assert crossings("OXA-48", "01") == before + 1  # still the same crossing
    [alert] = client.get("/v1/alerts", params={"current": False}, headers=ars).json()["items"]
    assert {k: alert[k] for k in ("mechanism_family", "departement", "episodes", "threshold")} == {
        "mechanism_family": "OXA-48",
        "departement": "01",
        "episodes": 4,
        "threshold": 3,
    }
    assert (alert["first_date"], alert["last_date"], alert["window_days"]) == (
        "2026-10-01",
        "2026-10-30",
        30,
    )
    # Current while its last episode is less than the window old.
    uow = cases.uow()
    # 29 November at 23:59 in Paris, 30 days after the last episode: still current.
    late = dt.datetime(2026, 11, 29, 22, 59, tzinfo=dt.UTC)
    ars = Caller(_ars("84"))
    assert clusters.list_alerts(uow, caller=ars, current=True, limit=10, now=late).items
    # Midnight in Paris is 30 November there, though still the 29th in UTC: no longer current.
    later = dt.datetime(2026, 11, 29, 23, tzinfo=dt.UTC)
    assert not clusters.list_alerts(
        cases.uow(), caller=Caller(_ars("84")), current=True, limit=10, now=later
    ).items
    assert (
        client.get(
            "/v1/alerts",
            params={"current": False},
            headers=tokens.headers("ars_viewer", region="11"),
        ).json()["items"]
        == []
    )
    assert (
        client.get(
            "/v1/alerts", headers=tokens.headers("declarant", finess="690781810")
        ).status_code
        == 403
    )
    # A new group after the window has emptied is a new crossing.
    for serial, onset in (("6", "2027-01-10"), ("7", "2027-01-12"), ("8", "2027-01-20")):
        cases.open(declaration("01", serial=serial, onset=onset))
    assert crossings("OXA-48", "01") == before + 2


def _ars(region: str) -> Any:
    from iaspipe.principal import Principal, Role

    return Principal(subject="ars", role=Role.ars_viewer, region=region)


def test_the_rule_keeps_no_free_text_and_no_patient(
    client: TestClient, cases: Cases, cpias_app: Any, tokens: Any
) -> None:
    """Only codes, places and dates travel: free text (where identity could hide despite the
    checks at intake) is never copied into episode keys, suggestions, clusters, alerts or
    the flag for Santé publique France."""
    marker = "TEXTE-LIBRE-7F3C"
    auris = {"species": "Candida auris", "mechanism": None, "resistance": ()}
    ids = []
    for i, dept in enumerate(("974", "974", "974", "976"), start=1):
        body = declaration(dept, serial=str(i), **auris)
        body["infection"]["nature"] = body["infection"]["circumstances"] = marker
        body["establishment"]["unit"] = marker
        ids.append(cases.open(body))
    oi = tokens.headers("cpias_investigator", cpias="cpias-oi", subject="inv.oi")
    r = client.post(
        f"/v1/cases/{ids[0]}/cluster-suggestions/{ids[1]}",
        json={"decision": "confirm"},
        headers=oi,
    )
    cluster_id = r.json()["cluster"]["id"]
    r = client.post(f"/v1/clusters/{cluster_id}/members", json={"case_id": ids[3]}, headers=oi)
    assert r.json()["spf_flagged_at"]
    with cpias_app.state.sessions() as s:
        flags = s.execute(select(Outbox.value).where(Outbox.key == cluster_id)).scalars().all()
        rows = [
            str(tuple(row))
            for table in ("case_episodes", "case_links", "clusters", "cluster_members")
            for row in s.execute(text(f"SELECT * FROM {table}"))
        ]
    assert len(flags) == 1 and len(rows) > 8
    assert all(marker not in row for row in [*rows, *(f.decode() for f in flags)])
    assert marker not in str(client.get(f"/v1/clusters/{cluster_id}", headers=oi).json())


def test_two_cases_added_to_a_cluster_at_once_are_both_counted(
    client: TestClient, cases: Cases, cpias_app: Any
) -> None:
    """The second addition waits for the first (the cluster's row locked) and reads its
    member: the cluster spans both regions, is flagged for Santé publique France, and its
    dates cover both cases, whichever commits last."""
    a = cases.open(declaration("69", serial="1", onset="2026-11-10"))
    b = cases.open(declaration("69", serial="2", onset="2026-11-12"))
    created = confirm(client, a, b)
    assert created.status_code == 200, created.text
    cluster_id = created.json()["cluster"]["id"]
    paris = cases.open(declaration("75", serial="3", onset="2026-11-14"))  # region 11
    later = cases.open(
        declaration("69", serial="4", species="Escherichia coli", onset="2026-11-28")
    )
    committing = threading.Event()

    class SlowToCommit(SqlCpiasUnitOfWork):
        def commit(self) -> None:
            committing.set()
            time.sleep(1.0)
            super().commit()

    admin = Caller(Principal("admin.test", Role.admin))
    errors: list[BaseException] = []

    def add(uow: SqlCpiasUnitOfWork, case_id: str, wait: bool) -> None:
        if wait:
            committing.wait(10)
        try:
            clusters.add_to_cluster(uow, cluster_id, other={"case_id": case_id}, caller=admin)
        except BaseException as exc:
            errors.append(exc)

    sessions = cpias_app.state.sessions
    threads = [
        threading.Thread(target=add, args=(SlowToCommit(sessions), paris, False)),
        threading.Thread(target=add, args=(SqlCpiasUnitOfWork(sessions), later, True)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    view = client.get(f"/v1/clusters/{cluster_id}").json()
    assert view["size"] == 4
    assert sorted(view["regions"]) == ["11", "84"]
    assert view["spf_flagged_at"] is not None
    assert (view["first_date"], view["last_date"]) == ("2026-11-10", "2026-11-28")


@pytest.mark.parametrize(
    "days",
    [
        [0, 9, 37, 47, 18],  # the late case joins the two crossings: five episodes in the span
        [0, 9, 18, 40, 45],  # day 40 and 45 extend it: five cases between day 0 and day 45
    ],
)
def test_a_threshold_alert_counts_every_case_within_its_span(
    client: TestClient, cases: Cases, tokens: Any, days: list[int]
) -> None:
    """Not the busiest window's count, nor one more each time it is extended: every case of
    the family in the département dated within the alert's first and last dates."""
    species = ["Klebsiella pneumoniae", "Escherichia coli", "Enterobacter cloacae"]
    start = dt.date(2026, 9, 1)
    for n, day in enumerate(days):
        onset = (start + dt.timedelta(days=day)).isoformat()
        cases.open(declaration("01", serial=str(n + 1), species=species[n % 3], onset=onset))
    ars = tokens.headers("ars_viewer", region="84")
    [alert] = client.get("/v1/alerts", params={"current": False}, headers=ars).json()["items"]
    first, last = (
        dt.date.fromisoformat(alert["first_date"]),
        dt.date.fromisoformat(alert["last_date"]),
    )
    within = [d for d in days if first <= start + dt.timedelta(days=d) <= last]
    assert alert["episodes"] == len(within) == 5


def test_a_case_opens_whatever_the_length_of_its_organism(client: TestClient, cases: Cases) -> None:
    """The contract takes 300 characters for a species; the episode key keeps what its column
    holds, and the case opens (on PostgreSQL a longer key was refused, and the declaration
    dead-lettered)."""
    long_species = "Klebsiella " + "pneumoniaeae" * 24
    assert len(long_species) <= 300
    case_id = cases.open(declaration("69", serial="1", species=long_species, mechanism="KPC"))
    [episode] = client.get(f"/v1/cases/{case_id}").json()["episodes"]
    assert 0 < len(episode["organism"]) <= 120
