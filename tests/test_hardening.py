"""Hostile input: control characters anywhere, bounds, unexpected errors, slow clients."""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
import time
import typing
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from cli.broker import free_port
from iaspipe.db import make_engine
from schemas.declaration import Complement, Declaration, _no_control_at_the_edges
from services.cpias.app import create_app as cpias_app
from services.cpias.settings import CpiasSettings
from services.intake.app import create_app as intake_app
from services.intake.settings import IntakeSettings
from tests.factories import make_declaration
from tests.tokens import Tokens


@pytest.fixture
def intake(database_url: str, auth_settings: Any, tokens: Tokens) -> Iterator[TestClient]:
    app = intake_app(
        IntakeSettings(
            database_url=database_url, auth=auth_settings, submit_rate_limit="1000/minute"
        ),
        start_workers=False,
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers.update(tokens.headers("admin", subject="admin.hardening"))
        yield client


@pytest.fixture
def cpias_url(database_url: str) -> Iterator[str]:
    """A database of cpias's own, beside intake's, on the same engine."""
    if database_url.startswith("sqlite"):
        yield database_url.replace("test.db", "cpias.db")
        return
    base, name = database_url.rsplit("/", 1)
    admin = base.replace("postgresql+psycopg", "postgresql") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}_cpias"')
    yield f"{base}/{name}_cpias"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}_cpias" WITH (FORCE)')


@pytest.fixture
def cpias(cpias_url: str, auth_settings: Any, tokens: Tokens) -> Iterator[TestClient]:
    app = cpias_app(CpiasSettings(database_url=cpias_url, auth=auth_settings), start_workers=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers.update(tokens.headers("admin", subject="admin.hardening"))
        yield client


def _problem(response: httpx.Response) -> tuple[int, list[tuple[str, str]]]:
    assert response.headers["content-type"] == "application/problem+json", response.text
    return response.status_code, [(e["path"], e["rule"]) for e in response.json()["errors"]]


@pytest.mark.parametrize(
    ("service", "url", "named"),
    [
        ("cpias", "/v1/cases?assignee=a%00b", "assignee"),
        ("cpias", "/v1/cases/a%00b", "path"),
        ("intake", "/v1/declarations/a%00b", "path"),
        ("intake", "/v1/audit?subject=%00", "subject"),
        ("cpias", "/v1/cases?reference=IAS%07", "reference"),
        ("cpias", "/v1/cases?reference=%E2%80%AEevil", "reference"),
    ],
)
def test_control_characters_in_parameters_are_422_naming_them(
    intake: TestClient, cpias: TestClient, service: str, url: str, named: str
) -> None:
    client = {"intake": intake, "cpias": cpias}[service]
    assert _problem(client.get(url)) == (422, [(named, "control_character")])


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("infection.circumstances", "Deux patients\x00 voisins"),
        ("investigations", "Dépistage en cours\x07"),
        ("initial_measures", "Précautions \u202econtact"),
        ("establishment.unit", "Réanimation\u2066 B"),
        ("declarant.name", "Dr Claire\x1b Martin"),
        ("infection.nature", "Bactériémie\x7f"),  # DEL
        ("infection.circumstances", "Deux patients\x85 voisins"),  # C1 "next line"
        ("investigations", "Dépistage\x9b en cours"),  # C1 "control sequence introducer"
        # at a text's start or end, where stripping the spaces would have removed them unseen
        ("investigations", "\x0bEnquête en cours\r"),
        ("declarant.rpps", "10101234567\x0c"),
        ("establishment.departement", "\r69"),
        ("infection.nature", "Bactériémies\x85"),
    ],
)
def test_control_or_bidi_characters_in_free_text_are_refused(
    intake: TestClient, field: str, text: str
) -> None:
    body = make_declaration(**{field.replace(".", "__"): text})
    status, problems = _problem(intake.post("/v1/declarations", json=body))
    assert status == 422
    assert (field, "control_character") in problems


