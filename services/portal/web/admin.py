"""Administration (admins only): the portal's local accounts (add, disable, enable), the audit
logs of the portal and of every service, and the notifier's address book."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from iaspipe.errors import Forbidden, InvalidRequest, ServiceError
from iaspipe.principal import Caller
from schemas.events import utcnow
from schemas.notifications import AddressBook, ArsAddressView, CpiasAddressView
from schemas.organisms import fold
from schemas.problems import Problem
from services.portal import service
from services.portal.domain import administration as words
from services.portal.domain.accounts import (
    ROLE_NAMES,
    AccountExists,
    AccountNotFound,
    CannotDisableSelf,
    LocalAccountsOff,
    Session,
)
from services.portal.domain.administration import AuditQuery
from services.portal.domain.answers import Refused, ServiceUnavailable
from services.portal.domain.region import region_names
from services.portal.web.deps import (
    Portal,
    PortalDep,
    PostedDep,
    SessionDep,
    address,
    check_csrf,
    error_page,
    first,
    redirect,
    render,
)

router = APIRouter(prefix="/admin")

ACCOUNTS_PAGE = 50
AUDIT_PAGE = 50
DONE = {
    "added": "Le compte {email} est créé : communiquez à la personne son mot de passe initial "
    "par un autre canal que la messagerie.",
    "disabled": "Le compte {email} est désactivé : la personne ne peut plus se connecter et ses "
    "sessions ouvertes sont fermées.",
    "enabled": "Le compte {email} est réactivé : la personne peut de nouveau se connecter.",
    "password": "Le compte {email} a un nouveau mot de passe et ses sessions ouvertes sont "
    "fermées : communiquez-le à la personne par un autre canal que la messagerie.",
}


class AdminOnly(Forbidden):
    message = "Cette page est réservée aux administrateurs de la plateforme."


def admin_session(session: SessionDep) -> Session:
    if not session.person.is_admin:
        raise AdminOnly(f"role {session.person.role.value} is not admin")
    return session


AdminDep = Annotated[Session, Depends(admin_session)]


@dataclass
class Posted:
    """A form as posted, with the problems to show beside its fields (it is not kept)."""

    values: dict[str, list[str]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    fields: tuple[str, ...] = ()

    def value(self, name: str) -> str:
        return first(self.values, name)

    def checked(self, name: str, option: str) -> bool:
        return self.value(name) == option

    def errors(self, name: str) -> list[Problem]:
        return [p for p in self.problems if p.path == name]

    def general(self) -> list[Problem]:
        return [p for p in self.problems if p.path not in self.fields]


ACCOUNT_FIELDS = (
    "email",
    "display_name",
    "role",
    "finess",
    "cpias",
    "region",
    "password",
    "password_confirmation",
)


PASSWORD_FIELDS = ("reset_email", "new_password", "new_password_confirmation")
# The service names the fields of an account's form; this form has its own names.
PASSWORD_PATHS = {"password": "new_password", "password_confirmation": "new_password_confirmation"}


def _caller(request: Request, session: Session) -> Caller:
    return Caller(session.person.principal, address(request))


# -- accounts ------------------------------------------------------------------------------


def _accounts_page(
    request: Request,
    portal: Portal,
    *,
    page: int = 1,
    form: Posted | None = None,
    reset: Posted | None = None,
    done: str | None = None,
    done_id: str | None = None,
    reset_id: str | None = None,
    refusal: str | None = None,
    status_code: int = 200,
) -> Response:
    if reset is None and reset_id is not None and portal.provider is None:
        # "Nouveau mot de passe" on an account's line: the form names that account already.
        chosen = service.account_by_id(portal.uow(), reset_id)
        if chosen is not None:
            reset = Posted({"reset_email": [chosen.email]}, fields=PASSWORD_FIELDS)
    context: dict[str, Any] = {
        "words": words,
        "roles": ROLE_NAMES,
        "form": form or Posted(fields=ACCOUNT_FIELDS),
        "reset": reset or Posted(fields=PASSWORD_FIELDS),
        "refusal": refusal,
        "min_password_length": portal.settings.min_password_length,
        "cpias_choices": _cpias_choices(portal),
        "region_choices": _region_choices(portal),
    }
    if portal.provider is None:
        lines, total = service.account_lines(
            portal.uow(), limit=ACCOUNTS_PAGE, offset=(page - 1) * ACCOUNTS_PAGE
        )
        message = DONE.get(done or "")
        account = service.account_by_id(portal.uow(), done_id) if message and done_id else None
        context |= {
            "lines": lines,
            "total": total,
            "page": page,
            "pages": max(1, -(-total // ACCOUNTS_PAGE)),
            "page_href": lambda n: f"/admin?page={n}",
            "now": utcnow(),
            "done": message.format(email=account.email) if message and account else None,
        }
    return render(request, portal, "admin.html", context, status_code=status_code)


def _cpias_choices(portal: Portal) -> list[tuple[str, str]]:
    names = {d.cpias_id: d.cpias_name for d in portal.ref.departements.values()}
    return sorted(names.items(), key=lambda item: item[1])


def _region_choices(portal: Portal) -> list[tuple[str, str]]:
    names = {d.region_code: d.region_name for d in portal.ref.departements.values()}
    return sorted(names.items(), key=lambda item: item[1])


@router.get("", summary="The portal's local accounts, and the form to add one (admins)")
def accounts(
    request: Request,
    portal: PortalDep,
    session: AdminDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    done: Annotated[str | None, Query(max_length=20)] = None,
    id: Annotated[str | None, Query(max_length=36)] = None,
    reset: Annotated[str | None, Query(max_length=36)] = None,
) -> Response:
    return _accounts_page(request, portal, page=page, done=done, done_id=id, reset_id=reset)


def _local_accounts(portal: Portal) -> None:
    if portal.provider is not None:
        raise LocalAccountsOff("OIDC mode")


@router.post("/accounts", summary="Add a local account (admins)")
def add_account(
    request: Request, portal: PortalDep, session: AdminDep, posted: PostedDep
) -> Response:
    check_csrf(session, posted)
    _local_accounts(portal)

    def value(name: str) -> str | None:
        return first(posted, name).strip() or None

    try:
        account = service.add_account(
            portal.uow(),
            portal.hasher,
            email=first(posted, "email"),
            password=first(posted, "password"),
            confirmation=first(posted, "password_confirmation"),
            role=first(posted, "role"),
            finess=(value("finess") or "").upper() or None,
            cpias=value("cpias"),
            region=value("region"),
            display_name=first(posted, "display_name"),
            min_password_length=portal.settings.min_password_length,
            ref=portal.ref,
            caller=_caller(request, session),
        )
    except (InvalidRequest, AccountExists) as exc:
        problems = exc.problems()
        if isinstance(exc, AccountExists):
            problems = [p.model_copy(update={"path": "email"}) for p in problems]
        # The passwords are never sent back to the browser.
        kept = {k: v for k, v in posted.items() if not k.startswith("password")}
        form = Posted(kept, problems, ACCOUNT_FIELDS)
        return _accounts_page(request, portal, form=form, status_code=exc.status)
    return redirect(f"/admin?done=added&id={account.id}#done")


def _set_active(
    request: Request, portal: Portal, session: Session, posted: dict[str, list[str]], active: bool
) -> Response:
    check_csrf(session, posted)
    _local_accounts(portal)
    try:
        account = service.set_account_active(
            portal.uow(), first(posted, "email"), active=active, caller=_caller(request, session)
        )
    except ServiceError as exc:
        message = exc.problems()[0].message
        return _accounts_page(request, portal, refusal=message, status_code=exc.status)
    done = "enabled" if active else "disabled"
    return redirect(f"/admin?done={done}&id={account.id}#done")


@router.get(
    "/accounts/{account_id}/disable",
    summary="Ask before disabling an account: who it is, what disabling does (admins)",
)
def confirm_disable(
    request: Request, portal: PortalDep, session: AdminDep, account_id: str
) -> Response:
    _local_accounts(portal)
    account = service.account_by_id(portal.uow(), account_id)
    if account is None or not account.active:
        # Gone, or disabled meanwhile: the list says which.
        return redirect("/admin#comptes-liste")
    if account.email == session.person.subject:
        refusal = CannotDisableSelf(account.email)
        return _accounts_page(
            request, portal, refusal=refusal.problems()[0].message, status_code=refusal.status
        )
    return render(request, portal, "admin_disable.html", {"account": account, "roles": ROLE_NAMES})


@router.post("/accounts/disable", summary="Disable an account: its sessions end now (admins)")
def disable(request: Request, portal: PortalDep, session: AdminDep, posted: PostedDep) -> Response:
    return _set_active(request, portal, session, posted, active=False)


@router.post("/accounts/enable", summary="Enable a disabled account again (admins)")
def enable(request: Request, portal: PortalDep, session: AdminDep, posted: PostedDep) -> Response:
    return _set_active(request, portal, session, posted, active=True)


@router.post(
    "/accounts/password",
    summary="Set a new password for a local account: its sessions end, its lock-out is lifted "
    "(admins)",
)
def set_password(
    request: Request, portal: PortalDep, session: AdminDep, posted: PostedDep
) -> Response:
    check_csrf(session, posted)
    _local_accounts(portal)
    try:
        account = service.set_password(
            portal.uow(),
            portal.hasher,
            first(posted, "reset_email"),
            first(posted, "new_password"),
            confirmation=first(posted, "new_password_confirmation"),
            min_password_length=portal.settings.min_password_length,
            caller=_caller(request, session),
        )
    except (InvalidRequest, AccountNotFound) as exc:
        problems = [
            p.model_copy(update={"path": PASSWORD_PATHS.get(p.path, "reset_email")})
            for p in exc.problems()
        ]
        # The passwords are never sent back to the browser.
        kept = {"reset_email": posted.get("reset_email", [])}
        form = Posted(kept, problems, PASSWORD_FIELDS)
        return _accounts_page(request, portal, reset=form, status_code=exc.status)
    return redirect(f"/admin?done=password&id={account.id}#done")


# -- audit ---------------------------------------------------------------------------------


@router.get("/audit", summary="The audit log of the portal and of each service (admins)")
def audit(
    request: Request,
    portal: PortalDep,
    session: AdminDep,
    service_: Annotated[str, Query(alias="service", max_length=20)] = "portal",
    subject: Annotated[str, Query(max_length=200)] = "",
    action: Annotated[str, Query(max_length=40)] = "",
    object_id: Annotated[str, Query(max_length=64)] = "",
    outcome: Annotated[str, Query(max_length=10)] = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    query = AuditQuery(service_, subject, action, object_id, outcome, page)
    context: dict[str, Any] = {
        "words": words,
        "roles": ROLE_NAMES,
        "regions": region_names(portal.ref),
        "query": query,
        "entries": None,
    }
    try:
        found = service.audit_page(
            portal.uow(), portal.audits, portal.minter, session.person, query, limit=AUDIT_PAGE
        )
    except ServiceUnavailable:
        return render(request, portal, "admin_audit.html", context, status_code=503)
    context |= {
        "entries": found.items[:AUDIT_PAGE],
        "has_next": len(found.items) > AUDIT_PAGE,
    }
    return render(request, portal, "admin_audit.html", context)


# -- the notifier's address book -----------------------------------------------------------

KINDS = {"cpias": "cpias", "ars": "region_code"}


def _known(portal: Portal, kind: str, key: str) -> bool:
    """A CPias or a region of the reference data: nothing else reaches the notifier's URL."""
    known = {"cpias": portal.ref.cpias_ids, "ars": portal.ref.region_codes}
    return key in known.get(kind, [])


