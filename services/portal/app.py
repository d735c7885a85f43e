"""Portal: create_app(settings) wires the database (accounts, sessions, drafts), the client of
intake, the API-token minter, the identity provider when one is configured, the pages, the
static files of the State design system, and a worker that forgets stale sessions and drafts."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker
from starlette.responses import Response

from iaspipe import db
from iaspipe.http.health import health_router
from iaspipe.http.middleware import BodyLimit, CloseUnreadBodies, SecurityHeaders
from iaspipe.runtime import Runtime
from schemas.reference import reference, time_zone_name
from services.portal import service
from services.portal.adapters.api import (
    HttpAudit,
    HttpCasesApi,
    HttpDeclarationsApi,
    HttpNotifierApi,
    HttpRegionApi,
)
from services.portal.adapters.oidc import OidcClient
from services.portal.adapters.passwords import Argon2Passwords
from services.portal.adapters.tokens import KeyFileMinter
from services.portal.adapters.uow import SqlPortalUnitOfWork
from services.portal.domain import labels, region
from services.portal.settings import PORTAL_DIR, PortalSettings
from services.portal.web import admin, auth, declarations, drafts, pages
from services.portal.web import ars as ars_pages
from services.portal.web import cases as case_pages
from services.portal.web.deps import Portal

MIGRATIONS = PORTAL_DIR / "migrations"
TEMPLATES = PORTAL_DIR / "web" / "templates"
OWN_STATIC = PORTAL_DIR / "static"

# Scripts and styles from this site only: the DSFR needs nothing else.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'self'; object-src 'none'"
)


class CachedStatic(StaticFiles):
    """Static files whose URL changes with their content: cached for a year."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


def dsfr_version(dist: Path) -> str:
    package = dist.parent / "package.json"
    if not (dist / "dsfr.min.css").exists() or not package.exists():
        raise RuntimeError(
            f"the State design system (DSFR) is not installed in {dist}: run `make portal-assets`"
            " (npm ci in services/portal), or set PORTAL_DSFR_DIR"
        )
    return str(json.loads(package.read_text(encoding="utf-8"))["version"])


