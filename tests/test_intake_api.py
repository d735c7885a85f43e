"""Intake over its HTTP API, on SQLite and on PostgreSQL (workers off: no broker needed)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from sqlalchemy import select

from iaspipe.db import make_engine
from iaspipe.errors import InvalidRequest
from iaspipe.principal import Caller, Principal, Role
from schemas.declaration import Declaration
from schemas.events import DeclarationComplemented, DeclarationRouted, RoutingDecided, decode
from schemas.reference import local_today, reference
from services.intake import service
from services.intake.adapters.orm import ComplementRow, DeclarationRow, IdempotencyKey, Outbox
from services.intake.adapters.submissions import SqlSubmissions
from services.intake.adapters.uow import SqlIntakeUnitOfWork
from services.intake.app import MIGRATIONS, create_app
from services.intake.settings import IntakeSettings
from services.router.service import route
from tests.events import changed_routing, outbox_events, route_stored, submitted
from tests.factories import community_declaration, declaration_in, make_declaration


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
    assert set(body) == {"id", "reference", "status", "received_at", "warnings"}
    assert body["warnings"] == []
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


def test_references_unique_and_consecutive_under_concurrent_submissions(client: TestClient) -> None:
    bodies = [declaration_in("69" if i % 2 else "13") for i in range(40)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda b: client.post("/v1/declarations", json=b), bodies))
    assert {a.status_code for a in answers} == {201}
    refs = [a.json()["reference"] for a in answers]
    for region in ("84", "93"):
        seqs = sorted(int(r.rsplit("-", 1)[1]) for r in refs if f"-{region}-" in r)
        assert seqs == list(range(1, 21))  # nothing failed: no gap


def test_a_refused_submission_may_leave_a_gap_but_numbers_keep_increasing(
    client: TestClient,
) -> None:
    key = {"Idempotency-Key": "gap-1"}
    first = client.post("/v1/declarations", json=make_declaration(), headers=key)
    other = client.post(
        "/v1/declarations", json=make_declaration(investigations="Autre"), headers=key
    )
    assert other.status_code == 409
    then = client.post("/v1/declarations", json=make_declaration())
    seq = [int(r.json()["reference"].rsplit("-", 1)[1]) for r in (first, then)]
    assert seq[1] > seq[0]


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
        assert s.get(IdempotencyKey, ("subject:admin.test", "k")) is None


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


def test_a_refused_shape_still_says_the_identity_in_the_texts(client: TestClient) -> None:
    """One answer says every problem: a body missing a field, with a NIR in one text and a
    date of birth in another, gets the three at once, not the identity on the next try."""
    nir13 = "1850575123456"
    body = make_declaration(
        infection__circumstances=f"Patient NIR {nir13}{97 - int(nir13) % 97:02d}",
        investigations="DDN : 03/03/1945",
    )
    del body["patients_informed"]
    body["infection"]["sites"] = ["bacteraemia", "bogus"]
    r = client.post("/v1/declarations", json=body)
    assert r.status_code == 422
    said = [(e["path"], e["rule"]) for e in r.json()["errors"]]
    assert ("patients_informed", "missing") in said
    assert ("infection.sites[1]", "enum") in said
    assert ("infection.circumstances", "anonymity_nir") in said
    assert ("investigations", "anonymity_birth_date") in said
    # The rules of the parts that are well formed are said too: a criterion 3 without a death,
    # an onset after the detection, a FINESS of another département.
    body = make_declaration(
        criteria=["1a", "3"],
        infection__onset_date="2026-11-20",
        infection__detection_date="2026-11-18",
        establishment__finess="750100125",
    )
    del body["patients_informed"]
    said = {
        (e["path"], e["rule"]) for e in client.post("/v1/declarations", json=body).json()["errors"]
    }
    assert {
        ("patients_informed", "missing"),
        ("infection.deaths", "criterion_3_needs_death"),
        ("establishment.finess", "finess_departement"),
        ("infection.onset_date", "onset_after_detection"),
    } <= said
    # An establishment refused for its kind still tells the day in its département: a
    # detection tomorrow in La Réunion is said in the same answer.
    tomorrow = local_today("974", dt.datetime.now(dt.UTC)) + dt.timedelta(days=1)
    body = make_declaration(
        establishment__kind="XX",
        establishment__departement="974",
        establishment__finess="970400123",
        infection__detection_date=tomorrow.isoformat(),
    )
    said = {
        (e["path"], e["rule"]) for e in client.post("/v1/declarations", json=body).json()["errors"]
    }
    assert {("establishment.kind", "enum"), ("infection.detection_date", "date_in_future")} <= said
    # A text refused for its shape is not said twice.
    body = make_declaration()
    body["infection"]["nature"] = ["DDN : 03/03/1945"]
    paths = [e["path"] for e in client.post("/v1/declarations", json=body).json()["errors"]]
    assert paths.count("infection.nature") == 1

    created = client.post("/v1/declarations", json=make_declaration()).json()
    r = client.post(
        f"/v1/declarations/{created['id']}/complement",
        json={"cause_analysis": "Patient né le 03/03/1945", "action_plan": []},
    )
    assert r.status_code == 422
    said = [(e["path"], e["rule"]) for e in r.json()["errors"]]
    assert ("action_plan", "too_short") in said
    assert ("cause_analysis", "anonymity_birth_date") in said


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


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_a_body_not_announced_as_json_is_a_415(
    client: TestClient, content_type: str | None
) -> None:
    raw = json.dumps(make_declaration()).encode()
    headers = {"content-type": content_type} if content_type else {}
    r = client.post("/v1/declarations", content=raw, headers=headers)
    assert r.status_code == 415
    assert r.headers["content-type"] == "application/problem+json"
    [problem] = r.json()["errors"]
    assert (problem["path"], problem["rule"]) == ("Content-Type", "media_type")
    assert client.get("/v1/declarations").json()["total"] == 0  # nothing stored


def test_a_complement_not_announced_as_json_is_a_415(client: TestClient, app) -> None:  # type: ignore[no-untyped-def]
    created = client.post("/v1/declarations", json=make_declaration()).json()
    route_stored(app.state.sessions, created["id"])
    raw = json.dumps({"cause_analysis": "Analyse", "action_plan": [{"action": "Plan"}]})
    url = f"/v1/declarations/{created['id']}/complement"
    r = client.post(url, content=raw, headers={"content-type": "text/plain"})
    assert r.status_code == 415
    assert r.json()["errors"][0]["path"] == "Content-Type"
    timeline = client.get(f"/v1/declarations/{created['id']}").json()["timeline"]
    assert "complement_submitted" not in [t["kind"] for t in timeline]
    r = client.post(url, content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 202


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "APPLICATION/JSON", "application/problem+json"],
)
def test_json_with_its_charset_or_a_json_subtype_is_taken(
    client: TestClient, content_type: str
) -> None:
    raw = json.dumps(make_declaration()).encode()
    r = client.post("/v1/declarations", content=raw, headers={"content-type": content_type})
    assert r.status_code == 201, r.text


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
    route_stored(app.state.sessions, created["id"])
    complement = {
        "cause_analysis": "Bionettoyage insuffisant des chambres",
        "action_plan": [{"action": "Audit des pratiques", "due_date": "2027-01-15"}],
    }
    r = client.post(f"/v1/declarations/{created['id']}/complement", json=complement)
    assert r.status_code == 202 and r.json()["warnings"] == []
    got = client.get(f"/v1/declarations/{created['id']}").json()
    assert [t["kind"] for t in got["timeline"]] == ["submitted", "routed", "complement_submitted"]
    assert got["complements"][0]["cause_analysis"] == complement["cause_analysis"]
    with app.state.sessions() as s:
        events = [decode(o.value)[0].event_type for o in s.scalars(select(Outbox))]
    # The declarant's receipt, requested with the routing decision, comes between the two.
    assert events == ["DeclarationSubmitted", "NotificationRequested", "DeclarationComplemented"]


def test_a_retried_complement_is_stored_and_published_once(client: TestClient, app) -> None:  # type: ignore[no-untyped-def]
    created = client.post("/v1/declarations", json=make_declaration()).json()
    route_stored(app.state.sessions, created["id"])
    url = f"/v1/declarations/{created['id']}/complement"
    complement = {"cause_analysis": "Bionettoyage", "action_plan": [{"action": "Audit"}]}
    first = client.post(url, json=complement, headers={"Idempotency-Key": "c1"})
    again = client.post(url, json=complement, headers={"Idempotency-Key": "c1"})
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    other = {"cause_analysis": "Autre analyse", "action_plan": [{"action": "Audit"}]}
    conflict = client.post(url, json=other, headers={"Idempotency-Key": "c1"})
    assert conflict.status_code == 409
    assert conflict.json()["errors"][0]["rule"] == "idempotency_conflict"
    # Another key is another complement; the same key on another declaration too.
    assert client.post(url, json=other, headers={"Idempotency-Key": "c2"}).status_code == 202
    got = client.get(f"/v1/declarations/{created['id']}").json()
    assert len(got["complements"]) == 2
    with app.state.sessions() as s:
        events = [decode(o.value)[0].event_type for o in s.scalars(select(Outbox))]
    assert events.count("DeclarationComplemented") == 2


def test_a_complement_naming_someone_is_recorded_with_a_warning(client: TestClient, app) -> None:  # type: ignore[no-untyped-def]
    """A complement's texts are read as the declaration's (R1413-80): a name after a title is
    a warning beside its text, never a refusal; a retry answers the same warnings."""
    created = client.post("/v1/declarations", json=make_declaration()).json()
    route_stored(app.state.sessions, created["id"])
    url = f"/v1/declarations/{created['id']}/complement"
    complement = {
        "cause_analysis": "Défaut de bionettoyage relevé par Mme Durand",
        "action_plan": [{"action": "Audit des pratiques"}, {"action": "Rappel au Dr Martin"}],
    }
    first = client.post(url, json=complement, headers={"Idempotency-Key": "n1"})
    assert first.status_code == 202
    warned = [(w["path"], w["rule"], w["article"]) for w in first.json()["warnings"]]
    assert warned == [
        ("cause_analysis", "name_in_text", "R1413-80"),
        ("action_plan[1].action", "name_in_text", "R1413-80"),
    ]
    again = client.post(url, json=complement, headers={"Idempotency-Key": "n1"})
    assert again.json() == first.json()


def test_complement_keys_belong_to_their_sender(client: TestClient, app, tokens) -> None:  # type: ignore[no-untyped-def]
    """The establishment and an admin both send "Idempotency-Key: 1": two complements, and
    neither learns that the other used the key; each one's retry finds its own answer."""
    created = client.post("/v1/declarations", json=make_declaration()).json()
    route_stored(app.state.sessions, created["id"])
    url = f"/v1/declarations/{created['id']}/complement"
    chu = tokens.headers("declarant", subject="lyon", finess="690781810")
    mine = {"cause_analysis": "Analyse du CHU", "action_plan": [{"action": "Audit"}]}
    theirs = {"cause_analysis": "Analyse de l'admin", "action_plan": [{"action": "Audit"}]}
    first = client.post(url, json=mine, headers={**chu, "Idempotency-Key": "1"})
    other = client.post(url, json=theirs, headers={"Idempotency-Key": "1"})
    assert first.status_code == other.status_code == 202
    assert first.json()["id"] != other.json()["id"]
    again = client.post(url, json=mine, headers={**chu, "Idempotency-Key": "1"})
    assert again.json() == first.json()
    # The establishment's own keys keep the id they always had.
    own = uuid.uuid5(uuid.UUID(created["id"]), "complement:1")
    assert first.json()["id"] == str(own)
    got = client.get(f"/v1/declarations/{created['id']}").json()
    assert sorted(c["cause_analysis"] for c in got["complements"]) == [
        "Analyse de l'admin",
        "Analyse du CHU",
    ]


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


