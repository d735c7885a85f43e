"""Audit log, rate limiting, security headers, CORS, secrets."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from services.cpias.app import create_app as cpias_app
from services.cpias.settings import CpiasSettings
from services.intake.app import create_app as intake_app
from services.intake.settings import IntakeSettings
from tests.events import route_stored
from tests.factories import declaration_in, make_declaration
from tests.tokens import Tokens


def intake(database_url: str, auth: Any, **kw: Any) -> Any:
    return intake_app(
        IntakeSettings(database_url=database_url, auth=auth, **kw), start_workers=False
    )


def test_audit_log_records_who_did_what_and_is_append_only(
    database_url: str, tokens: Tokens, auth_settings: Any
) -> None:
    app = intake(database_url, auth_settings)
    declarant = tokens.headers("declarant", finess="690781810", subject="dr.martin")
    viewer = tokens.headers("ars_viewer", region="84", subject="analyste.ara")
    with TestClient(app) as client:
        created = client.post("/v1/declarations", json=make_declaration(), headers=declarant).json()
        route_stored(app.state.sessions, created["id"])
        client.get(f"/v1/declarations/{created['id']}", headers=viewer)
        done = client.post(
            f"/v1/declarations/{created['id']}/complement",
            headers=declarant,
            json={"cause_analysis": "Analyse", "action_plan": [{"action": "Plan"}]},
        )
        assert done.status_code == 202, done.text
        log = client.get("/v1/audit", headers=tokens.headers("admin")).json()["items"]
        assert [(e["subject"], e["action"], e["object_id"]) for e in reversed(log)] == [
            ("dr.martin", "submit", created["id"]),
            ("analyste.ara", "read", created["id"]),
            ("dr.martin", "complement", created["id"]),
        ]
        assert all(e["address"] and e["at"] for e in log)
        only = client.get(
            "/v1/audit", params={"subject": "analyste.ara"}, headers=tokens.headers("admin")
        ).json()["items"]
        assert [e["action"] for e in only] == ["read"]
        engine = app.state.sessions.kw["bind"]
        for statement in ("UPDATE audit_log SET subject = 'someone-else'", "DELETE FROM audit_log"):
            with pytest.raises(DatabaseError, match="append-only"), engine.begin() as conn:
                conn.execute(text(statement))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar() == 3


def test_cpias_audit_records_reads_and_changes(
    tmp_path: Any, tokens: Tokens, auth_settings: Any
) -> None:
    from tests.test_cpias_api import open_case

    app = cpias_app(
        CpiasSettings(database_url=f"sqlite:///{tmp_path}/c.db", auth=auth_settings),
        start_workers=False,
    )
    inv = tokens.headers("cpias_investigator", cpias="cpias-ara", subject="inv.ara")
    with TestClient(app) as client:
        did = open_case(app)
        cid = client.get("/v1/cases", params={"declaration_id": did}, headers=inv).json()["items"][
            0
        ]["id"]
        client.get(f"/v1/cases/{cid}", headers=inv)
        client.post(f"/v1/cases/{cid}/transitions", json={"to": "acknowledged"}, headers=inv)
        ars = tokens.headers("ars_viewer", region="84", subject="ars.ara")
        client.get("/v1/clusters", headers=ars)
        client.get("/v1/alerts", headers=ars)
        log = client.get("/v1/audit", headers=tokens.headers("admin")).json()["items"]
    # The queue, the clusters and the alerts are reads too: each names the scope it held.
    assert [
        (e["subject"], e["action"], e["object_type"], e["object_id"]) for e in reversed(log)
    ] == [
        ("inv.ara", "list", "case", "cpias-ara"),
        ("inv.ara", "read", "case", cid),
        ("inv.ara", "transition:acknowledged", "case", cid),
        ("ars.ara", "list", "cluster", "84"),
        ("ars.ara", "list", "alert", "84"),
    ]


def test_submissions_are_rate_limited_per_establishment(
    tmp_path: Any, tokens: Tokens, auth_settings: Any
) -> None:
    app = intake(f"sqlite:///{tmp_path}/i.db", auth_settings, submit_rate_limit="3/minute")
    one = tokens.headers("declarant", finess="690781810", subject="one")
    same_place = tokens.headers("declarant", finess="690781810", subject="two")
    brest = declaration_in("29")
    elsewhere = tokens.headers("declarant", finess=brest["establishment"]["finess"], subject="b")
    with TestClient(app) as client:
        codes = [
            client.post("/v1/declarations", json=make_declaration(), headers=one).status_code
            for _ in range(4)
        ]
        assert codes == [201, 201, 201, 429]
        r = client.post("/v1/declarations", json=make_declaration(), headers=one)
        assert r.status_code == 429
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        assert r.json()["errors"][0]["rule"] == "rate_limited"
        # A second token of the same establishment shares its quota; another has its own.
        r = client.post("/v1/declarations", json=make_declaration(), headers=same_place)
        assert r.status_code == 429
        assert client.post("/v1/declarations", json=brest, headers=elsewhere).status_code == 201


def test_a_retry_gets_its_first_answer_even_with_the_rate_spent(
    tmp_path: Any, tokens: Tokens, auth_settings: Any
) -> None:
    """A retry under its Idempotency-Key returns the first answer, whatever the quota; a new
    submission, or another body under the same key, is still refused."""
    app = intake(f"sqlite:///{tmp_path}/i.db", auth_settings, submit_rate_limit="2/minute")
    one = tokens.headers("declarant", finess="690781810", subject="one")
    body = make_declaration()
    with TestClient(app) as client:
        first = client.post("/v1/declarations", json=body, headers={**one, "Idempotency-Key": "k1"})
        assert first.status_code == 201
        retries = [
            client.post("/v1/declarations", json=body, headers={**one, "Idempotency-Key": "k1"})
            for _ in range(3)
        ]
        assert [r.status_code for r in retries] == [201, 201, 201]
        assert {r.json()["reference"] for r in retries} == {first.json()["reference"]}
        assert all(r.headers["Idempotent-Replayed"] == "true" for r in retries)
        new = client.post("/v1/declarations", json=body, headers={**one, "Idempotency-Key": "k2"})
        assert new.status_code == 429
        other = make_declaration(infection__cases_infected=4)
        conflict = client.post(
            "/v1/declarations", json=other, headers={**one, "Idempotency-Key": "k1"}
        )
        assert conflict.status_code == 409


def test_security_headers_on_every_response(tmp_path: Any, auth_settings: Any) -> None:
    with TestClient(intake(f"sqlite:///{tmp_path}/i.db", auth_settings)) as client:
        for r in (
            client.get("/healthz"),
            client.get("/v1/audit"),
            client.post("/v1/declarations", content=b"{"),
        ):
            assert r.headers["X-Content-Type-Options"] == "nosniff"
            assert r.headers["X-Frame-Options"] == "DENY"
            assert r.headers["Cache-Control"] == "no-store"


def test_cors_closed_unless_configured(tmp_path: Any, auth_settings: Any) -> None:
    preflight = {"Origin": "https://portail.example", "Access-Control-Request-Method": "POST"}
    with TestClient(intake(f"sqlite:///{tmp_path}/a.db", auth_settings)) as client:
        r = client.options("/v1/declarations", headers=preflight)
        assert "access-control-allow-origin" not in r.headers
    with TestClient(
        intake(
            f"sqlite:///{tmp_path}/b.db", auth_settings, cors_origins=["https://portail.example"]
        )
    ) as client:
        r = client.options("/v1/declarations", headers=preflight)
        assert r.headers["access-control-allow-origin"] == "https://portail.example"
        r = client.options(
            "/v1/declarations", headers={**preflight, "Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in r.headers


def test_database_password_is_a_secret_never_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("INTAKE_DATABASE_URL", "postgresql+psycopg://app:s3cr3t-pw@db/intake")
    settings = IntakeSettings()
    caplog.set_level(logging.DEBUG)
    logging.getLogger("test").info("settings: %s", settings)
    assert "s3cr3t-pw" not in repr(settings) and "s3cr3t-pw" not in caplog.text
    assert settings.database_url.get_secret_value().endswith("@db/intake")