def _fingerprint(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _on_readers_clock(
    show: Callable[[dt.datetime, ZoneInfo], str],
) -> Callable[[Context, dt.datetime], str]:
    """A filter that shows a moment on the clock of the page's reader (`clock`, which
    `render` puts in every page's context; Paris where a page has none)."""

    @pass_context
    def on_clock(context: Context, at: dt.datetime) -> str:
        return show(at, context.get("clock") or labels.PARIS)

    return on_clock


@pass_context
def _timed(context: Context, label: str) -> Markup:
    """A column's heading for times, naming the clock they are on, on a line of its own:
    "Reçue le" then "(heure de La Réunion)"."""
    clock = context.get("clock_name") or time_zone_name(labels.PARIS)
    return Markup('{}<span class="portal-clock"> ({})</span>').format(label, clock)


def templates(settings: PortalSettings) -> Jinja2Templates:
    env = Jinja2Templates(directory=str(TEMPLATES))
    ref = reference()
    env.env.globals.update(
        labels=labels,
        dsfr=f"/static/dsfr/{dsfr_version(settings.dsfr_dir)}",
        own=f"/static/portal/{_fingerprint(OWN_STATIC)}",
        cpias_name=lambda c: labels.recipient_name(c, ref) if c else "",
        page_numbers=region.page_numbers,
        timed=_timed,
    )
    env.env.filters.update(
        local_time=_on_readers_clock(labels.local_time),
        local_second=_on_readers_clock(labels.local_second),
        after_colon=labels.after_colon,  # keeps a Markup a Markup
        french_date=labels.french_date,
        criteria=labels.criteria_codes,
        recipient=lambda r: labels.recipient_name(r, ref),
        said=lambda p: kept_joined(
            kept_whole(labels.said(labels.message_of(p), getattr(p, "article", None)))
        ),
        kept_whole=kept_whole,
        kept_joined=kept_joined,
    )
    return env


# An article of a code as cited ("R1413-79", "L. 1413-14", "D3113-8"), and what follows it
# ("3°"): read as one word, it is never cut at its hyphen at the end of a line.
ARTICLE = re.compile(r"((?:\barticles?\s)?\b[LRD]\.?\s?\d{4}(?:-\d+)+(?:\s\d+°)?)")


NOWRAP = Markup('<span class="portal-nowrap">{}</span>')


def kept_whole(text: str) -> Markup:
    """The text, escaped, with each article it cites kept on one line."""
    return _kept(ARTICLE, text)


# A tag of a text already made HTML (a label with its hint): the words are between the tags.
TAG = re.compile(r"(<[^>]*>)")


def _kept(pattern: re.Pattern[str], text: str) -> Markup:
    """The text, escaped, with each match of the pattern (one capturing group: `split`
    keeps the matches, at odd places) on one line. A Markup keeps its tags as they are,
    and only its words are looked at."""
    if isinstance(text, Markup):
        return _kept_between_tags(pattern, text)
    return Markup("").join(
        escape(piece) if i % 2 == 0 else NOWRAP.format(piece)
        for i, piece in enumerate(pattern.split(text))
    )


def _kept_between_tags(pattern: re.Pattern[str], text: Markup) -> Markup:
    """`_kept` for a text already made HTML: its tags stay as they are, and so do the words
    already kept on one line (inside a span of NOWRAP's)."""
    out, spans = [], []  # spans: for each open <span>, whether it keeps its words whole
    # The pieces of a Markup are Markup again (re.split gives back plain strings).
    for i, part in enumerate(Markup(p) for p in TAG.split(text)):  # noqa: S704
        if i % 2:  # a tag
            if part.startswith("<span"):
                spans.append('"portal-nowrap"' in part)
            elif part.startswith("</span") and spans:
                spans.pop()
            out.append(part)
        else:
            out.append(part if any(spans) else _kept(pattern, part.unescape()))
    return Markup("").join(out)


# A word joined by hyphens ("Auvergne-Rhône-Alpes", an e-mail's "cpias-ara.example").
HYPHENATED = re.compile(r"([^\s@]*\w-\w[^\s@]*)")


def kept_joined(text: str) -> Markup:
    """The text, escaped, with each hyphenated word on one line; an e-mail address may
    break after its "@" rather than inside its names: "paul.enqueteur@" / "cpias-ara…" (the
    "@" at the line's end says the address goes on; "paul.enqueteur" alone read as a name)."""
    return Markup("@<wbr>").join(_kept(HYPHENATED, part) for part in text.split("@"))


def database(settings: PortalSettings) -> tuple[Engine, Callable[[], SqlPortalUnitOfWork]]:
    """The portal's engine and units of work (the app, and `iaspipe users add`)."""
    engine = db.make_engine(settings.database_url.get_secret_value())
    return engine, partial(SqlPortalUnitOfWork, sessionmaker(engine, expire_on_commit=False))


def create_app(
    settings: PortalSettings,
    *,
    start_workers: bool = True,
    api_transport: httpx.BaseTransport | None = None,
    cases_transport: httpx.BaseTransport | None = None,
    notifier_transport: httpx.BaseTransport | None = None,
    oidc_transport: httpx.BaseTransport | None = None,
) -> FastAPI:
    """`api_transport`, `cases_transport`, `notifier_transport` and `oidc_transport` let tests
    put intake, cpias, the notifier or the provider in-process."""
    engine, uow_factory = database(settings)
    timeout = settings.api_timeout_seconds
    api = HttpDeclarationsApi(settings.intake_url, timeout=timeout, transport=api_transport)
    cases = HttpCasesApi(settings.cpias_url, timeout=timeout, transport=cases_transport)
    notifier = HttpNotifierApi(settings.notifier_url, timeout=timeout, transport=notifier_transport)
    region = HttpRegionApi(
        settings.intake_url,
        settings.cpias_url,
        timeout=timeout,
        intake_transport=api_transport,
        cpias_transport=cases_transport,
    )
    o = settings.oidc
    portal = Portal(
        settings=settings,
        uow=uow_factory,
        hasher=Argon2Passwords(),
        api=api,
        cases=cases,
        notifier=notifier,
        minter=KeyFileMinter(settings.auth, settings.api_token_seconds),
        provider=OidcClient(o, settings.oidc_redirect_url, oidc_transport) if o.enabled else None,
        claims=o.claim_mapping(),
        policy=service.SessionPolicy(
            lifetime=dt.timedelta(hours=settings.session_hours),
            idle=dt.timedelta(minutes=settings.session_idle_minutes),
            max_failures=settings.lockout_failures,
            lock_for=dt.timedelta(minutes=settings.lockout_minutes),
        ),
        ref=reference(),
        templates=templates(settings),
        audits={
            "intake": HttpAudit(api),
            "cpias": HttpAudit(cases),
            "notifier": HttpAudit(notifier),
        },
        region=region,
    )
    runtime = Runtime("portal", settings)
    runtime.add_worker("sweeper", partial(_sweep, portal))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        db.upgrade(engine, MIGRATIONS)
        try:
            with runtime.running(start_workers):
                yield
        finally:
            for client in (api, cases, notifier, region):
                client.close()
            engine.dispose()

    app = FastAPI(
        title="IAS portal",
        description="Health professionals sign in and declare healthcare-associated infections "
        "(article R1413-79 of the Code de la santé publique).",
        version="1.0.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.portal = portal
    app.state.settings = settings
    app.state.workers = runtime.workers
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders, extra=[(b"content-security-policy", CSP.encode())])
    pages.install_error_pages(app)
    pages.refuse_control_characters(app)
    app.add_middleware(CloseUnreadBodies)  # outermost: see iaspipe.http.middleware
    app.mount(
        f"/static/dsfr/{dsfr_version(settings.dsfr_dir)}",
        CachedStatic(directory=settings.dsfr_dir),
        name="dsfr",
    )
    app.mount(f"/static/portal/{_fingerprint(OWN_STATIC)}", CachedStatic(directory=OWN_STATIC))
    app.include_router(
        health_router({"database": lambda: db.is_reachable(engine), "intake": api.is_reachable})
    )
    app.include_router(ars_pages.router)
    # drafts first: /declarations/new is not a declaration id.
    for module in (pages, auth, drafts, declarations):
        app.include_router(module.router)
    app.include_router(admin.router)
    app.include_router(case_pages.router)
    return app


def _sweep(portal: Portal, stop: threading.Event) -> None:
    s = portal.settings
    while not stop.is_set():
        service.sweep(
            portal.uow(),
            policy=portal.policy,
            draft_retention=dt.timedelta(days=s.draft_retention_days),
        )
        stop.wait(s.sweep_every_seconds)


def from_env() -> FastAPI:
    """Factory for multi-process serving: settings from the environment."""
    return create_app(PortalSettings())
