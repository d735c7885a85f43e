"""`iaspipe users add`: local accounts of the portal, the password read from standard input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from iaspipe.auth import AuthSettings
from services.portal.app import create_app
from services.portal.settings import PortalSettings
from tests.portal_support import csrf_of

SECRET = "correct horse battery staple"


def users_add(db: Path, *args: str, password: str = SECRET) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PORTAL_DATABASE_URL": f"sqlite:///{db}"}
    return subprocess.run(
        [sys.executable, "-m", "cli", "users", "add", *args],
        input=password + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_an_account_added_on_the_command_line_signs_in(tmp_path: Path) -> None:
    db = tmp_path / "portal.db"
    r = users_add(
        db, "Claire.Martin@chu.example", "--role", "declarant", "--finess", "690781810",
        "--name", "Dr Claire Martin",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "account claire.martin@chu.example added: declarant (690781810)"
    assert SECRET not in r.stdout + r.stderr
    settings = PortalSettings(
        database_url=f"sqlite:///{db}", auth=AuthSettings(local_key_file=tmp_path / "k.pem")
    )
    with TestClient(create_app(settings, start_workers=False)) as client:
        token = csrf_of(client.get("/login"))
        form = {"username": "claire.martin@chu.example", "password": SECRET, "csrf_token": token}
        signed = client.post("/login", data=form, follow_redirects=False)
        assert signed.status_code == 303 and "portal_session" in client.cookies
        page = client.get("/declarations/new")
        assert page.status_code == 200 and "Dr Claire Martin" in page.text


def test_the_password_is_stored_as_an_argon2_hash(tmp_path: Path) -> None:
    db = tmp_path / "portal.db"
    users_add(db, "a@chu.example", "--role", "admin")
    import sqlite3

    with sqlite3.connect(db) as conn:
        (stored,) = conn.execute("SELECT password_hash FROM accounts").fetchone()
    assert stored.startswith("$argon2id$") and SECRET not in stored


def test_a_declarant_in_community_practice_has_no_finess(tmp_path: Path) -> None:
    added = users_add(tmp_path / "portal.db", "dr.martin@cabinet.example", "--role", "declarant")
    assert added.returncode == 0, added.stderr
    assert "declarant (community practice, no FINESS)" in added.stdout


def test_refusals(tmp_path: Path) -> None:
    db = tmp_path / "portal.db"
    missing = users_add(db, "a@chu.example", "--role", "cpias_investigator")
    assert missing.returncode == 2 and "needs --cpias" in missing.stderr
    other = users_add(db, "a@chu.example", "--role", "admin", "--region", "84")
    assert other.returncode == 2 and "takes no --region" in other.stderr
    bad = users_add(db, "a@chu.example", "--role", "cpias_investigator", "--cpias", "ARA")
    assert bad.returncode == 2
    short = users_add(db, "a@chu.example", "--role", "admin", password="court")
    assert short.returncode == 1 and "at least 12 characters" in short.stderr
    assert users_add(db, "a@chu.example", "--role", "admin").returncode == 0
    again = users_add(db, "A@chu.example", "--role", "admin")
    assert again.returncode == 1 and "already exists" in again.stderr


def users(db: Path, *args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    """`iaspipe users ...`, with `password` on standard input when given."""
    env = {**os.environ, "PORTAL_DATABASE_URL": f"sqlite:///{db}"}
    return subprocess.run(
        [sys.executable, "-m", "cli", "users", *args],
        input=None if password is None else password + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        stdin=subprocess.DEVNULL if password is None else None,
    )


def with_declarant(tmp_path: Path, email: str) -> tuple[Path, PortalSettings]:
    """A portal database holding one declarant added on the command line, and its settings."""
    db = tmp_path / "portal.db"
    assert users_add(db, email, "--role", "declarant", "--finess", "690781810").returncode == 0
    settings = PortalSettings(
        database_url=f"sqlite:///{db}", auth=AuthSettings(local_key_file=tmp_path / "k.pem")
    )
    return db, settings


def test_an_account_disabled_on_the_command_line_cannot_sign_in(tmp_path: Path) -> None:
    db, settings = with_declarant(tmp_path, "c@chu.example")

    def signs_in() -> int:
        with TestClient(create_app(settings, start_workers=False)) as client:
            token = csrf_of(client.get("/login"))
            form = {"username": "c@chu.example", "password": SECRET, "csrf_token": token}
            return client.post("/login", data=form, follow_redirects=False).status_code

    off = users(db, "disable", "C@chu.example")
    assert off.returncode == 0 and off.stdout.strip() == "account c@chu.example disabled"
    assert signs_in() == 401
    on = users(db, "enable", "c@chu.example")
    assert on.returncode == 0 and on.stdout.strip() == "account c@chu.example enabled"
    assert signs_in() == 303
    missing = users(db, "disable", "nobody@chu.example")
    assert missing.returncode == 1 and "No account has this address." in missing.stderr
    import sqlite3

    with sqlite3.connect(db) as conn:
        audited = conn.execute("SELECT subject, action, object_id FROM audit_log").fetchall()
    assert ("iaspipe users", "account:disable", "c@chu.example") in audited
    assert ("iaspipe users", "account:enable", "c@chu.example") in audited


def test_a_new_password_set_on_the_command_line(tmp_path: Path) -> None:
    """A person who forgot their password asks an admin: `iaspipe users password` sets a new
    one; the old one no longer signs in, and the sessions opened with it end."""
    db, settings = with_declarant(tmp_path, "d@chu.example")
    renewed = "un tout nouveau mot de passe"

    def sign_in(client: TestClient, password: str) -> int:
        token = csrf_of(client.get("/login"))
        form = {"username": "d@chu.example", "password": password, "csrf_token": token}
        return client.post("/login", data=form, follow_redirects=False).status_code

    with TestClient(create_app(settings, start_workers=False)) as before:
        assert sign_in(before, SECRET) == 303
        assert before.get("/declarations/new", follow_redirects=False).status_code == 200

        def users_password(password: str) -> subprocess.CompletedProcess[str]:
            return users(db, "password", "D@chu.example", password=password)

        too_short = users_password("court")
        assert too_short.returncode == 1 and "at least 12 characters" in too_short.stderr
        done = users_password(renewed)
        assert done.returncode == 0, done.stderr
        assert (
            done.stdout.strip()
            == "account d@chu.example: new password set, its open sessions ended"
        )
        assert renewed not in done.stdout + done.stderr
        # The session opened with the old password has ended.
        assert before.get("/declarations/new", follow_redirects=False).status_code == 303
    with TestClient(create_app(settings, start_workers=False)) as after:
        assert sign_in(after, SECRET) == 401
        assert sign_in(after, renewed) == 303
    import sqlite3

    with sqlite3.connect(db) as conn:
        audited = conn.execute("SELECT subject, action, object_id FROM audit_log").fetchall()
    assert ("iaspipe users", "account:password", "d@chu.example") in audited