def _texts_without_the_edge_check(model: type[BaseModel], path: str = "") -> Iterator[str]:
    """The text fields under `model` whose type does not check their edges before the model
    strips them (schemas.declaration._EDGES)."""
    for name, field in model.model_fields.items():
        annotation = field.annotation
        for arg in [annotation, *typing.get_args(annotation)]:
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                yield from _texts_without_the_edge_check(arg, f"{path}{name}.")
            elif typing.get_origin(arg) is list and isinstance(typing.get_args(arg)[0], type):
                item = typing.get_args(arg)[0]
                if issubclass(item, BaseModel):
                    yield from _texts_without_the_edge_check(item, f"{path}{name}.")
        checked = [*(getattr(m, "func", None) for m in field.metadata), str(annotation)]
        if "str" in str(annotation) and not any(
            c is _no_control_at_the_edges or "_no_control_at_the_edges" in str(c) for c in checked
        ):
            yield f"{path}{name}"


@pytest.mark.parametrize("model", [Declaration, Complement])
def test_every_text_of_a_declaration_has_its_edges_checked(model: type[BaseModel]) -> None:
    """A text field typed as a bare `str` would let "\\r" at its edges be stripped unseen."""
    assert list(_texts_without_the_edge_check(model)) == []


def test_control_characters_in_the_idempotency_key_are_refused(intake: TestClient) -> None:
    r = intake.post(
        "/v1/declarations", json=make_declaration(), headers={"Idempotency-Key": "k\x7f\x1b"}
    )
    assert _problem(r) == (422, [("Idempotency-Key", "control_character")])


def test_an_unknown_field_is_named_only_when_its_name_is_a_field_name(intake: TestClient) -> None:
    """An unknown key is refused and named when it looks like a field name; a key that holds a
    sentence, a person or a NIR is never said back (the answer may be logged or shown)."""
    body = make_declaration()
    body["Patient né le 03/03/1945"] = 1
    body["infection"]["1 85 05 75 123 456 78"] = 2
    body["NIR_184127645108946"] = 3
    body["x1850575123456"] = 4
    body["commentaire_libre"] = "x"
    r = intake.post("/v1/declarations", json=body)
    assert r.status_code == 422
    assert "1945" not in r.text and "123 456" not in r.text
    assert "1841276" not in r.text and "1850575" not in r.text
    assert sorted(p["path"] for p in r.json()["errors"]) == [
        "(champ inconnu)",
        "(champ inconnu)",
        "(champ inconnu)",
        "commentaire_libre",
        "infection.(champ inconnu)",
    ]
    assert {p["rule"] for p in r.json()["errors"]} == {"extra_forbidden"}


def test_tab_and_newline_stay_allowed(intake: TestClient) -> None:
    body = make_declaration(infection__circumstances="Chambre 12\tpuis 14\nrésultats attendus")
    assert intake.post("/v1/declarations", json=body).status_code == 201


@pytest.mark.parametrize(
    ("overrides", "path", "rule"),
    [
        (
            {"infection__pathogens__0__resistance": ["cpe"] * 5000},
            "infection.pathogens[0].resistance",
            "too_long",
        ),
        ({"infection__cases_infected": 10**30}, "infection.cases_infected", "less_than_equal"),
        ({"infection__cases_colonised": 10_001}, "infection.cases_colonised", "less_than_equal"),
        ({"infection__onset_date": "0001-01-01"}, "infection.onset_date", "greater_than_equal"),
        (
            {"infection__detection_date": "1999-12-31"},
            "infection.detection_date",
            "greater_than_equal",
        ),
        ({"criteria": ["1a", "1b", "2", "3", "4", "1a"]}, "criteria", "too_long"),
    ],
)
def test_lists_counts_and_dates_are_bounded(
    intake: TestClient, overrides: dict[str, Any], path: str, rule: str
) -> None:
    status, problems = _problem(intake.post("/v1/declarations", json=make_declaration(**overrides)))
    assert status == 422
    assert (path, rule) in problems


