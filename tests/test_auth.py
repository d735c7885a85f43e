"""Bearer tokens: what is trusted and what is refused, with the local and a real issuer."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Request
from fastapi.testclient import TestClient

from iaspipe.auth import LOCAL_ISSUER, AuthSettings, issue_local_token
from iaspipe.http.auth import asking_from
from iaspipe.principal import Principal, Role
from services.cpias.app import create_app as cpias_app
from services.cpias.settings import CpiasSettings
from services.intake.app import create_app as intake_app
from services.intake.settings import IntakeSettings
from services.router.app import create_app as router_app
from services.router.settings import RouterSettings
from tests.tokens import Tokens


def apps(tmp_path: Path, auth: AuthSettings) -> dict[str, Any]:
    return {
        "intake": intake_app(
            IntakeSettings(database_url=f"sqlite:///{tmp_path}/i.db", auth=auth),
            start_workers=False,
        ),
        "cpias": cpias_app(
            CpiasSettings(database_url=f"sqlite:///{tmp_path}/c.db", auth=auth), start_workers=False
        ),
        "router": router_app(RouterSettings(auth=auth), start_workers=False),
    }


PUBLIC = {
    "/healthz",
    "/readyz",
    "/metrics",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/openapi.json",
}


def protected_routes(app: Any) -> list[tuple[str, str]]:
    spec = TestClient(app).get("/openapi.json").json()
    return [
        (method.upper(), path)
        for path, ops in spec["paths"].items()
        for method in ops
        if path not in PUBLIC
    ]


@pytest.mark.parametrize("name", ["intake", "cpias", "router"])
def test_every_protected_route_refuses_anonymous_calls(
    tmp_path: Path, auth_settings: Any, name: str
) -> None:
    app = apps(tmp_path, auth_settings)[name]
    with TestClient(app) as client:
        routes = protected_routes(app)
        assert routes
        for method, path in routes:
            url = path.replace("{declaration_id}", "x").replace("{case_id}", "x")
            r = client.request(method, url, json={})
            assert r.status_code == 401, (method, path, r.status_code)
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert client.get("/healthz").status_code == 200


@pytest.fixture
def intake(tmp_path: Path, auth_settings: Any) -> Iterator[TestClient]:
    with TestClient(apps(tmp_path, auth_settings)["intake"]) as c:
        yield c


def test_valid_local_token_accepted(intake: TestClient, tokens: Tokens) -> None:
    assert intake.get("/v1/audit", headers=tokens.headers("admin")).status_code == 200


def _forge(settings: AuthSettings, **changes: Any) -> str:
    from iaspipe.auth import load_or_create_local_key, local_jwks

    now = int(time.time())
    claims = {
        "iss": LOCAL_ISSUER,
        "aud": settings.audience,
        "sub": "x",
        "iat": now,
        "exp": now + 600,
        "iaspipe_role": "admin",
    }
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    kid = local_jwks(settings.local_key_file)["keys"][0]["kid"]
    return jwt.encode(
        claims,
        load_or_create_local_key(settings.local_key_file),
        algorithm="ES256",
        headers={"kid": kid},
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": int(time.time()) - 120},  # expired beyond the leeway
        {"aud": "another-api"},  # wrong audience
        {"iss": "https://elsewhere.example"},  # wrong issuer
        {"sub": None},  # no subject
        {"iaspipe_role": "superuser"},  # unknown role
        {"iaspipe_role": None},  # no role
        {"client_address": "portal<script>"},  # an address that is not an IP
        {"client_address": ["203.0.113.7"]},
    ],
)
def test_untrusted_claims_refused(intake: TestClient, auth_settings: Any, changes: dict) -> None:
    token = _forge(auth_settings, **changes)
    r = intake.get("/v1/audit", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]


def test_expiry_within_leeway_accepted(intake: TestClient, auth_settings: Any) -> None:
    token = _forge(auth_settings, exp=int(time.time()) - 5)
    assert intake.get("/v1/audit", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_tampered_and_unsigned_tokens_refused(intake: TestClient, tokens: Tokens) -> None:
    good = tokens.token("declarant", finess="690781810")
    header, payload, sig = good.split(".")
    claims = json.loads(jwt.utils.base64url_decode(payload))
    claims["iaspipe_role"] = "admin"
    forged_payload = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    unsigned = jwt.encode(claims, key=None, algorithm="none")
    for bad in (f"{header}.{forged_payload}.{sig}", unsigned, "not-a-token", ""):
        r = intake.get("/v1/audit", headers={"Authorization": f"Bearer {bad}"})
        assert r.status_code == 401, bad


def test_scoped_role_without_its_scope_is_refused(intake: TestClient, auth_settings: Any) -> None:
    for role in ("cpias_investigator", "ars_viewer"):
        token = _forge(auth_settings, iaspipe_role=role)  # no cpias or region claim
        headers = {"Authorization": f"Bearer {token}"}
        assert intake.get("/v1/declarations", headers=headers).status_code == 401


def test_a_declarant_without_finess_is_a_professional_in_community_practice(
    intake: TestClient, auth_settings: Any
) -> None:
    token = _forge(auth_settings, iaspipe_role="declarant")  # no finess claim
    listed = intake.get("/v1/declarations", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200 and listed.json()["items"] == []


class JWKSServer:
    """A real issuer's JWKS endpoint on 127.0.0.1, whose keys can be rotated."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.fetches = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.fetches += 1
                body = json.dumps(outer.jwks()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/jwks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add_key(self, kid: str) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> dict[str, Any]:
        out = []
        for kid, key in self.keys.items():
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            jwk.update({"kid": kid, "use": "sig", "alg": "RS256"})
            out.append(jwk)
        return {"keys": out}

    def token(self, kid: str, issuer: str, role: str = "admin") -> str:
        now = int(time.time())
        return jwt.encode(
            {
                "iss": issuer,
                "aud": "iaspipe",
                "sub": "real-user",
                "iat": now,
                "exp": now + 600,
                "iaspipe_role": role,
            },
            self.keys[kid],
            algorithm="RS256",
            headers={"kid": kid},
        )


def test_real_issuer_accepts_its_tokens_and_rotated_keys_refuses_local_ones(
    tmp_path: Path, auth_settings: Any
) -> None:
    jwks = JWKSServer()
    jwks.add_key("2026-11")
    issuer = "https://auth.esante.example/realms/iaspipe"
    real = AuthSettings(
        issuer=issuer,
        jwks_url=jwks.url,
        jwks_refetch_cooldown_seconds=0,
        local_key_file=auth_settings.local_key_file,
    )
    app = intake_app(
        IntakeSettings(database_url=f"sqlite:///{tmp_path}/r.db", auth=real), start_workers=False
    )
    with TestClient(app) as client:

        def status(token: str) -> int:
            return client.get("/v1/audit", headers={"Authorization": f"Bearer {token}"}).status_code

        assert status(jwks.token("2026-11", issuer)) == 200
        local = issue_local_token(auth_settings, subject="me", role=Role.admin)
        assert status(local) == 401
        assert status(jwks.token("2026-11", "https://other.example")) == 401
        fetches = jwks.fetches
        assert status(jwks.token("2026-11", issuer)) == 200
        assert jwks.fetches == fetches  # cached
        jwks.add_key("2027-01")  # rotation: a new key appears in the JWKS
        assert status(jwks.token("2027-01", issuer)) == 200
        assert jwks.fetches == fetches + 1
    jwks.server.shutdown()


def test_token_command_prints_a_token_the_services_accept(tmp_path: Path) -> None:
    import subprocess
    import sys

    key = tmp_path / "key.pem"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli",
            "token",
            "--role",
            "ars_viewer",
            "--region",
            "84",
            "--key-file",
            str(key),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    app = cpias_app(
        CpiasSettings(
            database_url=f"sqlite:///{tmp_path}/c.db", auth=AuthSettings(local_key_file=key)
        ),
        start_workers=False,
    )
    with TestClient(app) as client:
        r = client.get("/v1/cases", headers={"Authorization": f"Bearer {out}"})
    assert r.status_code == 200
    missing = subprocess.run(
        [sys.executable, "-m", "cli", "token", "--role", "ars_viewer", "--key-file", str(key)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2 and "--region" in missing.stderr


@pytest.mark.parametrize(
    ("vouched", "peer", "said"),
    [
        (None, "10.0.0.5", "10.0.0.5"),
        ("203.0.113.7", "10.0.0.5", "203.0.113.7 via 10.0.0.5"),
        ("127.0.0.1", "127.0.0.1", "127.0.0.1"),  # a portal used from its own machine
        # Too long for the audit's column together: the person's own address is kept.
        (
            "2001:db8:aaaa:bbbb:cccc:dddd:eeee:1",
            "2001:db8:ffff:ffff:ffff:ffff:ffff:2",
            "2001:db8:aaaa:bbbb:cccc:dddd:eeee:1",
        ),
    ],
)
def test_the_audit_says_where_a_caller_asks_from(vouched: str | None, peer: str, said: str) -> None:
    request = Request({"type": "http", "client": (peer, 4242), "headers": []})
    principal = Principal("claire@chu.example", Role.declarant, finess="690781810", address=vouched)
    assert asking_from(principal, request) == said
