"""Helpers for the portal's tests: intake served over real HTTP in a thread, the form posted
step by step from a sample, CSRF tokens read from the pages."""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cli.broker import free_port
from iaspipe.principal import Role
from services.portal import service
from services.portal.adapters.passwords import Argon2Passwords
from services.portal.domain import form

PASSWORD = "un mot de passe assez long"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """The app on a free port of 127.0.0.1 until the block ends; yields its URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def add_account(app: FastAPI, email: str, role: str = "declarant", **scope: str) -> None:
    service.add_account(
        app.state.portal.uow(),
        Argon2Passwords(),
        email=email,
        password=PASSWORD,
        role=Role(role),
        display_name=email.split("@")[0],
        **scope,
    )


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, "no CSRF token on the page"
    return found.group(1)


def text_of(page: httpx.Response) -> str:
    """The page's text without tags, spaces folded (a non-breaking one too)."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text)))


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> httpx.Response:
    token = csrf_of(client.get("/login"))
    return client.post(
        "/login", data={"username": email, "password": password, "csrf_token": token, "next": "/"}
    )


def post_form(
    client: TestClient, url: str, fields: dict[str, Any], page: str | None = None, **extra: Any
) -> httpx.Response:
    """Post a form the way a browser does: with the CSRF token of the page that shows it
    (`page`, by default the URL posted to)."""
    token = csrf_of(client.get(page or url.split("#")[0]))
    data = {**fields, "csrf_token": token, **extra}
    return client.post(url, data=data, follow_redirects=False)


def start_draft(client: TestClient) -> str:
    r = post_form(client, "/declarations/new", {})
    assert r.status_code == 303, r.text
    return r.headers["location"].split("/")[3]


BLOCKS = sorted({f.block for f in form.FIELDS.values() if f.block})


def post_step(
    client: TestClient, draft_id: str, step: form.Step, body: dict[str, Any], action: str = "next"
) -> httpx.Response:
    """Post one step with the fields of `body`, as a browser posts the whole page (every
    conditional part shown; unticked boxes are not sent)."""
    data = form.from_body(body)
    fields = {n: data.get(n, "") for n in form.names_of(step, data)}
    fields = {n: v for n, v in fields.items() if v or form.field(n).kind != "checkbox"}
    return post_form(
        client, f"/declarations/new/{draft_id}/{step.slug}", fields, action=action, _shown=BLOCKS
    )


def fill_steps(client: TestClient, draft_id: str, body: dict[str, Any]) -> None:
    """Post every step with the fields of `body`."""
    for step in form.STEPS:
        r = post_step(client, draft_id, step, body)
        assert r.status_code == 303, r.text


def cli_user(env: dict[str, str], email: str, *args: str, password: str = PASSWORD) -> None:
    """`iaspipe users add EMAIL ARGS...` with the portal's settings `env` (a Pipeline's)."""
    import os
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "cli", "users", "add", email, *args],
        input=password + "\n",
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )
    assert r.returncode == 0, r.stderr


def joined(page: str) -> str:
    """The page with its words kept whole read plainly: an address's break after its "@"
    and the spans that keep hyphenated words on one line taken out."""
    return re.sub(r'<wbr>|<span class="portal-nowrap">([^<]*)</span>', r"\1", page)