def test_unexpected_error_is_a_problem_with_a_correlation_id_and_no_internals(
    intake: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    typed = "Mme Dupont 1 84 12 69 123 456 78"  # as if it came from a request

    def broken() -> None:
        raise RuntimeError(typed)

    intake.app.add_api_route("/v1/broken", broken)  # type: ignore[attr-defined]
    with caplog.at_level(logging.ERROR):
        r = intake.get("/v1/broken")
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    correlation = r.headers["X-Correlation-Id"]
    assert body["errors"][0]["rule"] == "internal_error"
    assert correlation in body["errors"][0]["message"]
    assert typed not in r.text and "RuntimeError" not in r.text
    logged = [rec.getMessage() for rec in caplog.records if correlation in rec.getMessage()]
    assert len(logged) == 1
    assert "RuntimeError" in logged[0] and typed not in logged[0]


def test_database_errors_hide_their_parameters(database_url: str) -> None:
    assert make_engine(database_url).hide_parameters


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A cpias process with short header and body deadlines (the broker is not needed)."""
    tmp = tmp_path_factory.mktemp("slow")
    port = free_port()
    env = {
        **os.environ,
        "CPIAS_PORT": str(port),
        "CPIAS_DATABASE_URL": f"sqlite:///{tmp}/cpias.db",
        "CPIAS_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "CPIAS_HEADER_TIMEOUT_SECONDS": "2",
        "CPIAS_BODY_TIMEOUT_SECONDS": "3",
        "CPIAS_AUTH__LOCAL_KEY_FILE": str(tmp / "key.pem"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cpias"],
        env=env,
        stdout=(tmp / "cpias.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    yield port
    proc.kill()  # its workers wait on an absent broker: stopping cleanly is tested elsewhere
    proc.wait(20)


def _closed_after(
    sock: socket.socket, drip: bytes, every: float, limit: float
) -> tuple[float, bytes]:
    """Send `drip` a byte at a time every `every` seconds; the time at which the server
    closed the connection, and what it answered."""
    started = time.monotonic()
    answer = b""
    sock.settimeout(0.2)
    for byte in drip:
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            break
        end = time.monotonic() + every
        while time.monotonic() < end:
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                return time.monotonic() - started, answer
            answer += chunk
        if time.monotonic() - started > limit:
            break
    return time.monotonic() - started, answer


def test_slow_headers_are_cut(slow_server: int) -> None:
    with socket.create_connection(("127.0.0.1", slow_server)) as sock:
        elapsed, _ = _closed_after(sock, b"GET /healthz HTTP/1.1\r\nHost: x\r\n", 0.5, 15)
    assert elapsed < 5  # header deadline 2 s


def test_a_silent_connection_is_cut(slow_server: int) -> None:
    with socket.create_connection(("127.0.0.1", slow_server)) as sock:
        sock.settimeout(8)
        started = time.monotonic()
        assert sock.recv(10) == b""
        assert time.monotonic() - started < 5


def test_a_body_sent_a_byte_every_two_seconds_is_cut(slow_server: int) -> None:
    body = b'{"to": "acknowledged"}'
    head = (
        b"POST /v1/cases/x/transitions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", slow_server)) as sock:
        sock.sendall(head)
        elapsed, answer = _closed_after(sock, body, 2.0, 20)
    assert elapsed < 8  # body deadline 3 s
    assert answer.startswith(b"HTTP/1.1 408") or answer == b""


@pytest.mark.parametrize(
    "head",
    [
        # answered at once without reading the body: no token
        b"POST /v1/cases/x/transitions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n",
        # a body that is not JSON: 415 before any read
        b"POST /v1/cases/x/notes HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n",
        # a route that reads no body
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
    ],
)
def test_a_slow_body_answered_before_it_is_read_is_cut(slow_server: int, head: bytes) -> None:
    """The answer goes out before the body is read: the connection closes with it, instead
    of waiting for a body sent a byte every two seconds."""
    with socket.create_connection(("127.0.0.1", slow_server)) as sock:
        sock.sendall(head + b"Content-Length: 1000\r\n\r\n")
        elapsed, answer = _closed_after(sock, b"x" * 20, 2.0, 20)
    assert elapsed < 8
    assert answer.startswith(b"HTTP/1.1 ") and b"connection: close" in answer.lower()


def test_a_normal_request_is_not_cut(slow_server: int) -> None:
    assert httpx.get(f"http://127.0.0.1:{slow_server}/healthz", timeout=5).status_code == 200


# -- what investigators type ----------------------------------------------------------------

IDENTIFYING = "Mme Dupont Jeanne née le 12/03/1950 NIR 184127645108946"


@pytest.fixture
def two_cases(cpias_app: Any, cpias_client: TestClient) -> tuple[str, str]:
    from tests.test_cpias_api import case_id, open_case

    a = open_case(cpias_app, reference="IAS-2026-84-000001")
    b = open_case(cpias_app, reference="IAS-2026-84-000002")
    return case_id(cpias_client, a), case_id(cpias_client, b)


@pytest.mark.parametrize(
    ("what", "path"),
    [
        ("note", "text"),
        ("transition", "reason"),
        ("link", "reason"),
        ("suggestion", "name"),
        ("suggestion", "reason"),
        ("assignment", "assignee"),
    ],
)
def test_investigators_texts_follow_the_anonymity_rule(
    cpias_client: TestClient, two_cases: tuple[str, str], what: str, path: str
) -> None:
    a, b = two_cases
    requests = {
        "note": (f"/v1/cases/{a}/notes", {"kind": "call", "text": IDENTIFYING}),
        "transition": (f"/v1/cases/{a}/transitions", {"to": "acknowledged", "reason": IDENTIFYING}),
        "link": (
            f"/v1/cases/{a}/links",
            {"case_id": b, "kind": "same_episode", "reason": IDENTIFYING},
        ),
        "suggestion": (
            f"/v1/cases/{a}/cluster-suggestions/{b}",
            {"decision": "confirm", path: IDENTIFYING},
        ),
        "assignment": (f"/v1/cases/{a}/assignment", {"assignee": IDENTIFYING}),
    }
    url, body = requests[what]
    status, problems = _problem(cpias_client.post(url, json=body))
    assert status == 422
    assert {rule for p, rule in problems if p == path} >= {
        "anonymity_birth_date",
        "anonymity_nir",
    }
    detail = cpias_client.get(f"/v1/cases/{a}").json()
    assert detail["status"] == "new" and detail["notes"] == []  # nothing was written
    assert detail["assignee"] is None


def test_investigators_control_characters_are_refused(
    cpias_client: TestClient, two_cases: tuple[str, str]
) -> None:
    a, _ = two_cases
    r = cpias_client.post(f"/v1/cases/{a}/notes", json={"kind": "call", "text": "appel\x00"})
    assert _problem(r) == (422, [("text", "control_character")])
    r = cpias_client.post(f"/v1/cases/{a}/notes", json={"kind": "call", "text": "\rappel\x0c"})
    assert _problem(r) == (422, [("text", "control_character")])  # at the edges too
    r = cpias_client.post(f"/v1/cases/{a}/notes", json={"kind": "call", "text": "\u200b\u3164"})
    assert _problem(r) == (422, [("text", "blank")])
    # Every field of a small body, not only its free texts: PostgreSQL would refuse a NUL
    # with an error of its own (a 500).
    links = cpias_client.get(f"/v1/cases/{a}").json()["links"]
    for url, body, field in (
        (f"/v1/cases/{a}/assignment", {"assignee": "inv\x00ara"}, "assignee"),
        (f"/v1/cases/{a}/links", {"reference": "IAS\x00", "kind": "cluster"}, "reference"),
        (f"/v1/cases/{a}/links", {"case_id": "x\x7f", "kind": "cluster"}, "case_id"),
    ):
        assert _problem(cpias_client.post(url, json=body)) == (422, [(field, "control_character")])
    detail = cpias_client.get(f"/v1/cases/{a}").json()
    assert detail["assignee"] is None and detail["links"] == links


# -- refused attempts -----------------------------------------------------------------------


def _forged(subject: str, *, key_file: Any = None, **claims: Any) -> dict[str, str]:
    """A token of the right shape signed with another key (or with `sub` as given)."""
    import jwt as pyjwt
    from cryptography.hazmat.primitives.asymmetric import ec

    from iaspipe.auth import LOCAL_ISSUER, local_jwks

    now = int(time.time())
    kid = local_jwks(key_file)["keys"][0]["kid"] if key_file else "forged"
    key = ec.generate_private_key(ec.SECP256R1())
    payload = {
        "iss": LOCAL_ISSUER,
        "aud": "iaspipe",
        "sub": subject,
        "iat": now,
        "exp": now + 600,
        "iaspipe_role": "admin",
        **claims,
    }
    token = pyjwt.encode(payload, key, algorithm="ES256", headers={"kid": kid})
    return {"Authorization": f"Bearer {token}"}


def _refusals(client: TestClient, tokens: Tokens) -> list[dict[str, Any]]:
    log = client.get(
        "/v1/audit", params={"outcome": "refused"}, headers=tokens.headers("admin", subject="ops")
    )
    return list(log.json()["items"])


def test_a_forged_token_is_refused_without_saying_why_and_audited(
    intake: TestClient, tokens: Tokens, auth_settings: Any
) -> None:
    r = intake.get(
        "/v1/declarations/abc", headers=_forged("mallory", key_file=auth_settings.local_key_file)
    )
    assert r.status_code == 401
    text = r.text.lower()
    assert "signature" not in text and "key" not in text and "expired" not in text
    (entry,) = _refusals(intake, tokens)
    assert entry["subject"] == "unverified:mallory" and entry["outcome"] == "refused"
    assert entry["reason"].startswith("invalid_token") and "signature" in entry["reason"].lower()
    assert entry["action"] == "GET /v1/declarations/{declaration_id}"
    assert entry["object_id"] == "abc"


def test_the_router_counts_and_logs_its_refused_attempts(
    auth_settings: Any, tokens: Tokens, caplog: pytest.LogCaptureFixture
) -> None:
    """The router has no database to audit in: its refused attempts are counted like the
    others' and written to its log, one line each, who and what and why."""
    from services.router.app import create_app as router_app
    from services.router.settings import RouterSettings

    app = router_app(RouterSettings(auth=auth_settings), start_workers=False)
    with TestClient(app) as router, caplog.at_level(logging.WARNING, "iaspipe.http.refusals"):
        forged = router.get("/v1/rules", headers=_forged("mallory"))
        declarant = router.get("/v1/rules", headers=tokens.headers("declarant"))
        metrics = router.get("/metrics").text
    assert forged.status_code == 401 and declarant.status_code in (200, 403)
    counted = re.search(
        r'^iaspipe_refused_requests_total\{reason="invalid_token",service="router"\} (\S+)',
        metrics,
        re.M,
    )
    assert counted and float(counted.group(1)) >= 1
    lines = [r.getMessage() for r in caplog.records if "service=router refused" in r.getMessage()]
    assert lines and "subject=unverified:mallory" in lines[0]
    assert "action='GET /v1/rules'" in lines[0] and "reason='invalid_token" in lines[0]


@pytest.mark.parametrize("subject", ["", "   ", "\u00a0", "\u200b", "\u3164", "\u2800", "\ufeff"])
def test_a_token_without_subject_is_refused(
    intake: TestClient, tokens: Tokens, auth_settings: Any, subject: str
) -> None:
    """No subject, or one nobody could read in an audit row: spaces, a zero-width space, a
    Hangul or Braille filler, a byte-order mark."""
    from iaspipe.auth import issue_local_token
    from iaspipe.principal import Role

    token = issue_local_token(auth_settings, subject=subject, role=Role.admin)
    r = intake.get("/v1/declarations", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert _refusals(intake, tokens)[0]["reason"] == "invalid_token: token without subject"


@pytest.mark.parametrize("subject", ["a\x00b", "\ud800", "x" * 10_000, "a\u202eb"])
def test_a_subject_no_audit_row_could_hold_is_refused_and_audited_as_written(
    intake: TestClient, tokens: Tokens, auth_settings: Any, subject: str
) -> None:
    """A NUL, a lone surrogate, 10 KB or a bidirectional override in `sub`: a signed token is
    refused (401, not a 500 once an audit row refuses it), a forged one too; both refusals are
    audited, the subject written as Python escapes it."""
    from iaspipe.auth import issue_local_token
    from iaspipe.principal import Role

    token = issue_local_token(auth_settings, subject=subject, role=Role.admin)
    signed = intake.post(
        "/v1/declarations", json=make_declaration(), headers={"Authorization": f"Bearer {token}"}
    )
    forged = intake.get(
        "/v1/declarations", headers=_forged(subject, key_file=auth_settings.local_key_file)
    )
    assert (signed.status_code, forged.status_code) == (401, 401)
    refusals = _refusals(intake, tokens)
    assert len(refusals) == 2
    for entry in refusals:
        assert entry["subject"].startswith("unverified:")
        assert "\x00" not in entry["subject"] and len(entry["subject"]) <= 200


def test_out_of_scope_and_wrong_role_are_audited_and_counted(
    cpias_client: TestClient, two_cases: tuple[str, str], tokens: Tokens
) -> None:
    a, _ = two_cases

    def refused(reason: str) -> float:
        metrics = cpias_client.get("/metrics").text
        line = f'iaspipe_refused_requests_total{{reason="{reason}",service="cpias"}}'
        found = [float(x.split()[-1]) for x in metrics.splitlines() if x.startswith(line)]
        return found[0] if found else 0.0

    before = (refused("not_found"), refused("forbidden"))
    idf = tokens.headers("cpias_investigator", cpias="cpias-idf", subject="inv.idf")
    assert cpias_client.get(f"/v1/cases/{a}", headers=idf).status_code == 404
    viewer = tokens.headers("ars_viewer", region="84", subject="ars.ara")
    move = cpias_client.post(
        f"/v1/cases/{a}/transitions", json={"to": "acknowledged"}, headers=viewer
    )
    assert move.status_code == 403
    entries = {(e["subject"], e["reason"], e["object_id"]) for e in _refusals(cpias_client, tokens)}
    assert ("inv.idf", "not_found", a) in entries
    assert ("ars.ara", "forbidden", a) in entries
    assert (refused("not_found"), refused("forbidden")) == (before[0] + 1, before[1] + 1)


# -- idempotency keys belong to their sender ------------------------------------------------


def test_two_establishments_may_use_the_same_idempotency_key(
    intake: TestClient, tokens: Tokens
) -> None:
    from tests.factories import declaration_in

    lyon = tokens.headers("declarant", finess="690781810", subject="lyon")
    brest_body = declaration_in("29")
    brest = tokens.headers(
        "declarant", finess=brest_body["establishment"]["finess"], subject="brest"
    )
    key = {"Idempotency-Key": "1"}
    first = intake.post("/v1/declarations", json=make_declaration(), headers={**lyon, **key})
    second = intake.post("/v1/declarations", json=brest_body, headers={**brest, **key})
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    again = intake.post("/v1/declarations", json=brest_body, headers={**brest, **key})
    assert again.json()["id"] == second.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"


def test_another_body_under_ones_own_key_is_a_conflict_that_tells_nothing_of_others(
    intake: TestClient, tokens: Tokens
) -> None:
    lyon = tokens.headers("declarant", finess="690781810", subject="lyon")
    key = {"Idempotency-Key": "shared"}
    assert (
        intake.post(
            "/v1/declarations", json=make_declaration(), headers={**lyon, **key}
        ).status_code
        == 201
    )
    other = make_declaration(investigations="Autre enquête")
    r = intake.post("/v1/declarations", json=other, headers={**lyon, **key})
    assert r.status_code == 409
    text = r.text.lower()
    assert "establishment" not in text and "établissement" not in text


# -- the rate limit, shared through Redis ---------------------------------------------------


def test_the_rate_limit_is_shared_by_two_processes_through_redis(
    tmp_path: Path, tokens: Tokens, auth_settings: Any
) -> None:
    """Two intake apps (as two processes would) count one establishment's submissions in the
    same Redis: the quota is not one each."""
    settings = {
        "auth": auth_settings,
        "submit_rate_limit": "3/minute",
        "rate_limit_storage": "async+redis://127.0.0.1:6379",
    }
    subject = f"admin.{uuid.uuid4().hex}"  # a scope of its own in the shared Redis
    admin = tokens.headers("admin", subject=subject)
    codes = []
    apps = [
        intake_app(
            IntakeSettings(database_url=f"sqlite:///{tmp_path}/{n}.db", **settings),
            start_workers=False,
        )
        for n in ("a", "b")
    ]
    with TestClient(apps[0]) as a, TestClient(apps[1]) as b:
        for client in (a, b, a, b):
            codes.append(
                client.post("/v1/declarations", json=make_declaration(), headers=admin).status_code
            )
    assert codes == [201, 201, 201, 429]
