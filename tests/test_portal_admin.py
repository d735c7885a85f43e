"""The administration pages in-process (workers off), with intake and the notifier served over
real HTTP: accounts added, disabled (their sessions end, they cannot sign in) and enabled
again, each change audited; the audit logs of the portal and of the services with their
filters; the notifier's address book edited; the messages sent about a declaration on its
page. The portal's tables run on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import html
import logging
import re
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from cli.broker import free_port
from iaspipe.auth import AuthSettings
from iaspipe.principal import Caller, Principal, Role
from schemas.events import NotificationKind, notification_event_id
from schemas.reference import reference
from services.intake.app import create_app as intake_app
from services.intake.settings import IntakeSettings
from services.notifier import service as notifier_service
from services.notifier.adapters.orm import AuditEntry as NotifierAudit
from services.notifier.adapters.templates import JinjaRenderer
from services.notifier.adapters.uow import SqlNotifierUnitOfWork
from services.notifier.app import create_app as notifier_app
from services.notifier.dispatch import Dispatcher
from services.notifier.settings import NotifierSettings
from services.portal import service
from services.portal.adapters.orm import AuditEntry
from services.portal.app import create_app
from services.portal.domain.accounts import Person
from services.portal.settings import OidcSettings, PortalSettings
from tests.factories import make_declaration
from tests.notifications import ADDRESS_BOOK, T0, Clock, RecordingSender, notification_request
from tests.portal_support import (
    PASSWORD,
    add_account,
    csrf_of,
    joined,
    post_form,
    served,
    sign_in,
)
from tests.tokens import Tokens

ADMIN = "admin@ars.example"


LYON = "claire.martin@chu.example"
NEW = "enqueteur@cpias-ara.example"
NEW_PASSWORD = "un autre mot de passe bien long"


@pytest.fixture(scope="module")
def intake(tmp_path_factory: pytest.TempPathFactory, key_file: Path) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("intake")
    settings = IntakeSettings(
        database_url=f"sqlite:///{tmp}/intake.db",
        auth=AuthSettings(local_key_file=key_file),
        submit_rate_limit="1000/minute",
    )
    with served(intake_app(settings, start_workers=False)) as url:
        yield url


class Notifier:
    """The notifier served over HTTP, its requests accepted and sent by the test."""

    def __init__(self, tmp: Path, key_file: Path) -> None:
        self.settings = NotifierSettings(
            database_url=f"sqlite:///{tmp}/notifier.db",
            auth=AuthSettings(local_key_file=key_file),
            address_book=ADDRESS_BOOK,
            digest_hour=7,
        )
        self.app = notifier_app(self.settings, start_workers=False, sender=RecordingSender())
        self.url = ""

    def uow(self) -> SqlNotifierUnitOfWork:
        return SqlNotifierUnitOfWork(self.app.state.sessions)

    def deliver(self, kind: NotificationKind, declaration_id: str) -> None:
        request = notification_request(kind, declaration_id=declaration_id)
        notifier_service.accept_request(
            self.uow(),
            str(notification_event_id(declaration_id, kind)),
            request,
            audiences=self.settings.audiences,
            now=T0,
        )
        Dispatcher(
            self.settings,
            partial(SqlNotifierUnitOfWork, self.app.state.sessions),
            sender=RecordingSender(),
            renderer=JinjaRenderer(),
            ref=reference(),
            clock=Clock(),
        ).run_once()


@pytest.fixture(scope="module")
def notifier(tmp_path_factory: pytest.TempPathFactory, key_file: Path) -> Iterator[Notifier]:
    n = Notifier(tmp_path_factory.mktemp("notifier"), key_file)
    with served(n.app) as url:
        n.url = url
        yield n


def portal_settings(database_url: str, key_file: Path, **kw: Any) -> PortalSettings:
    return PortalSettings(
        database_url=database_url, auth=AuthSettings(local_key_file=key_file), **kw
    )


@pytest.fixture
def app(database_url: str, key_file: Path, intake: str, notifier: Notifier) -> FastAPI:
    # Nothing answers at cpias_url: its audit log is "unavailable".
    settings = portal_settings(
        database_url,
        key_file,
        intake_url=intake,
        notifier_url=notifier.url,
        cpias_url=f"http://127.0.0.1:{free_port()}",
    )
    return create_app(settings, start_workers=False)


@pytest.fixture
def admin(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        add_account(app, ADMIN, "admin")
        add_account(app, LYON, finess="690781810")
        assert sign_in(c, ADMIN).status_code == 200
        yield c


def portal_audit(app: FastAPI, action: str) -> list[tuple[str, str, str]]:
    with app.state.portal.uow() as uow:
        rows = uow.session.scalars(select(AuditEntry).where(AuditEntry.action == action))
        return [(r.subject, r.object_id, r.outcome) for r in rows]


def add_investigator(client: TestClient, **changes: str) -> httpx.Response:
    fields = {
        "email": NEW,
        "display_name": "Dr Paul Enquêteur",
        "role": "cpias_investigator",
        "finess": "",
        "cpias": "cpias-ara",
        "region": "",
        "password": NEW_PASSWORD,
        "password_confirmation": NEW_PASSWORD,
    } | changes
    return post_form(client, "/admin/accounts", fields, page="/admin")


# -- who may ------------------------------------------------------------------------------


def test_only_admins_open_the_administration(app: FastAPI) -> None:
    with TestClient(app) as c:
        add_account(app, LYON, finess="690781810")
        anonymous = c.get("/admin/audit", follow_redirects=False)
        assert anonymous.status_code == 303
        assert anonymous.headers["location"] == "/login?next=%2Fadmin%2Faudit"
        sign_in(c, LYON)
        for url in (
            "/admin",
            "/admin/audit",
            "/admin/notifications",
            "/admin/notifications/ars/84",
        ):
            page = c.get(url)
            assert page.status_code == 403, url
            assert "Accès refusé" in page.text
            assert "réservée aux administrateurs" in page.text
        token = csrf_of(c.get("/declarations"))
        posted = c.post("/admin/accounts/disable", data={"csrf_token": token, "email": LYON})
        assert posted.status_code == 403
        assert "Administration" not in c.get("/declarations").text


# -- accounts -----------------------------------------------------------------------------


def test_an_admin_adds_an_account_that_then_signs_in(admin: TestClient, app: FastAPI) -> None:
    page = admin.get("/admin")
    assert page.status_code == 200 and "Comptes du portail" in page.text
    assert ADMIN in page.text and LYON in page.text and "Votre compte" in page.text
    r = add_investigator(admin)
    assert r.status_code == 303 and r.headers["location"].startswith("/admin?done=added&id=")
    listed = admin.get(r.headers["location"])
    assert f"Le compte {NEW} est créé" in listed.text
    row = re.search(
        rf'<tr id="compte-[^"]+" data-email="{re.escape(NEW)}">(.*?)</tr>', listed.text, re.S
    )
    assert row is not None
    assert "Enquêteur du CPias" in row.group(1)
    assert 'CPias <span class="portal-nowrap">Auvergne-Rhône-Alpes</span>' in row.group(1)
    assert "Actif" in row.group(1) and "Jamais" in row.group(1)
    assert portal_audit(app, "account:add")[-1] == (ADMIN, NEW, "done")
    with TestClient(app) as other:
        token = csrf_of(other.get("/login"))
        form = {"username": NEW, "password": NEW_PASSWORD, "csrf_token": token, "next": "/"}
        assert other.post("/login", data=form, follow_redirects=False).status_code == 303
        assert other.get("/", follow_redirects=False).headers["location"] == "/cases"
    assert "Jamais" not in admin.get("/admin").text.split(NEW)[1].split("</tr>")[0]


def test_the_new_account_form_puts_each_problem_beside_its_field(
    admin: TestClient, app: FastAPI
) -> None:
    r = add_investigator(
        admin, email="pas-une-adresse", cpias="", finess="69078", password_confirmation="autre"
    )
    assert r.status_code == 422
    text = r.text
    assert 'id="f-email" name="email" type="email"' in text
    error = r'id="f-email-messages"[^>]*>\s*<p class="fr-message fr-message--error"[^>]*><span>'
    assert re.search(error + "Saisissez une adresse", text)
    assert "Choisissez un CPias pour le rôle «\u00a0Enquêteur du CPias\u00a0»." in text
    assert "Le rôle «\u00a0Enquêteur du CPias\u00a0» ne prend pas un numéro FINESS" in text
    assert (
        "Les deux mots de passe saisis ne sont pas identiques\u00a0; saisissez-les de nouveau."
        in joined(text)
    )
    # What was typed comes back, the passwords never.
    assert 'value="pas-une-adresse"' in text and NEW_PASSWORD not in text
    short = add_investigator(admin, password="court", password_confirmation="court")
    assert short.status_code == 422 and "au moins 12 caractères" in short.text
    admin_scope = add_investigator(admin, role="admin", cpias="cpias-ara")
    assert "ne prend pas un CPias" in admin_scope.text
    unknown = add_investigator(admin, cpias="cpias-atlantide")
    assert "Choisissez un CPias dans la liste." in unknown.text
    no_role = add_investigator(admin, role="")
    assert "Choisissez un rôle." in no_role.text
    existing = add_investigator(admin, email=LYON.upper())
    assert (
        existing.status_code == 409 and "Un compte existe déjà pour cette adresse." in existing.text
    )
    assert portal_audit(app, "account:add") == [
        ("iaspipe users", ADMIN, "done"),
        ("iaspipe users", LYON, "done"),
    ]


def test_a_disabled_account_cannot_sign_in_and_its_sessions_end(
    admin: TestClient, app: FastAPI
) -> None:
    with TestClient(app) as lyon:
        assert sign_in(lyon, LYON).status_code == 200
        assert lyon.get("/declarations").status_code == 200
        r = post_form(admin, "/admin/accounts/disable", {"email": LYON}, page="/admin")
        assert r.status_code == 303
        assert f"Le compte {LYON} est désactivé" in admin.get(r.headers["location"]).text
        # Her open session ended at once.
        ended = lyon.get("/declarations", follow_redirects=False)
        assert ended.status_code == 303 and ended.headers["location"].startswith("/login")
        right = sign_in(lyon, LYON)
        wrong = sign_in(lyon, LYON, "pas le bon mot de passe")
        assert right.status_code == wrong.status_code == 401
        disabled = "Ce compte est désactivé. Adressez-vous à l’administrateur de la plateforme."
        assert disabled in right.text and disabled in wrong.text
        # The account's refusal is said above the form, not under the password typed.
        for answer in (right, wrong):
            assert 'id="login-alert"' in answer.text and 'id="login-error"' not in answer.text
        assert lyon.get("/declarations", follow_redirects=False).status_code == 303
        r = post_form(admin, "/admin/accounts/enable", {"email": LYON}, page="/admin")
        assert f"Le compte {LYON} est réactivé" in admin.get(r.headers["location"]).text
        assert sign_in(lyon, LYON).status_code == 200
    assert portal_audit(app, "account:disable") == [(ADMIN, LYON, "done")]
    assert portal_audit(app, "account:enable") == [(ADMIN, LYON, "done")]
    refused = [e for e in portal_audit(app, "sign_in") if e[2] == "refused"]
    assert refused == [(LYON, LYON, "refused"), (LYON, LYON, "refused")]
    with app.state.portal.uow() as uow:  # the account is known: its role is recorded
        roles = uow.session.scalars(
            select(AuditEntry.role).where(
                AuditEntry.action == "sign_in", AuditEntry.outcome == "refused"
            )
        ).all()
    assert roles == ["declarant", "declarant"]


def test_admins_cannot_disable_themselves(admin: TestClient, app: FastAPI) -> None:
    assert 'name="email" value="admin@ars.example"' not in admin.get("/admin").text
    r = post_form(admin, "/admin/accounts/disable", {"email": ADMIN}, page="/admin")
    assert r.status_code == 409
    assert "Vous ne pouvez pas désactiver votre propre compte." in r.text
    assert admin.get("/admin").status_code == 200
    missing = post_form(admin, "/admin/accounts/disable", {"email": "x@y.example"}, page="/admin")
    assert missing.status_code == 404 and "Aucun compte ne porte cette adresse." in missing.text
    assert portal_audit(app, "account:disable") == []


def _account_id(app: FastAPI, email: str) -> str:
    with app.state.portal.uow() as uow:
        account = uow.accounts.get(email)
    assert account is not None
    return account.id


def test_disabling_is_asked_first_and_a_new_password_starts_from_the_line(
    admin: TestClient, app: FastAPI
) -> None:
    """The list's "Désactiver" opens a page that says what disabling does; nothing changes
    until its button is pressed. "Nouveau mot de passe" fills the form with the line's address."""
    lyon_id = _account_id(app, LYON)
    listed = admin.get("/admin").text
    assert f'href="/admin/accounts/{lyon_id}/disable"' in listed
    asked = admin.get(f"/admin/accounts/{lyon_id}/disable")
    assert asked.status_code == 200
    assert "<h1>Désactiver le compte de claire.martin\u00a0?</h1>" in asked.text  # its name
    assert 'action="/admin/accounts/disable"' in asked.text
    assert f'name="email" value="{LYON}"' in asked.text
    assert portal_audit(app, "account:disable") == []
    with TestClient(app) as lyon:  # asking ends nothing
        assert sign_in(lyon, LYON).status_code == 200
        admin.get(f"/admin/accounts/{lyon_id}/disable")
        assert lyon.get("/declarations").status_code == 200
    # An admin's own line has no such link, and the page refuses it.
    admin_id = _account_id(app, ADMIN)
    assert f"/admin/accounts/{admin_id}/disable" not in listed
    own = admin.get(f"/admin/accounts/{admin_id}/disable")
    assert own.status_code == 409
    assert "Vous ne pouvez pas désactiver votre propre compte." in own.text
    # An unknown or already disabled account: back to the list.
    gone = admin.get("/admin/accounts/nobody/disable", follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"] == "/admin#comptes-liste"
    post_form(admin, "/admin/accounts/disable", {"email": LYON}, page="/admin")
    again = admin.get(f"/admin/accounts/{lyon_id}/disable", follow_redirects=False)
    assert again.status_code == 303

    assert f'href="/admin?reset={lyon_id}#mot-de-passe"' in listed
    prefilled = admin.get(f"/admin?reset={lyon_id}").text
    form = prefilled.split('id="new-password"')[1].split("</form>")[0]
    assert f'value="{LYON}"' in form
    blank = admin.get("/admin?reset=nobody").text.split('id="new-password"')[1]
    assert LYON not in blank.split("</form>")[0]


def test_administration_forms_need_their_csrf_token(admin: TestClient) -> None:
    r = admin.post("/admin/accounts/disable", data={"email": LYON})
    assert r.status_code == 403 and "Ce formulaire a expiré" in r.text
    assert (
        admin.post("/admin/notifications/ars/84", data={"address": "a@b.example"}).status_code
        == 403
    )


def test_a_locked_out_username_shows_on_the_accounts_page(admin: TestClient, app: FastAPI) -> None:
    with TestClient(app) as other:
        for _ in range(5):
            sign_in(other, LYON, "faux mot de passe")
    row = admin.get("/admin").text.split(f'data-email="{LYON}"')[1].split("</tr>")[0]
    assert "Bloqué jusqu’à" in row


def test_an_admin_sets_a_new_password_for_a_locked_out_account(
    admin: TestClient, app: FastAPI
) -> None:
    """A person who forgot her password and locked her account: the admin sets a new one;
    her open sessions end, the lock-out is lifted, the old password no longer signs in."""
    renewed = "un nouveau mot de passe pour Claire"
    with TestClient(app) as lyon, TestClient(app) as other:
        assert sign_in(lyon, LYON).status_code == 200
        for _ in range(5):
            sign_in(other, LYON, "faux mot de passe")
        assert "Bloqué jusqu’à" in admin.get("/admin").text

        def reset(**changes: str) -> httpx.Response:
            fields = {
                "reset_email": LYON,
                "new_password": renewed,
                "new_password_confirmation": renewed,
            } | changes
            return post_form(admin, "/admin/accounts/password", fields, page="/admin")

        differ = reset(new_password_confirmation="autre chose encore")
        assert differ.status_code == 422 and renewed not in differ.text
        group = re.search(
            r'id="f-new-password-confirmation-messages"[^>]*>\s*'
            r'<p class="fr-message[^>]*><span>([^<]*)',
            differ.text,
        )
        assert group and "ne sont pas identiques" in group.group(1)
        assert f'value="{LYON}"' in differ.text  # the address typed comes back
        short = reset(new_password="court", new_password_confirmation="court")
        assert short.status_code == 422 and "au moins 12 caractères" in short.text
        unknown = reset(reset_email="personne@chu.example")
        assert unknown.status_code == 404
        assert re.search(
            r'id="f-reset-email-messages"[^>]*>\s*<p[^>]*><span>Aucun compte', unknown.text
        )

        done = reset()
        assert done.status_code == 303
        page = admin.get(done.headers["location"]).text
        assert f"Le compte {LYON} a un nouveau mot de passe" in page
        assert "Bloqué jusqu’à" not in page
        ended = lyon.get("/declarations", follow_redirects=False)
        assert ended.status_code == 303 and ended.headers["location"].startswith("/login")
        assert sign_in(lyon, LYON).status_code == 401
        assert sign_in(lyon, LYON, renewed).status_code == 200
    assert portal_audit(app, "account:password") == [(ADMIN, LYON, "done")]


def test_in_openid_connect_mode_accounts_are_the_providers(tmp_path: Path, key_file: Path) -> None:
    oidc = OidcSettings(issuer="https://idp.example", client_id="portal")
    app = create_app(
        portal_settings(f"sqlite:///{tmp_path}/p.db", key_file, oidc=oidc), start_workers=False
    )
    with TestClient(app) as c:
        portal = app.state.portal
        _session, token = service.open_session(
            portal.uow(), Person("psc-admin", Role.admin, display_name="A"), policy=portal.policy
        )
        c.cookies.set("portal_session", token)
        page = c.get("/admin")
        assert page.status_code == 200
        assert "Comptes gérés par le fournisseur d’identité" in page.text
        assert "Ajouter le compte" not in page.text
        r = post_form(c, "/admin/accounts", {"email": NEW, "role": "admin"}, page="/admin")
        assert r.status_code == 409


# -- the audit logs -----------------------------------------------------------------------


def test_the_portals_audit_log_is_filtered_and_paged_newest_first(
    admin: TestClient, app: FastAPI
) -> None:
    caller = Caller(Principal("lecteur@chu.example", Role.declarant, finess="690781810"))
    with app.state.portal.uow() as uow:
        for i in range(60):
            uow.audit(caller, "read", "declaration", f"decl-{i:03d}")
        uow.commit()
    first = admin.get("/admin/audit", params={"action": "read"})
    assert first.status_code == 200
    ids = re.findall(r"decl-(\d{3})", first.text)
    assert ids[0] == "059" and len(ids) == 50
    assert 'href="/admin/audit?service=portal&amp;action=read&amp;page=2#journal"' in first.text
    second = admin.get("/admin/audit", params={"action": "read", "page": 2})
    assert re.findall(r"decl-(\d{3})", second.text) == [f"{i:03d}" for i in range(9, -1, -1)]
    assert 'aria-disabled="true" role="link">Page suivante' in second.text
    one = admin.get("/admin/audit", params={"object_id": "decl-007"}).text
    caption, rows = one.split('id="audit-table"')[1].split("<tbody", 1)
    assert "(Objet\u00a0: decl-007)" in caption  # the filter in force, said above the rows
    # One page in all: no page number; of several, each says which it is.
    assert "(page " not in caption
    assert "d’abord (page 1)" in first.text and "d’abord (page 2)" in second.text
    assert re.findall(r"decl-(\d{3})", rows) == ["007"]
    sign_in(TestClient(app), ADMIN, "faux mot de passe")
    refused = admin.get("/admin/audit", params={"outcome": "refused"}).text
    assert "identifiants incorrects" in refused and "decl-" not in refused
    assert "Connexion" in refused and 'value="refused" selected' in refused
    mine = admin.get(
        "/admin/audit", params={"subject": ADMIN, "action": "sign_in", "outcome": "done"}
    ).text
    assert mine.count("<tr>") == 2  # the header's row and the admin's sign-in
    # The accounts made on the server's command line, and figures of every region, in words
    with app.state.portal.uow() as uow:
        uow.audit(caller, "list", "declaration", "*")
        uow.audit(Caller(Principal(ADMIN, Role.admin)), "read:figures", "declaration", "*")
        uow.audit(caller, "read:figures", "case", "84")
        uow.commit()
    added = admin.get("/admin/audit", params={"action": "account:add"}).text
    assert "Exploitant, en ligne de commande" in added
    figures = admin.get("/admin/audit", params={"object_id": "*"}).text
    table = figures.split('id="audit-table"')[1]
    assert '<td class="portal-break">Toutes les déclarations</td>' in table  # the admin's
    assert '<td class="portal-break">Les déclarations de son périmètre</td>' in table
    assert ">*<" not in table
    region = admin.get("/admin/audit", params={"object_id": "84"}).text
    table = region.split('id="audit-table"')[1]
    assert (
        'Dossiers de la région<br><span class="fr-text--xs">'
        '<span class="portal-nowrap">Auvergne-Rhône-Alpes</span></span>' in table
    )


def test_the_services_audit_logs_are_read_with_the_admins_token(
    admin: TestClient, intake: str, notifier: Notifier, tokens: Tokens
) -> None:
    declaration = make_declaration()
    created = httpx.post(
        f"{intake}/v1/declarations", json=declaration, headers=tokens.headers()
    ).json()
    httpx.get(
        f"{intake}/v1/declarations/{created['id']}",
        headers=tokens.headers("declarant", finess="750100125", subject="curieux"),
    )
    page = admin.get("/admin/audit", params={"service": "intake", "object_id": created["id"]})
    assert page.status_code == 200 and "Réception des déclarations" in page.text
    assert "Déclaration envoyée" in page.text and "curieux" in page.text
    refused = admin.get(
        "/admin/audit",
        params={"service": "intake", "object_id": created["id"], "outcome": "refused"},
    ).text
    table = refused.split('id="audit-table"')[1]
    assert "curieux" in table and "absent ou hors du périmètre" in table
    assert "Déclaration envoyée" not in table
    admin.get("/admin/notifications")
    book = joined(admin.get("/admin/audit", params={"service": "notifier"}).text)
    assert ADMIN in book and "address_book" in book
    down = admin.get("/admin/audit", params={"service": "cpias"})
    assert down.status_code == 503 and "ne répond pas pour le moment" in down.text


def test_the_audit_route_filters_by_outcome(intake: str, tokens: Tokens) -> None:
    admin = tokens.headers("admin")
    for outcome in ("done", "refused"):
        items = httpx.get(f"{intake}/v1/audit", params={"outcome": outcome}, headers=admin).json()[
            "items"
        ]
        assert items and {i["outcome"] for i in items} == {outcome}
    assert (
        httpx.get(f"{intake}/v1/audit", params={"outcome": "x"}, headers=admin).status_code == 422
    )


# -- the address book ---------------------------------------------------------------------


def test_an_admin_edits_a_cpias_address_and_its_digest(
    admin: TestClient, notifier: Notifier
) -> None:
    page = admin.get("/admin/notifications")
    assert page.status_code == 200
    text = joined(page.text)
    assert "equipe@cpias-ara.example" in text and "Aucune adresse" in text
    assert "récapitulatif quotidien à 7 h" in text
    # Listed by name, accents aside: Île-de-France right after Hauts-de-France.
    regions = re.findall(r'<tr id="ars-\d+">\s*<td>([^<]+?)</td>', text)
    assert len(regions) == 18 and regions[0] == "Auvergne-Rhône-Alpes"
    assert regions.index("Île-de-France") == regions.index("Hauts-de-France") + 1
    assert regions.index("Normandie") == regions.index("Mayotte") + 1
    form = admin.get("/admin/notifications/cpias/cpias-bre")
    assert form.status_code == 200 and "Adresse du CPias Bretagne" in form.text
    bad = post_form(
        admin,
        "/admin/notifications/cpias/cpias-bre",
        {"address": "a@b.example, c@d.example", "non_urgent": "digest"},
    )
    assert bad.status_code == 422
    assert re.search(
        r'id="f-address-messages"[^>]*>\s*<p class="fr-message fr-message--error"', bad.text
    )
    assert 'value="a@b.example, c@d.example"' in bad.text
    assert re.search(r'value="digest" checked', bad.text)
    r = post_form(
        admin,
        "/admin/notifications/cpias/cpias-bre",
        {"address": " signalement@cpias-bretagne.example ", "non_urgent": "digest"},
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/admin/notifications?done=cpias&id=cpias-bre&sent=0#done"
    done = admin.get(r.headers["location"]).text
    assert (
        "Adresse enregistrée pour le CPias Bretagne\u00a0: signalement@cpias-bretagne.example"
        in done
    )
    # No message was waiting for this address: the page does not say one was sent.
    assert "Elle vaut pour les prochains courriels." in done and "72 dernières" not in done
    # The digest choice saved with it is repeated, with the hour of the digest.
    assert re.search(r"Nouveaux cas non urgents\u00a0: un récapitulatif quotidien, à \d+ h", done)
    waited = admin.get("/admin/notifications?done=cpias&id=cpias-bre&sent=3").text
    assert "et les 3 courriels des 72 dernières heures restés sans adresse lui sont" in waited
    row = done.split('id="cpias-cpias-bre"')[1].split("</tr>")[0]
    # The change is signed with the account's name ("admin" for this test's account).
    assert "Un récapitulatif quotidien" in row and "Modifiée par admin, le" in joined(row)
    # A row nobody changed says nothing of its origin: the page says it once, and leads to
    # the journal of the changes.
    untouched = done.split('id="cpias-cpias-ara"')[1].split("</tr>")[0]
    assert "Modifiée" not in untouched and "réglages" not in untouched
    assert (
        "Une adresse que personne n’a modifiée ici est celle des réglages de la plateforme" in done
    )
    journal = re.search(r'href="(/admin/audit\?[^"]+)">journal d’audit du service', done)
    assert journal
    edits_page = admin.get(html.unescape(journal.group(1)))
    assert edits_page.status_code == 200 and "cpias-bre" in edits_page.text
    r = post_form(admin, "/admin/notifications/ars/53", {"address": "veille@ars-bretagne.example"})
    assert r.status_code == 303
    assert "veille@ars-bretagne.example" in joined(admin.get("/admin/notifications").text)
    with notifier.uow() as uow:
        edits = uow.session.scalars(
            select(NotifierAudit).where(NotifierAudit.action == "address_book:update")
        ).all()
        assert [(e.subject, e.object_id) for e in edits][-2:] == [
            (ADMIN, "cpias-bre"),
            (ADMIN, "53"),
        ]
    assert admin.get("/admin/notifications/cpias/cpias-atlantide").status_code == 404
    assert admin.get("/admin/notifications/other/x").status_code == 404
    unknown = post_form(
        admin,
        "/admin/notifications/ars/99",
        {"address": "a@b.example"},
        page="/admin/notifications",
    )
    assert unknown.status_code == 404


def test_an_address_set_late_says_the_messages_it_now_receives(
    admin: TestClient, notifier: Notifier
) -> None:
    """An ARS without an address when a warning was due: setting one sends the warning there,
    and the page says so (the notifier is shared by the test's runs: a region still without
    an address is taken)."""
    with notifier.uow() as uow:
        held = {code for code, entry in uow.book.all_ars().items() if entry.address}
    region = next(code for code in reference().region_codes if code not in held)
    now = dt.datetime.now(dt.UTC)
    waiting = notification_request(
        NotificationKind.ack_overdue, cpias="cpias-bre", region_code=region, at=now
    )
    audiences = notifier.settings.audiences
    notifier_service.accept_request(
        notifier.uow(), str(uuid.uuid4()), waiting, audiences=audiences, now=now
    )
    r = post_form(admin, f"/admin/notifications/ars/{region}", {"address": "veille@ars.example"})
    assert r.status_code == 303 and "&sent=1#" in r.headers["location"]
    sent = joined(admin.get(r.headers["location"]).text)
    assert "et le courriel des 72 dernières heures resté sans adresse lui est envoyé." in sent


def test_the_notifier_down_is_said_on_the_page(database_url: str, key_file: Path) -> None:
    settings = portal_settings(
        database_url, key_file, notifier_url=f"http://127.0.0.1:{free_port()}"
    )
    app = create_app(settings, start_workers=False)
    with TestClient(app) as c:
        add_account(app, ADMIN, "admin")
        sign_in(c, ADMIN)
        page = c.get("/admin/notifications")
        assert page.status_code == 503 and "L’envoi des courriels ne répond pas" in page.text


# -- the messages of a declaration --------------------------------------------------------


def test_the_declarant_sees_the_messages_sent_about_the_declaration(
    app: FastAPI, intake: str, notifier: Notifier, tokens: Tokens
) -> None:
    created = httpx.post(
        f"{intake}/v1/declarations", json=make_declaration(), headers=tokens.headers()
    ).json()
    with TestClient(app) as c:
        add_account(app, LYON, finess="690781810")
        sign_in(c, LYON)
        before = c.get(f"/declarations/{created['id']}").text
        assert "Aucun courriel n’a encore été envoyé" in before
        notifier.deliver(NotificationKind.receipt, created["id"])
        notifier.deliver(NotificationKind.new_case, created["id"])
        page = c.get(f"/declarations/{created['id']}").text
    table = page.split('id="messages-table"')[1].split("</table>")[0]
    assert "Accusé de réception de la déclaration" in table and "Déclarant" in table
    assert "Alerte de nouveau cas" in table and "Équipe du CPias" in table
    assert table.count("Envoyé</p>") == 2 and "23/11/2026 à\u00a010\u00a0h\u00a000" in table
    # Kinds, audiences, statuses and dates: never an address nor a message's content.
    assert "equipe@cpias-ara.example" not in page


def test_the_declaration_page_stands_without_the_notifier(
    tmp_path: Path, key_file: Path, intake: str, tokens: Tokens, caplog: pytest.LogCaptureFixture
) -> None:
    created = httpx.post(
        f"{intake}/v1/declarations", json=make_declaration(), headers=tokens.headers()
    ).json()
    settings = portal_settings(
        f"sqlite:///{tmp_path}/p.db",
        key_file,
        intake_url=intake,
        notifier_url=f"http://127.0.0.1:{free_port()}",
    )
    app = create_app(settings, start_workers=False)
    caplog.set_level(logging.INFO)
    with TestClient(app) as c:
        add_account(app, LYON, finess="690781810")
        sign_in(c, LYON)
        page = c.get(f"/declarations/{created['id']}")
    assert page.status_code == 200 and "Suivi" in page.text
    assert "La liste des courriels n’est pas disponible" in page.text
    assert PASSWORD not in caplog.text


def test_a_disabled_account_is_refused_after_the_same_argon2_work(
    app: FastAPI,
) -> None:
    """The sign-in of a disabled account verifies the password all the same: its answer and
    its time say nothing of whether the password was right."""
    with TestClient(app):
        add_account(app, LYON, finess="690781810")
        portal = app.state.portal
        service.set_account_active(portal.uow(), LYON, active=False)
        calls: list[str] = []
        hasher = portal.hasher
        verify = hasher.verify
        hasher.verify = lambda stored, password: calls.append(password) or verify(stored, password)
        try:
            for password in (PASSWORD, "faux"):
                with pytest.raises(Exception, match="account disabled"):
                    service.sign_in(
                        portal.uow(), hasher, username=LYON, password=password, policy=portal.policy
                    )
        finally:
            hasher.verify = verify
        assert calls == [PASSWORD, "faux"]


def test_the_audit_filters_words_and_urls() -> None:
    from services.portal.domain.administration import (
        ACTION_GROUPS,
        AUDIT_ACTIONS,
        AuditQuery,
        object_label,
        reason_label,
    )

    assert sorted(a for codes in ACTION_GROUPS.values() for a in codes) == sorted(AUDIT_ACTIONS)
    # Every action a service writes in its audit log has its French words and its filter.
    written = {
        m.group(1)
        for path in Path("services").rglob("*.py")
        for m in re.finditer(r'audit\(\s*[^,()]+(?:\([^()]*\))?,\s*"([a-z_:]+)"', path.read_text())
    }
    assert {"submit", "read:figures", "account:password", "list"} <= written
    assert written <= set(AUDIT_ACTIONS), written - set(AUDIT_ACTIONS)
    query = AuditQuery(service="nowhere", subject=" x@y.fr ", outcome="maybe", page=3)
    assert (query.service, query.outcome, query.filters) == ("portal", "", {"subject": "x@y.fr"})
    assert query.url(1) == "/admin/audit?service=portal&subject=x%40y.fr"
    assert query.url(2).endswith("&page=2")
    assert query.summary == ["Qui : x@y.fr"]
    both = AuditQuery(action="account:disable", outcome="refused", object_id="c-1")
    assert both.summary == ["Action : Compte désactivé", "Résultat : Refusé", "Objet : c-1"]
    assert AuditQuery().summary == []
    assert reason_label("invalid_token: expired") == "jeton refusé (expired)"
    assert reason_label("account_disabled") == "compte désactivé"
    assert reason_label("something_new") == "something_new"
    regions = {"84": "Auvergne-Rhône-Alpes"}
    assert object_label("*", "address_book", regions) == ("Tout le carnet d’adresses", "")
    assert object_label("*", "thing", regions) == ("Tous", "thing")
    assert object_label("84", "declaration", regions) == (
        "Déclarations de la région",
        "Auvergne-Rhône-Alpes",
    )
    assert object_label("84", "account", regions) == ("84", "compte")
    assert object_label("*", "declaration", regions, "cpias_investigator") == (
        "Les déclarations de son périmètre",
        "",
    )
    assert object_label("*", "declaration", regions, "admin")[0] == "Toutes les déclarations"
    assert object_label("99", "case", regions) == ("99", "dossier")


@pytest.mark.parametrize(
    "url",
    [
        "/admin?reset=a%00b",
        "/admin/accounts/a%00b/disable",
        "/admin/audit?subject=%00",
        "/admin?page=1&done=%00",
        "/declarations/a%00b",
        "/cases/a%00b",
        "/declarations/new/a%00b/infection",
        "/ars/declarations?pathogen=%E2%80%AE",
    ],
)
def test_a_control_character_in_an_address_is_refused_with_a_page(
    admin: TestClient, url: str
) -> None:
    """A NUL or a bidirectional override in a path or a query is refused before any page reads
    it, as the services refuse it: the portal answers its own error page, saying why (it used
    to pass them on to its lookups, which found nothing)."""
    r = admin.get(url)
    assert r.status_code == 400, (url, r.status_code)
    assert r.headers["content-type"].startswith("text/html")
    assert "Demande illisible" in r.text and "caractère de contrôle" in r.text
