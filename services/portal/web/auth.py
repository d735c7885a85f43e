"""Sign-in (local accounts, or OpenID Connect), sign-out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from iaspipe.errors import ServiceError
from services.portal import service
from services.portal.web.deps import (
    LOGIN_CSRF_COOKIE,
    OIDC_STATE_COOKIE,
    SESSION_COOKIE,
    OptionalSessionDep,
    Portal,
    PortalDep,
    PostedDep,
    address,
    check_csrf,
    drop_cookie,
    first,
    login_csrf,
    redirect,
    render,
    safe_next,
    session_token,
    set_cookie,
)

router = APIRouter()

INFO = {
    "signed_out": "Déconnexion effectuée.",
    "expired": "Votre session a expiré. Reconnectez-vous : ce que vous aviez saisi est gardé.",
}


def _login_page(
    request: Request,
    portal: PortalDep,
    *,
    next_url: str,
    username: str = "",
    error: str | None = None,
    alert: str | None = None,
    info: str | None = None,
    status_code: int = 200,
) -> Response:
    """`error` is said beside the credentials (or the provider's button); `alert`, a refusal
    that is not about what was typed (a disabled account, a lock-out, an expired form), above
    the form."""
    token = login_csrf(request)
    response = render(
        request,
        portal,
        "login.html",
        {
            "next_url": next_url,
            "username": username,
            "error": error,
            "alert": alert,
            "info": INFO.get(info or ""),
            "login_csrf": token,
        },
        status_code=status_code,
    )
    set_cookie(response, request, portal.settings, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


@router.get("/login", summary="The sign-in page")
def login_page(
    request: Request,
    portal: PortalDep,
    session: OptionalSessionDep,
    next: Annotated[str | None, Query(max_length=500)] = None,
    info: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    if session is not None:
        return redirect(safe_next(next))
    return _login_page(request, portal, next_url=safe_next(next), info=info)


@router.post("/login", summary="Sign in with a local account")
def login(request: Request, portal: PortalDep, form: PostedDep) -> Response:
    next_url = safe_next(first(form, "next"))
    username = first(form, "username")
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
    if portal.provider is not None:
        return redirect("/login")
    if not cookie or not service.csrf_ok(cookie, first(form, "csrf_token")):
        return _login_page(
            request,
            portal,
            next_url=next_url,
            username=username,
            alert="Le formulaire a expiré : saisissez de nouveau vos identifiants.",
            status_code=400,
        )
    try:
        _session, token = service.sign_in(
            portal.uow(),
            portal.hasher,
            username=username,
            password=first(form, "password"),
            policy=portal.policy,
            address=address(request),
        )
    except ServiceError as exc:
        return _refused(request, portal, exc, next_url=next_url, username=username)
    return _signed_in(request, portal, token, next_url, spent_cookie=LOGIN_CSRF_COOKIE)


@router.post("/logout", summary="Sign out: the session is revoked")
def logout(
    request: Request, portal: PortalDep, session: OptionalSessionDep, form: PostedDep
) -> Response:
    token = session_token(request)
    if session is not None and token:
        check_csrf(session, form)
        service.sign_out(portal.uow(), token, address=address(request))
    response = redirect("/login?info=signed_out")
    drop_cookie(response, request, portal.settings, SESSION_COOKIE)
    return response


@router.get("/auth/oidc", summary="Sign in with the identity provider (OpenID Connect)")
def oidc_start(
    request: Request,
    portal: PortalDep,
    next: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    if portal.provider is None:
        return redirect("/login")
    url, state = service.start_provider_sign_in(
        portal.uow(), portal.provider, next_url=safe_next(next)
    )
    response = redirect(url)
    set_cookie(response, request, portal.settings, OIDC_STATE_COOKIE, state, max_age=600)
    return response


@router.get("/auth/callback", summary="Where the identity provider sends people back")
def oidc_callback(
    request: Request,
    portal: PortalDep,
    code: Annotated[str, Query(max_length=2000)] = "",
    state: Annotated[str, Query(max_length=200)] = "",
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    if portal.provider is None:
        return redirect("/login")
    if error or not code:
        return _login_page(
            request,
            portal,
            next_url="/",
            error="La connexion a été interrompue auprès du fournisseur d’identité.",
            status_code=401,
        )
    try:
        _session, token, next_url = service.finish_provider_sign_in(
            portal.uow(),
            portal.provider,
            code=code,
            state=state,
            browser_state=request.cookies.get(OIDC_STATE_COOKIE),
            mapping=portal.claims,
            policy=portal.policy,
            address=address(request),
        )
    except ServiceError as exc:
        return _refused(request, portal, exc, next_url="/")
    return _signed_in(request, portal, token, safe_next(next_url), spent_cookie=OIDC_STATE_COOKIE)


def _refused(
    request: Request, portal: Portal, exc: ServiceError, *, next_url: str, username: str = ""
) -> Response:
    """The sign-in page again, saying why the sign-in was refused: a wrong password beside
    the credentials, anything else (the account, the provider) where it applies."""
    message = exc.problems()[0].message
    beside = portal.provider is not None or exc.problems()[0].path == "password"
    return _login_page(
        request,
        portal,
        next_url=next_url,
        username=username,
        error=message if beside else None,
        alert=None if beside else message,
        status_code=exc.status,
    )


def _signed_in(
    request: Request, portal: Portal, token: str, next_url: str, *, spent_cookie: str
) -> Response:
    """On to where the person was going, with the session's cookie; the sign-in's one-time
    cookie (its CSRF token, or the provider's state) is dropped."""
    response = redirect(next_url)
    set_cookie(response, request, portal.settings, SESSION_COOKIE, token)
    drop_cookie(response, request, portal.settings, spent_cookie)
    return response
