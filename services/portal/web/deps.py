"""What every page needs: the portal's parts, the signed-in person, CSRF, cookies, rendering."""

from __future__ import annotations

import secrets
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from iaspipe.errors import Forbidden
from iaspipe.http.auth import client_address
from schemas.reference import ReferenceData, time_zone_name
from schemas.typography import french_spacing
from services.portal import service
from services.portal.domain import labels
from services.portal.domain.accounts import Person, Session
from services.portal.domain.claims import ClaimMapping
from services.portal.ports import (
    AuditApi,
    CasesApi,
    DeclarationsApi,
    IdentityProvider,
    NotifierApi,
    PasswordHasher,
    PortalUnitOfWork,
    RegionApi,
    TokenMinter,
)
from services.portal.settings import PortalSettings

SESSION_COOKIE = "portal_session"
LOGIN_CSRF_COOKIE = "portal_login_csrf"
OIDC_STATE_COOKIE = "portal_oidc_state"


@dataclass
class Portal:
    """The parts app.py wires, reached by every route through `PortalDep`."""

    settings: PortalSettings
    uow: Callable[[], PortalUnitOfWork]
    hasher: PasswordHasher
    api: DeclarationsApi
    cases: CasesApi
    notifier: NotifierApi
    minter: TokenMinter
    provider: IdentityProvider | None
    claims: ClaimMapping
    policy: service.SessionPolicy
    ref: ReferenceData
    templates: Jinja2Templates
    region: RegionApi
    # The audit logs an admin reads through the services' GET /v1/audit, by service name.
    audits: Mapping[str, AuditApi] = field(default_factory=dict)


def get_portal(request: Request) -> Portal:
    return request.app.state.portal  # type: ignore[no-any-return]


PortalDep = Annotated[Portal, Depends(get_portal)]


class SignInRequired(Exception):
    """No active session: the page answers with a redirection to /login?next=..."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def here(request: Request) -> str:
    """The path and query of the request, to come back to after signing in."""
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{request.url.path}{query}"


def safe_next(value: str | None) -> str:
    """Only a path of this site: never another host (open redirection), nor a path longer than
    an address bar holds."""
    if (
        not value
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or len(value) > 500
    ):
        return "/"
    return value


def login_url(next_url: str, reason: str | None = None) -> str:
    params = {"next": next_url}
    if reason:
        params["info"] = reason
    return f"/login?{urllib.parse.urlencode(params)}"


def session_token(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE) or None


def optional_session(request: Request, portal: PortalDep) -> Session | None:
    token = session_token(request)
    if not token:
        return None
    session = service.current_session(portal.uow(), token, policy=portal.policy)
    if session is not None:
        # The person asks from this request's address: the API tokens minted for them say it.
        session = replace(session, person=replace(session.person, address=client_address(request)))
    request.state.session = session
    return session


OptionalSessionDep = Annotated[Session | None, Depends(optional_session)]


def required_session(request: Request, session: OptionalSessionDep) -> Session:
    if session is None:
        raise SignInRequired(here(request) if request.method == "GET" else "/")
    return session


SessionDep = Annotated[Session, Depends(required_session)]


def person(session: SessionDep) -> Person:
    return session.person


PersonDep = Annotated[Person, Depends(person)]


def declarant(person: PersonDep) -> Person:
    if not person.may_declare:
        raise Forbidden(f"role {person.role.value} does not declare")
    return person


DeclarantDep = Annotated[Person, Depends(declarant)]


def address(request: Request) -> str:
    return client_address(request)


# -- forms ---------------------------------------------------------------------------------


async def posted(request: Request) -> dict[str, list[str]]:
    """Every posted field with all its values (checkbox groups post one name many times). A
    browser sends a textarea's line breaks as CR LF: they are read as the line breaks they
    are, not as the control character (CR) the services refuse."""
    form = await request.form()
    out: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            out.setdefault(key, []).append(value.replace("\r\n", "\n"))
    return out


PostedDep = Annotated[dict[str, list[str]], Depends(posted)]


class CsrfRefused(Forbidden):
    message = (
        "Ce formulaire a expiré ou ne vient pas de ce site : rechargez la page et recommencez."
    )


def check_csrf(session: Session, form: dict[str, list[str]]) -> None:
    if not service.csrf_ok(session.csrf_token, first(form, "csrf_token")):
        raise CsrfRefused("CSRF token missing or wrong")


def first(form: dict[str, list[str]], name: str) -> str:
    values = form.get(name) or [""]
    return values[0]


# -- cookies -------------------------------------------------------------------------------


def is_secure(request: Request, settings: PortalSettings) -> bool:
    if settings.cookie_secure == "always":
        return True
    if settings.cookie_secure == "never":
        return False
    return request.url.scheme == "https"


def set_cookie(
    response: Response,
    request: Request,
    settings: PortalSettings,
    name: str,
    value: str,
    *,
    max_age: int | None = None,
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_secure(request, settings),
    )


def drop_cookie(response: Response, request: Request, settings: PortalSettings, name: str) -> None:
    response.delete_cookie(
        name, path="/", httponly=True, samesite="lax", secure=is_secure(request, settings)
    )


def login_csrf(request: Request) -> str:
    """The double-submit token of the sign-in form (there is no session yet)."""
    return request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)


# -- rendering -----------------------------------------------------------------------------


def render(
    request: Request,
    portal: Portal,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    where: str | None = None,
) -> HTMLResponse:
    """The page of `template`, its times on the reader's clock (`Person.clock`; `where`, the
    département of what the page shows, sets it for a declarant without FINESS)."""
    session: Session | None = getattr(request.state, "session", None)
    clock = session.person.clock(portal.ref, where) if session else labels.PARIS
    base = {
        "request": request,
        "session": session,
        "person": session.person if session else None,
        "clock": clock,  # times are shown on it; `clock_name` says which it is
        "clock_name": time_zone_name(clock),
        "csrf_token": session.csrf_token if session else "",
        "service_name": portal.settings.service_name,
        "oidc": portal.provider is not None,
        "provider_name": portal.settings.oidc.provider_name,
        "path": request.url.path,
    }
    page = portal.templates.get_template(template).render({**base, **(context or {})})
    return HTMLResponse(french_spacing(page), status_code=status_code)


def one_place(departements: Iterable[str | None]) -> str | None:
    """The département every item of a list names (their `where` for `render`); None when
    they name none, or several."""
    places = {d for d in departements if d}
    return places.pop() if len(places) == 1 else None


def error_page(
    request: Request, portal: Portal, status: int, message: str | None = None
) -> HTMLResponse:
    """The error page of a status, with its own words or the message given. It is none of
    the menu's pages: no entry is marked current, whatever its address."""
    context = {"status": status, "message": message, "path": ""}
    return render(request, portal, "error.html", context, status_code=status)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)
