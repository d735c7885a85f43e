"""Intake over its HTTP API, on SQLite and on PostgreSQL (workers off: no broker needed)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from iaspipe.principal import Caller, Principal, Role
from schemas.declaration import Declaration
from schemas.events import decode
from schemas.reference import reference
from services.intake import service
from services.intake.adapters.orm import DeclarationRow, IdempotencyKey, Outbox
from services.intake.adapters.uow import SqlIntakeUnitOfWork
from services.intake.app import create_app
from services.intake.settings import IntakeSettings
from tests.factories import declaration_in, make_declaration


@pytest.fixture
def app(database_url: str, auth_settings):  # type: ignore[no-untyped-def]
    settings = IntakeSettings(
        database_url=database_url, auth=auth_settings, submit_rate_limit="1000/minute"
    )
    return create_app(settings, start_workers=False)


@pytest.fixture
def client(app, tokens) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app) as c:
        c.headers.update(tokens.headers("admin", subject="admin.test"))
        yield c


def test_submission_is_stored_with_its_outbox_row(client: TestClient, app) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/v1/declarations", json=make_declaration())
    assert r.status_code == 201
    body = r.json()
    assert set(body) == {"id", "reference", "status", "received_at"}
    assert re.fullmatch(r"IAS-\d{4}-84-\d{6}", body["reference"])
    assert body["status"] == "submitted"
    with app.state.sessions() as s:
        row = s.get(DeclarationRow, body["id"])
        outbox = s.scalars(select(Outbox)).all()
    assert row is not None and row.reference == body["reference"]
    assert len(outbox) == 1 and outbox[0].topic == "ias.declarations.v1"
    assert outbox[0].key == body["id"] and outbox[0].published_at is None
    env, payload = decode(outbox[0].value)
    assert env.event_type == "DeclarationSubmitted" and str(env.event_id) == row.event_id
    assert payload.reference == body["reference"]  # type: ignore[attr-defined]


def test_references_follow_each_other_per_region(client: TestClient) -> None:
    refs = [
        client.post("/v1/declarations", json=declaration_in(d)).json()["reference"]
        for d in ("69", "75", "01", "93", "2A")
    ]
    year = dt.date.today().year
    assert refs == [
        f"IAS-{year}-84-000001",
        f"IAS-{year}-11-000001",
        f"IAS-{year}-84-000002",
        f"IAS-{year}-11-000002",
        f"IAS-{year}-94-000001",
    ]


def test_references_without_gaps_under_concurrent_submissions(app, client) -> None:  # type: ignore[no-untyped-def]
    bodies = [declaration_in("69" if i % 2 else "13") for i in range(40)]

    admin = Principal(subject="admin", role=Role.admin)

    def submit(body: dict) -> str:
        decl = Declaration.model_validate(body)
        return str(
            service.submit_declaration(
                SqlIntakeUnitOfWork(app.state.sessions),
                decl,
                ref=reference(),
                tz="Europe/Paris",
                caller=Caller(admin),
            ).body.reference
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        refs = list(pool.map(submit, bodies))
    for region in ("84", "93"):
        seqs = sorted(int(r.rsplit("-", 1)[1]) for r in refs if f"-{region}-" in r)
        assert seqs == list(range(1, 21))


def test_idempotent_retry_returns_the_first_answer(client: TestClient, app) -> None:  # type: ignore[no-untyped-def]
    headers = {"Idempotency-Key": "retry-1"}
    first = client.post("/v1/declarations", json=make_declaration(), headers=headers)
    again = client.post("/v1/declarations", json=make_declaration(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    with app.state.sessions() as s:
        assert len(s.scalars(select(DeclarationRow)).all()) == 1


def test_same_key_other_body_is_a_conflict(client: TestClient) -> None:
    headers = {"Idempotency-Key": "retry-2"}
    assert (
        client.post("/v1/declarations", json=make_declaration(), headers=headers).status_code == 201
    )
    r = client.post(
        "/v1/declarations", json=make_declaration(investigations="Autre"), headers=headers
    )
    assert r.status_code == 409
    assert r.json()["errors"][0]["path"] == "Idempotency-Key"


def test_idempotency_keys_kept_24_hours_then_purged(client: TestClient, app) -> None:  # type: ignore[no-untyped-def]
    client.post("/v1/declarations", json=make_declaration(), headers={"Idempotency-Key": "k"})
    now = dt.datetime.now(dt.UTC)
    retention = dt.timedelta(hours=IntakeSettings().idempotency_retention_hours)
    assert retention >= dt.timedelta(hours=24)
    assert (
        service.purge_idempotency_keys(
            SqlIntakeUnitOfWork(app.state.sessions),
            older_than=retention,
            now=now + dt.timedelta(hours=23),
        )
        == 0
    )
    assert (
        service.purge_idempotency_keys(
            SqlIntakeUnitOfWork(app.state.sessions),
            older_than=retention,
            now=now + retention + dt.timedelta(seconds=1),
        )
        == 1
    )
    with app.state.sessions() as s:
        assert s.get(IdempotencyKey, "k") is None


def test_invalid_declaration_gets_one_entry_per_problem(client: TestClient, app) -> None:  # type: ignore[no-untyped-def]
    r = client.post(
        "/v1/declarations", json=make_declaration(criteria=["1a", "3"], declarant__rpps="12")
    )
    assert r.status_code == 422
    errors = {e["path"]: e for e in r.json()["errors"]}
    assert set(errors) == {"infection.deaths", "declarant.rpps"}
    assert errors["infection.deaths"]["article"] == "R1413-79 3°"
    assert errors["infection.deaths"]["message"].startswith("Le critère 3")
    assert errors["infection.deaths"]["message_en"]
    with app.state.sessions() as s:
        assert s.scalars(select(DeclarationRow)).all() == []
        assert s.scalars(select(Outbox)).all() == []


def test_shape_errors_have_paths_without_body_prefix(client: TestClient) -> None:
    body = make_declaration()
    body["infection"]["cases_infected"] = "deux"
    body["patient_name"] = "X"
    r = client.post("/v1/declarations", json=body)
    assert r.status_code == 422
    assert {e["path"] for e in r.json()["errors"]} == {"infection.cases_infected", "patient_name"}


def test_nir_refused_citing_the_article(client: TestClient) -> None:
    nir13 = "2850775123456"
    nir = nir13 + f"{97 - int(nir13) % 97:02d}"
    r = client.post(
        "/v1/declarations", json=make_declaration(infection__circumstances=f"NIR {nir}")
    )
    assert r.status_code == 422
    err = r.json()["errors"][0]
    assert (err["path"], err["rule"], err["article"]) == (
        "infection.circumstances",
        "anonymity_nir",
        "R1413-80",
    )


def test_body_over_64_kib_is_413(client: TestClient) -> None:
    big = make_declaration(investigations="x" * (65 * 1024))
    r = client.post("/v1/declarations", json=big)
    assert r.status_code == 413
    assert r.json()["errors"][0]["rule"] == "body_too_large"


def test_streamed_body_over_limit_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(70):
            yield b" " * 1024

    r = client.post(
        "/v1/declarations", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413


@pytest.mark.parametrize("raw", [b"{", b"", b"not json", b'{"a": }'])
def test_malformed_json_is_a_clear_400(client: TestClient, raw: bytes) -> None:
    r = client.post("/v1/declarations", content=raw, headers={"content-type": "application/json"})
    assert r.status_code in (400, 422)
    assert r.status_code != 500
    assert r.json()["errors"][0]["path"] == "body"


def test_unknown_declaration_is_404(client: TestClient) -> None:
    r = client.get("/v1/declarations/00000000-0000-0000-0000-000000000000")
    assert r.status_code == 404


def test_timeline_starts_with_submitted(client: TestClient) -> None:
    created = client.post("/v1/declarations", json=make_declaration()).json()
    got = client.get(f"/v1/declarations/{created['id']}").json()
    assert got["reference"] == created["reference"]
    assert [t["kind"] for t in got["timeline"]] == ["submitted"]
    assert got["declaration"]["establishment"]["finess"] == "690781810"


def test_complement_is_stored_published_and_in_the_timeline(client: TestClient, app) -> None:  # type: ignore[no-untyped-def]
    created = client.post("/v1/declarations", json=make_declaration()).json()
    complement = {
        "cause_analysis": "Bionettoyage insuffisant des chambres",
        "action_plan": [{"action": "Audit des pratiques", "due_date": "2027-01-15"}],
    }
    r = client.post(f"/v1/declarations/{created['id']}/complement", json=complement)
    assert r.status_code == 202
    got = client.get(f"/v1/declarations/{created['id']}").json()
    assert [t["kind"] for t in got["timeline"]] == ["submitted", "complement_submitted"]
    assert got["complements"][0]["cause_analysis"] == complement["cause_analysis"]
    with app.state.sessions() as s:
        events = [decode(o.value)[0].event_type for o in s.scalars(select(Outbox))]
    assert events == ["DeclarationSubmitted", "DeclarationComplemented"]


def test_complement_rules_and_unknown_declaration(client: TestClient) -> None:
    created = client.post("/v1/declarations", json=make_declaration()).json()
    r = client.post(
        f"/v1/declarations/{created['id']}/complement",
        json={"cause_analysis": "", "action_plan": []},
    )
    assert r.status_code == 422
    r = client.post(
        "/v1/declarations/nope/complement",
        json={"cause_analysis": "x", "action_plan": [{"action": "y"}]},
    )
    assert r.status_code == 404


def test_declaration_bodies_never_reach_the_logs(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = make_declaration(infection__circumstances="Texte-témoin-ne-pas-journaliser")
    client.post("/v1/declarations", json=body)
    client.post(
        "/v1/declarations",
        json=make_declaration(
            infection__circumstances="Texte-témoin-ne-pas-journaliser", criteria=["3"]
        ),
    )
    assert "Texte-témoin" not in caplog.text
    assert "Claire Martin" not in caplog.text


def test_openapi_shows_the_samples(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/declarations"]["post"]["requestBody"]["content"]["application/json"]
    assert {
        "cpe_cluster_lyon",
        "candida_auris_paris_device",
        "legionella_death_ehpad_brest",
    } <= set(body["examples"])
    assert client.get("/docs").status_code == 200


def test_metrics_count_received_and_refused(client: TestClient) -> None:
    client.post("/v1/declarations", json=make_declaration())
    client.post("/v1/declarations", json=make_declaration(criteria=["1a", "3"]))
    text = client.get("/metrics").text
    assert re.search(r'intake_declarations_received_total\{criterion="2",region="84"\} [1-9]', text)
    assert re.search(
        r'intake_declarations_refused_total\{reason="criterion_3_needs_death"\} '
        r"[1-9]",
        text,
    )
    assert "iaspipe_outbox_backlog" in text or "iaspipe_outbox_publish_latency" in text


def test_health(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.json()["checks"]["database"] == "ok"
    _ = json  # readiness of the broker is covered end to end


def test_list_is_newest_first_and_paginated(client: TestClient) -> None:
    refs = [
        client.post("/v1/declarations", json=declaration_in(d)).json()["reference"]
        for d in ("69", "75", "01")
    ]
    page = client.get("/v1/declarations", params={"limit": 2}).json()
    assert [i["reference"] for i in page["items"]] == [refs[2], refs[1]]
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 0)
    rest = client.get("/v1/declarations", params={"limit": 2, "offset": 2}).json()
    assert [i["reference"] for i in rest["items"]] == [refs[0]]
    first = page["items"][1]
    assert first["establishment_name"] == "CHU Exemple"
    assert (first["finess"], first["departement"], first["region_code"]) == (
        "750000000",
        "75",
        "11",
    )
    assert first["criteria"] == ["1a", "2"] and first["status"] == "submitted"
    assert client.get("/v1/declarations", params={"limit": 0}).status_code == 422


def test_list_holds_only_the_callers_scope(client: TestClient, tokens) -> None:  # type: ignore[no-untyped-def]
    lyon = client.post("/v1/declarations", json=make_declaration()).json()["reference"]
    bourg = client.post("/v1/declarations", json=declaration_in("01")).json()["reference"]
    paris = client.post("/v1/declarations", json=declaration_in("75")).json()["reference"]

    def listed(role: str, **scope: str) -> set[str]:
        r = client.get("/v1/declarations", headers=tokens.headers(role, **scope))
        assert r.status_code == 200, r.text
        assert r.json()["total"] == len(r.json()["items"])
        return {i["reference"] for i in r.json()["items"]}

    assert listed("declarant", finess="690781810") == {lyon}
    assert listed("ars_viewer", region="84") == {lyon, bourg}
    assert listed("cpias_investigator", cpias="cpias-idf") == {paris}
    assert listed("admin") == {lyon, bourg, paris}
    assert listed("declarant", finess="750100125") == set()
