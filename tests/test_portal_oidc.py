"""Sign-in by OpenID Connect against a real provider (npm's oidc-provider, started on
127.0.0.1 with tests/oidc/provider.mjs): authorization code with PKCE, claims mapped to a role
and a scope, then the portal's own API tokens, which intake checks against the portal's JWKS."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.broker import free_port, wait_for_port
from iaspipe.auth import AuthSettings, issue_local_token
from iaspipe.principal import Role
from services.portal.domain import form
from tests.browser import ROOT, Visit, node
from tests.conftest import Broker
from tests.factories import make_declaration
from tests.pipeline import Pipeline
from tests.tokens import Tokens

pytestmark = pytest.mark.e2e

CLIENT_ID = "iaspipe-portal"
CLIENT_SECRET = "client-secret-of-the-tests"
ACCOUNTS = {
    "claire": {
        "name": "Dr Claire Martin",
        "email": "claire.martin@chu.example",
        "iaspipe_role": "declarant",
        "finess": "690781810",
    },
    "sans-role": {"name": "Personne Sans Rôle"},
}


class World:
    def __init__(self, p: Pipeline, provider: subprocess.Popen[bytes], issuer: str) -> None:
        self.p = p
        self.provider = provider
        self.issuer = issuer
        self.portal_key = p.tmp / "portal-signing-key.pem"

    def portal_token(self) -> dict[str, str]:
        settings = AuthSettings(issuer=self.p.url("portal"), local_key_file=self.portal_key)
        token = issue_local_token(settings, subject="admin.oidc", role=Role.admin)
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    node_bin = node()
    tmp = tmp_path_factory.mktemp("oidc")
    broker = Broker()
    p = Pipeline(broker, tmp)
    portal = p.url("portal")
    oidc_port = free_port()
    issuer = f"http://127.0.0.1:{oidc_port}"
    # Intake trusts the portal's API tokens only: their issuer and the portal's JWKS.
    p.extra["intake"] = {
        "AUTH__ISSUER": portal,
        "AUTH__JWKS_URL": f"{portal}/.well-known/jwks.json",
    }
    p.extra["portal"] = {
        "AUTH__ISSUER": portal,
        "AUTH__LOCAL_KEY_FILE": str(tmp / "portal-signing-key.pem"),
        "OIDC__ISSUER": issuer,
        "OIDC__CLIENT_ID": CLIENT_ID,
        "OIDC__CLIENT_SECRET": CLIENT_SECRET,
        "OIDC__SCOPES": "openid profile email iaspipe",
    }
    log = (tmp / "oidc-provider.log").open("wb")
    provider = subprocess.Popen(
        [node_bin, str(ROOT / "tests" / "oidc" / "provider.mjs")],
        env={
            **os.environ,
            "OIDC_PORT": str(oidc_port),
            "OIDC_CLIENT_ID": CLIENT_ID,
            "OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_REDIRECT_URI": f"{portal}/auth/callback",
            "OIDC_ACCOUNTS": json.dumps(ACCOUNTS),
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port("127.0.0.1", oidc_port, timeout=30)
        p.start("intake", "portal")
        yield World(p, provider, issuer)
    finally:
        p.stop_all()
        provider.terminate()
        provider.wait(10)
        broker.stop()
        assert CLIENT_SECRET not in p.log_text("portal")


def provider_sign_in(v: Visit, portal: str, login: str) -> None:
    page = v.page
    page.goto(f"{portal}/login")
    page.click("a:has-text('Se connecter avec')")
    # The provider's own pages (its development login, then consent).
    page.wait_for_selector("input[name='login']")
    assert "code_challenge" not in page.url  # the interaction page, after the authorization
    page.fill("input[name='login']", login)
    page.fill("input[name='password']", "any password")
    page.click("button:has-text('Sign-in')")
    page.click("button:has-text('Continue')")
    page.wait_for_url(re.compile(rf"{re.escape(portal)}/.*"))


def test_sign_in_with_the_provider_then_declare(browser: Any, world: World) -> None:
    portal = world.p.url("portal")
    v = Visit(browser, "oidc")
    page = v.page
    page.goto(f"{portal}/login")
    assert page.locator("#username").count() == 0  # no local accounts
    v.look("connexion")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    provider_sign_in(v, portal, "claire")
    authorize = next(u for u in requests if u.startswith(f"{world.issuer}/auth?"))
    assert "code_challenge_method=S256" in authorize and "code_challenge=" in authorize
    assert page.url == f"{portal}/declarations"
    assert "Dr Claire Martin" in page.inner_text("header")
    assert "FINESS 690781810" in page.inner_text("main")
    v.look("mes-declarations")

    page.click("main a:has-text('Nouvelle déclaration')")
    page.click("button:has-text('Commencer une nouvelle déclaration')")
    data = form.from_body(make_declaration())
    for s in form.STEPS:
        v.fill(form.names_of(s, data), data)
        page.click("form button.fr-btn:has-text('Continuer')")
    page.click("button:has-text('Envoyer la déclaration')")
    reference = re.search(r"IAS-\d{4}-84-\d{6}", page.inner_text("#sent"))
    assert reference, page.inner_text("main")
    v.look("envoyee")

    # Intake took the portal's token (its JWKS); the local issuer's tokens are refused there.
    intake = world.p.url("intake")
    listed = httpx.get(f"{intake}/v1/declarations", headers=world.portal_token()).json()
    assert [d["reference"] for d in listed["items"]] == [reference.group(0)]
    local = Tokens(world.p.tmp / "local-issuer-key.pem").headers("admin")
    assert httpx.get(f"{intake}/v1/declarations", headers=local).status_code == 401

    page.click("button:has-text('Se déconnecter')")
    assert page.url.startswith(f"{portal}/login")
    v.close()


def test_a_person_the_provider_knows_but_without_a_role_is_refused(
    browser: Any, world: World
) -> None:
    portal = world.p.url("portal")
    v = Visit(browser, "oidc-refus")
    provider_sign_in(v, portal, "sans-role")
    text = v.page.inner_text("main")
    assert "aucun rôle ne vous est attribué" in text
    v.look("sans-role")
    assert all(c["name"] != "portal_session" for c in v.page.context.cookies(portal))
    v.close()


def test_a_callback_this_browser_did_not_start_is_refused(world: World) -> None:
    portal = world.p.url("portal")
    r = httpx.get(f"{portal}/auth/callback", params={"code": "stolen", "state": "forged"})
    assert r.status_code == 401 and "recommencez" in r.text
    assert "portal_session" not in r.cookies


def test_local_accounts_are_off_with_a_provider(world: World) -> None:
    portal = world.p.url("portal")
    r = httpx.post(f"{portal}/login", data={"username": "a@b.fr", "password": "x"})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    env = {**os.environ, **world.p.env("portal")}
    cli = subprocess.run(
        [sys.executable, "-m", "cli", "users", "add", "a@b.fr", "--role", "admin"],
        input="un mot de passe assez long\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert cli.returncode == 2 and "identity provider" in cli.stderr


def test_the_jwks_is_what_intake_reads(world: World) -> None:
    portal = world.p.url("portal")
    keys = httpx.get(f"{portal}/.well-known/jwks.json").json()["keys"]
    assert [k["kty"] for k in keys] == ["EC"] and all("d" not in k for k in keys)
    assert Path(world.portal_key).exists()