def test_every_refusal_of_a_submission_is_counted_by_its_rule(client: TestClient) -> None:
    """Shape, unreadable JSON and a reused key count in `intake_declarations_refused_total`,
    as the rules' refusals do."""
    from prometheus_client import REGISTRY

    def count(reason: str) -> float:
        value = REGISTRY.get_sample_value("intake_declarations_refused_total", {"reason": reason})
        return value or 0.0

    reasons = ("extra_forbidden", "enum", "json_invalid", "idempotency_conflict")
    before = {r: count(r) for r in reasons}
    unknown = make_declaration()
    unknown["patient_name"] = "X"
    assert client.post("/v1/declarations", json=unknown).status_code == 422
    bad_enum = make_declaration()
    bad_enum["infection"]["sites"] = ["bogus", "nope"]
    assert client.post("/v1/declarations", json=bad_enum).status_code == 422
    headers = {"content-type": "application/json"}
    assert client.post("/v1/declarations", content=b"{", headers=headers).status_code == 400
    key = {"Idempotency-Key": str(uuid.uuid4())}
    assert client.post("/v1/declarations", json=make_declaration(), headers=key).status_code == 201
    other = make_declaration(investigations="Autre texte")
    assert client.post("/v1/declarations", json=other, headers=key).status_code == 409
    # once a request, whatever the number of places it breaks the rule
    assert {r: count(r) - before[r] for r in reasons} == dict.fromkeys(reasons, 1.0)


