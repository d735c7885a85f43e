"""The home page, the error pages, and the JWKS of the API tokens the portal signs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from iaspipe.auth import local_jwks
from iaspipe.errors import ServiceError
from iaspipe.http.middleware import RejectControlCharacters
from services.portal.web.deps import (
    OptionalSessionDep,
    PortalDep,
    SignInRequired,
    error_page,
    login_url,
    redirect,
    render,
)

router = APIRouter()


@router.get("/", summary="Home: the signed-in person's first page, or the sign-in page")
def home(session: OptionalSessionDep) -> Response:
    return redirect(session.person.home if session else "/login")


@router.get("/accessibilite", summary="The accessibility statement (RGAA)")
def accessibility(request: Request, portal: PortalDep, _session: OptionalSessionDep) -> Response:
    return render(request, portal, "accessibilite.html", {"contact": portal.settings.contact})


@router.get("/mentions-legales", summary="The legal notice: publisher, publication, hosting")
def legal_notice(request: Request, portal: PortalDep, _session: OptionalSessionDep) -> Response:
    s = portal.settings
    notice = {
        "publisher": s.publisher,
        "director": s.publication_director,
        "host": s.hosting,
        "contact": s.contact,
    }
    return render(request, portal, "mentions_legales.html", notice)


@router.get("/donnees-personnelles", summary="What the portal keeps about whom, and for how long")
def personal_data(request: Request, portal: PortalDep, _session: OptionalSessionDep) -> Response:
    s = portal.settings
    figures = {
        "session_hours": f"{s.session_hours:g}",
        "idle_minutes": f"{s.session_idle_minutes:g}",
        "draft_days": s.draft_retention_days,
        "contact": s.contact,
        "controller": s.data_controller,
        "dpo": s.dpo_address,
        "retention": s.records_retention,
    }
    return render(request, portal, "donnees_personnelles.html", figures)


@router.get("/.well-known/jwks.json", summary="Public keys of the API tokens the portal signs")
def jwks(portal: PortalDep) -> dict[str, Any]:
    return local_jwks(portal.settings.auth.local_key_file)


def _error_page(request: Request, status: int, message: str | None = None) -> Response:
    return error_page(request, request.app.state.portal, status, message)


async def _sign_in(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    return redirect(login_url(exc.next_url))


async def _service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    return _error_page(request, exc.status, exc.problems()[0].message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    return _error_page(request, exc.status_code)


async def _invalid(request: Request, exc: Exception) -> Response:
    return _error_page(request, 400)


CONTROL_CHARACTER = (
    "L’adresse de la page contient un caractère de contrôle ou d’inversion du sens d’écriture "
    "qu’aucune page n’attend. Revenez à la page d’accueil."
)


def refuse_control_characters(app: FastAPI) -> None:
    """A path or query parameter holding a control or bidirectional-override character is
    answered with the error page (400) before any route reads it: the services' own rule
    (iaspipe.http.middleware.RejectControlCharacters), said as a page."""

    @app.middleware("http")
    async def refuse(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if RejectControlCharacters.offending(request.scope) is None:
            return await call_next(request)
        return _error_page(request, 400, CONTROL_CHARACTER)


def install_error_pages(app: FastAPI) -> None:
    app.add_exception_handler(SignInRequired, _sign_in)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid)