@router.get("/notifications", summary="The notifier's address book (admins)")
def notifications(
    request: Request,
    portal: PortalDep,
    session: AdminDep,
    done: Annotated[str | None, Query(max_length=10)] = None,
    id: Annotated[str | None, Query(max_length=40)] = None,
    sent: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    context: dict[str, Any] = {"words": words, "book": None, "done": None, "done_sent": sent}
    try:
        book = service.address_book(portal.notifier, portal.minter, session.person)
    except ServiceUnavailable:
        return render(request, portal, "admin_notifications.html", context, status_code=503)
    if done in KINDS and id:
        context |= {"done": _entry(book, done, id), "done_kind": done}
    context["book"] = book.model_copy(  # as a reader looks for them: by name, accents aside
        update={kind: sorted(getattr(book, kind), key=lambda e: fold(e.name)) for kind in KINDS}
    )
    entries: list[CpiasAddressView | ArsAddressView] = [*book.cpias, *book.ars]
    changers = (e.updated_by for e in entries if e.updated_by)
    context["names"] = service.people_names(portal.uow(), changers)
    return render(request, portal, "admin_notifications.html", context)


def _entry(book: AddressBook, kind: str, key: str) -> Any:
    entries: list[Any] = book.cpias if kind == "cpias" else book.ars
    return next((e for e in entries if getattr(e, KINDS[kind]) == key), None)


def _address_page(
    request: Request,
    portal: Portal,
    session: Session,
    kind: str,
    key: str,
    *,
    form: Posted | None = None,
    status_code: int = 200,
) -> Response:
    if not _known(portal, kind, key):
        return error_page(request, portal, 404)
    try:
        book = service.address_book(portal.notifier, portal.minter, session.person)
    except ServiceUnavailable:
        return error_page(request, portal, 503)
    entry = _entry(book, kind, key)
    if entry is None:
        return error_page(request, portal, 404)
    if form is None:
        values = {"address": [entry.address or ""]}
        if kind == "cpias":
            values["non_urgent"] = [entry.non_urgent.value]
        form = Posted(values, [], ("address", "non_urgent"))
    context = {"words": words, "kind": kind, "entry": entry, "form": form, "book": book}
    return render(request, portal, "admin_address.html", context, status_code=status_code)


@router.get("/notifications/{kind}/{key}", summary="Change an address of the book (admins)")
def address_form(
    request: Request, portal: PortalDep, session: AdminDep, kind: str, key: str
) -> Response:
    return _address_page(request, portal, session, kind, key)


@router.post("/notifications/{kind}/{key}", summary="Save an address of the book (admins)")
def save_address(
    request: Request, portal: PortalDep, session: AdminDep, kind: str, key: str, posted: PostedDep
) -> Response:
    check_csrf(session, posted)
    if not _known(portal, kind, key):
        return error_page(request, portal, 404)
    answer = service.set_address(portal.notifier, portal.minter, session.person, kind, key, posted)
    if isinstance(answer, Refused):
        form = Posted(posted, answer.problems, ("address", "non_urgent"))
        return _address_page(
            request, portal, session, kind, key, form=form, status_code=answer.status
        )
    sent = answer.readdressed or 0  # the messages left without an address, now sent to it
    return redirect(f"/admin/notifications?done={kind}&id={key}&sent={sent}#done")