def test_health(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.json()["checks"]["database"] == "ok"
    _ = json  # readiness of the broker is covered end to end


# -- rules v2 -----------------------------------------------------------------------------------


def test_the_201_answer_carries_the_warnings_and_a_retry_replays_them(client: TestClient) -> None:
    body = make_declaration(
        establishment__finess="690781811",
        infection__circumstances="Patient vu par le Dr Martin",
    )
    headers = {"Idempotency-Key": "warned-1"}
    r = client.post("/v1/declarations", json=body, headers=headers)
    assert r.status_code == 201, r.text
    assert [(w["path"], w["rule"]) for w in r.json()["warnings"]] == [
        ("establishment.finess", "finess_key"),
        ("infection.circumstances", "name_in_text"),
    ]
    assert r.json()["warnings"][1]["article"] == "R1413-80"
    # A rule without article says none, as a refusal's problem does: the key is left out.
    assert set(r.json()["warnings"][0]) == {"path", "rule", "message", "message_en"}
    again = client.post("/v1/declarations", json=body, headers=headers)
    assert again.json() == r.json()


@pytest.mark.parametrize(
    ("finess", "departement", "region"),
    [
        ("970100228", "971", "01"),  # CHU de Guadeloupe
        ("970211207", "972", "02"),  # CHU de Martinique
        ("970302022", "973", "03"),
        ("970408589", "974", "04"),
        ("980500003", "976", "06"),  # Mayotte
        ("2A0000014", "2a", "94"),
    ],
)
def test_overseas_and_corsican_establishments_declare(
    client: TestClient, finess: str, departement: str, region: str
) -> None:
    body = make_declaration(establishment__finess=finess, establishment__departement=departement)
    r = client.post("/v1/declarations", json=body)
    assert r.status_code == 201, r.text
    assert f"-{region}-" in r.json()["reference"]
    got = client.get(f"/v1/declarations/{r.json()['id']}").json()
    assert got["declaration"]["establishment"]["departement"] == departement.upper()


def _declared_in_community_practice(c: TestClient, headers: dict[str, str]) -> str:
    """A liberal nurse's declaration sent with `headers`, and read back by them: its id."""
    r = c.post("/v1/declarations", json=community_declaration(), headers=headers)
    assert r.status_code == 201, r.text
    declaration_id = str(r.json()["id"])
    assert c.get(f"/v1/declarations/{declaration_id}", headers=headers).status_code == 200
    return declaration_id


def test_liberal_nurse_declares_without_finess_and_follows_her_declaration(
    app,
    tokens,  # type: ignore[no-untyped-def]
) -> None:
    nurse = tokens.headers("declarant", finess="690781810", subject="ide.liberale")
    colleague = tokens.headers("declarant", finess="690781810", subject="autre.ide")
    with TestClient(app) as c:
        declaration_id = _declared_in_community_practice(c, nurse)
        assert c.get(f"/v1/declarations/{declaration_id}", headers=colleague).status_code == 404
        # Her list holds it beside her establishment's; her colleague's does not.
        mine = c.get("/v1/declarations", headers=nurse).json()["items"]
        assert declaration_id in [d["id"] for d in mine]
        theirs = c.get("/v1/declarations", headers=colleague).json()["items"]
        assert declaration_id not in [d["id"] for d in theirs]
    with app.state.sessions() as s:
        assert s.get(DeclarationRow, declaration_id).finess is None


def test_a_professional_without_finess_declares_in_community_practice(
    app,
    tokens,  # type: ignore[no-untyped-def]
) -> None:
    """A token without FINESS (a liberal professional, identified by RPPS): it declares
    without FINESS, lists and reads what it sent, and no one else's."""
    nurse = tokens.headers("declarant", subject="ide.croix-rousse")
    other = tokens.headers("declarant", subject="ide.part-dieu")
    hospital = tokens.headers("declarant", finess="690781810", subject="eoh.chu")
    with TestClient(app) as c:
        declaration_id = _declared_in_community_practice(c, nurse)
        listed = c.get("/v1/declarations", headers=nurse).json()
        assert [d["id"] for d in listed["items"]] == [declaration_id] and listed["total"] == 1
        for stranger in (other, hospital):
            assert c.get(f"/v1/declarations/{declaration_id}", headers=stranger).status_code == 404
            assert c.get("/v1/declarations", headers=stranger).json()["total"] == 0
        # An establishment's FINESS is not hers to declare for.
        forged = make_declaration(declarant__role="professionnel_sante")
        assert c.post("/v1/declarations", json=forged, headers=nurse).status_code == 403
        # An establishment declaring for another is told so at the FINESS, in French.
        other_finess = make_declaration(establishment__finess="690000880")
        r = c.post("/v1/declarations", json=other_finess, headers=hospital)
        assert r.status_code == 403
        [problem] = r.json()["errors"]
        assert (problem["path"], problem["rule"]) == ("establishment.finess", "forbidden")
        assert "690781810" in problem["message"] and "690000880" in problem["message"]


def test_ehpad_director_declares_without_rpps(client: TestClient) -> None:
    body = make_declaration(
        "legionella_death_ehpad_brest",
        declarant__rpps=None,
        declarant__function="Directrice de l'EHPAD",
    )
    r = client.post("/v1/declarations", json=body)
    assert r.status_code == 201, r.text
    missing = make_declaration("legionella_death_ehpad_brest", declarant__rpps=None)
    r = client.post("/v1/declarations", json=missing)
    assert r.status_code == 422
    assert [(e["path"], e["rule"]) for e in r.json()["errors"]] == [
        ("declarant.function", "function_required")
    ]


def _submit_at(app, body: dict, now: dt.datetime) -> service.Submission:  # type: ignore[no-untyped-def]
    submissions = SqlSubmissions(lambda: SqlIntakeUnitOfWork(app.state.sessions))
    return asyncio.run(
        service.submit_declaration(
            submissions,
            Declaration.model_validate(body),
            ref=reference(),
            caller=Caller(Principal(subject="admin", role=Role.admin)),
            now=now,
        )
    )


def test_dates_are_judged_against_the_departements_own_day(app, client) -> None:  # type: ignore[no-untyped-def]
    # 21:30 UTC on 22 November: 22:30 in Lyon, 01:30 on the 23rd in La Réunion.
    evening = dt.datetime(2026, 11, 22, 21, 30, tzinfo=dt.UTC)
    detected_23rd = {"infection__detection_date": "2026-11-23"}
    reunion = declaration_in("974", **detected_23rd)
    assert _submit_at(app, reunion, evening).status_code == 201
    with pytest.raises(InvalidRequest) as refused:
        _submit_at(app, make_declaration(**detected_23rd), evening)
    assert [p.rule for p in refused.value.problems()] == ["date_in_future"]
    # 02:30 UTC on 23 November: the 23rd in Lyon, still the 22nd in Guadeloupe.
    night = dt.datetime(2026, 11, 23, 2, 30, tzinfo=dt.UTC)
    assert _submit_at(app, make_declaration(**detected_23rd), night).status_code == 201
    with pytest.raises(InvalidRequest):
        _submit_at(app, declaration_in("971", **detected_23rd), night)


def test_the_reference_year_is_the_departements_year(app, client) -> None:  # type: ignore[no-untyped-def]
    new_year_in_reunion = dt.datetime(2026, 12, 31, 21, 0, tzinfo=dt.UTC)
    assert _submit_at(app, declaration_in("974"), new_year_in_reunion).body.reference == (
        "IAS-2027-04-000001"
    )
    assert _submit_at(app, make_declaration(), new_year_in_reunion).body.reference == (
        "IAS-2026-84-000001"
    )
    still_2026_in_guadeloupe = dt.datetime(2027, 1, 1, 2, 0, tzinfo=dt.UTC)
    assert _submit_at(app, declaration_in("971"), still_2026_in_guadeloupe).body.reference == (
        "IAS-2026-01-000001"
    )


def test_a_complement_sent_before_the_routing_decision_waits_for_it(
    client: TestClient,
    app,  # type: ignore[no-untyped-def]
) -> None:
    """Sent at once after the declaration, before the router's decision is back: accepted
    (202) and in the timeline, but published only when the decision arrives, with it, so
    that it reaches the decision's recipients; published once."""
    created = client.post("/v1/declarations", json=make_declaration()).json()
    complement = {"cause_analysis": "Analyse", "action_plan": [{"action": "Plan"}]}
    r = client.post(f"/v1/declarations/{created['id']}/complement", json=complement)
    assert r.status_code == 202, r.text
    complement_id = r.json()["id"]
    timeline = client.get(f"/v1/declarations/{created['id']}").json()["timeline"]
    assert "complement_submitted" in [t["kind"] for t in timeline]
    assert [decode(e)[0].event_type for e in outbox_events(app.state.sessions, created["id"])] == [
        "DeclarationSubmitted"
    ]
    decided = route_stored(app.state.sessions, created["id"])
    events = [decode(e) for e in outbox_events(app.state.sessions, created["id"])]
    complemented = [p for env, p in events if env.event_type == "DeclarationComplemented"]
    assert len(complemented) == 1
    [sent] = complemented
    assert isinstance(sent, DeclarationComplemented)
    assert sent.initial_decision is not None
    assert [x.id for x in sent.initial_decision.recipients] == [
        x.id for x in decided.decision.recipients
    ]
    assert str(events[-1][0].event_id) == complement_id
    # The decision said again (the router publishing it again) publishes nothing more.
    service.follow_events(SqlIntakeUnitOfWork(app.state.sessions), [(str(uuid.uuid4()), decided)])
    again = [decode(e)[0].event_type for e in outbox_events(app.state.sessions, created["id"])]
    assert again.count("DeclarationComplemented") == 1


def test_a_complement_sent_while_the_decision_comes_back_is_published(
    client: TestClient,
    app,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The complement reads "no decision yet" while the status consumer records the decision
    and releases what was held: the two take turns on the declaration's row, and the
    complement is published, not left held for ever."""
    from services.intake.domain import policy

    created = client.post("/v1/declarations", json=make_declaration()).json()
    read_it = threading.Event()
    check = policy.check_may_complement

    def slow_check(principal: Any, record: Any) -> None:
        check(principal, record)
        read_it.set()  # the complement has read its declaration: the decision comes now
        time.sleep(1.0)

    monkeypatch.setattr(policy, "check_may_complement", slow_check)
    decided = threading.Thread(
        target=lambda: (read_it.wait(10), route_stored(app.state.sessions, created["id"]))
    )
    decided.start()
    complement = {"cause_analysis": "Analyse", "action_plan": [{"action": "Plan"}]}
    r = client.post(f"/v1/declarations/{created['id']}/complement", json=complement)
    decided.join(30)
    assert r.status_code == 202, r.text
    types = [decode(e)[0].event_type for e in outbox_events(app.state.sessions, created["id"])]
    assert types.count("DeclarationComplemented") == 1


def test_a_complement_left_held_after_its_decision_is_sent_by_the_reconciliation(
    client: TestClient,
    app,  # type: ignore[no-untyped-def]
) -> None:
    created = client.post("/v1/declarations", json=make_declaration()).json()
    route_stored(app.state.sessions, created["id"])
    complement = {"cause_analysis": "Analyse", "action_plan": [{"action": "Plan"}]}
    sent = client.post(f"/v1/declarations/{created['id']}/complement", json=complement).json()
    with app.state.sessions.begin() as s:  # as a release missed would have left it
        s.execute(sa.update(ComplementRow).values(held=True, last_published_at=None))
        s.execute(sa.delete(Outbox).where(Outbox.event_id == sent["id"]))
    service.republish_unconfirmed(
        SqlIntakeUnitOfWork(app.state.sessions), older_than=dt.timedelta(hours=1)
    )
    types = [decode(e)[0].event_type for e in outbox_events(app.state.sessions, created["id"])]
    assert types.count("DeclarationComplemented") == 1
    with app.state.sessions() as s:
        assert s.scalar(sa.select(ComplementRow.held)) is False


def test_complement_reaches_the_initial_recipients_after_the_rules_changed(
    client: TestClient,
    app,
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    body = make_declaration(
        products__medical_device={"description": "Endoscope", "already_declared": True}
    )
    created = client.post("/v1/declarations", json=body).json()
    initial = route_stored(app.state.sessions, created["id"]).decision
    changed = changed_routing(tmp_path)  # a new rules version, and the Rhône moved region

    r = client.post(
        f"/v1/declarations/{created['id']}/complement",
        json={"cause_analysis": "Défaut de désinfection", "action_plan": [{"action": "Audit"}]},
    )
    assert r.status_code == 202
    raw = outbox_events(app.state.sessions, created["id"])[-1]
    _, complemented = decode(raw)
    assert isinstance(complemented, DeclarationComplemented)
    assert complemented.initial_decision == initial
    out = route(raw, changed)

    assert [o.topic for o in out[:-1]] == [r.topic for r in initial.recipients]
    for message in out[:-1]:
        _, routed = decode(message.value)
        assert isinstance(routed, DeclarationRouted)
        assert (routed.kind, routed.rules_version, routed.region_code) == (
            "complement",
            "2026-11-v2",
            "84",
        )
        assert routed.recipient in initial.recipients
    assert {r.id: r.for_information for r in initial.recipients}["ansm"] is True


def test_the_routed_timeline_entry_shows_what_is_still_owed(
    client: TestClient,
    app,  # type: ignore[no-untyped-def]
) -> None:
    created = client.post(
        "/v1/declarations", json=make_declaration("legionella_death_ehpad_brest")
    ).json()
    route_stored(app.state.sessions, created["id"])
    got = client.get(f"/v1/declarations/{created['id']}").json()
    routed = next(t for t in got["timeline"] if t["kind"] == "routed")
    assert routed["rules_version"] == "2026-11-v2"
    assert [(o["rule"], o["owed_to"], o["article"]) for o in routed["obligations"]] == [
        ("notifiable_disease_report_ars", "ars", "L3113-1"),
        ("serious_adverse_event_ars", "ars", "R1413-67, R1413-68"),
    ]
    assert all(o["message"] and o["message_en"] for o in routed["obligations"])
    assert got["timeline"][0].get("obligations") is None


def test_a_later_decision_does_not_replace_the_stored_one(
    client: TestClient,
    app,
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    created = client.post("/v1/declarations", json=make_declaration()).json()
    first = route_stored(app.state.sessions, created["id"]).decision
    submitted_again = submitted(make_declaration(), declaration_id=created["id"])
    out = route(submitted_again.to_bytes(), changed_routing(tmp_path))
    env, other = decode(out[-1].value)
    assert isinstance(other, RoutingDecided)
    service.follow_event(SqlIntakeUnitOfWork(app.state.sessions), str(env.event_id), other)
    with app.state.sessions() as s:
        row = s.get(DeclarationRow, created["id"])
        assert row.routing_decision == first.model_dump(mode="json")
        assert row.recipients == ["ars-84", "spf", "cpias-ara"]


def _at_revision_0002_with_a_v1_routed_declaration(database_url: str) -> str:
    """An intake database as rules v1 left it: one declaration routed to the SRA."""
    engine = make_engine(database_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
    now = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
    body = make_declaration(criteria=["1a", "2", "3"], infection__deaths=1)
    declarations = sa.table(
        "declarations",
        *(sa.column(c) for c in ("id", "reference", "region_code", "year", "sequence")),
        *(sa.column(c) for c in ("departement", "finess", "status", "event_id")),
        *(sa.column(c) for c in ("submitted_by", "publish_count")),
        sa.column("body", sa.JSON),
        sa.column("recipients", sa.JSON),
        sa.column("received_at", sa.DateTime(timezone=True)),
        sa.column("last_published_at", sa.DateTime(timezone=True)),
    )
    timeline = sa.table(
        "timeline",
        *(sa.column(c) for c in ("declaration_id", "event_id", "kind")),
        sa.column("at", sa.DateTime(timezone=True)),
        sa.column("detail", sa.JSON),
    )
    v1_recipients = ["ars-84", "spf", "cpias-ara", "sra-84"]
    declaration_id = "00000000-0000-4000-8000-000000000001"
    with engine.begin() as conn:
        conn.execute(
            declarations.insert().values(
                id=declaration_id,
                reference="IAS-2026-84-000007",
                region_code="84",
                year=2026,
                sequence=7,
                departement="69",
                finess="690781810",
                status="routed",
                event_id="00000000-0000-4000-8000-000000000002",
                submitted_by="admin",
                publish_count=1,
                body=body,
                recipients=v1_recipients,
                received_at=now,
                last_published_at=now,
            )
        )
        for kind, event_id, detail in (
            ("submitted", "00000000-0000-4000-8000-000000000002", {}),
            (
                "routed",
                "00000000-0000-4000-8000-000000000003",
                {"recipients": v1_recipients, "priority": "urgent", "rules_version": "2026-11-v1"},
            ),
        ):
            conn.execute(
                timeline.insert().values(
                    declaration_id=declaration_id,
                    event_id=event_id,
                    kind=kind,
                    at=now,
                    detail=detail,
                )
            )
    engine.dispose()
    return declaration_id


def test_declarations_routed_under_v1_keep_their_v1_decision(
    database_url: str,
    auth_settings,
    tokens,  # type: ignore[no-untyped-def]
) -> None:
    declaration_id = _at_revision_0002_with_a_v1_routed_declaration(database_url)
    app = create_app(
        IntakeSettings(database_url=database_url, auth=auth_settings), start_workers=False
    )
    with TestClient(app) as c:  # the lifespan upgrades to rules v2's revision
        c.headers.update(tokens.headers("admin"))
        got = c.get(f"/v1/declarations/{declaration_id}").json()
        assert got["recipients"] == ["ars-84", "spf", "cpias-ara", "sra-84"]
        routed = got["timeline"][1]
        assert (routed["kind"], routed["rules_version"]) == ("routed", "2026-11-v1")
        assert routed["recipients"] == got["recipients"]
        r = c.post(
            f"/v1/declarations/{declaration_id}/complement",
            json={"cause_analysis": "Analyse", "action_plan": [{"action": "Plan"}]},
        )
        assert r.status_code == 202  # routed already: no 409, even without a stored decision
    with app.state.sessions() as s:
        row = s.get(DeclarationRow, declaration_id)
        assert row.routing_decision is None and row.status == "routed"
    _, complemented = decode(outbox_events(app.state.sessions, declaration_id)[-1])
    assert isinstance(complemented, DeclarationComplemented)
    assert complemented.initial_decision is None


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
        declaration_in("75")["establishment"]["finess"],
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
