"""The administration in Debian's Chromium on the real stack (broker, intake, router, cpias,
the notifier and the portal as processes): an admin adds an investigator's account, disables
it (that person's open session ends, and they cannot sign in again), enables it, filters the
audit log, edits a CPias's address; a declarant sees the receipt listed on the declaration's
page; the same administration with the keyboard only. Every page is checked by axe-core and
kept as a screenshot under .artifacts/screenshots/ (prefix "admin")."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.browser import Visit, clear_screenshots, eventually
from tests.conftest import Broker
from tests.factories import make_declaration
from tests.pipeline import Pipeline
from tests.portal_support import PASSWORD, cli_user

pytestmark = pytest.mark.e2e

ADMIN = "admin@ars-ara.example"
LYON = "claire.martin@chu.example"
INVESTIGATOR = "paul.enqueteur@cpias-ara.example"
NEW_PASSWORD = "le mot de passe initial de Paul"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    broker = Broker()
    p = Pipeline(broker, tmp_path_factory.mktemp("admin-stack"))
    try:
        p.start("intake", "router", "cpias", "notifier")
        p.start("portal")
        env = p.env("portal")
        cli_user(env, ADMIN, "--role", "admin", "--name", "Alice Administratrice")
        cli_user(
            env, LYON, "--role", "declarant", "--finess", "690781810", "--name", "Dr Claire Martin"
        )
        clear_screenshots("admin")
        yield p
    finally:
        p.stop_all()
        broker.stop()
        # No password ever reaches a log.
        for name in ("portal", "notifier", "intake"):
            log = p.log_text(name)
            assert PASSWORD not in log and NEW_PASSWORD not in log


def row(v: Visit, email: str) -> Any:
    return v.page.locator(f"tr[data-email='{email}']")


def test_an_admin_manages_accounts_the_audit_log_and_the_addresses(
    browser: Any, stack: Pipeline
) -> None:
    base = stack.url("portal")
    v = Visit(browser, "admin-a")
    page = v.page
    v.sign_in(base, ADMIN, PASSWORD)
    assert page.url == f"{base}/admin"
    assert "Votre compte" in (row(v, ADMIN).text_content() or "")
    v.look("comptes")

    # A new investigator: the form says what is wrong beside each field first.
    page.fill("#f-email", INVESTIGATOR)
    page.click("label[for='f-role-2']")  # Enquêteur du CPias
    assert page.is_visible("#f-cpias") and not page.is_visible("#f-finess")
    page.fill("#f-password", NEW_PASSWORD)
    page.fill("#f-password-confirmation", "pas le même")
    page.click("button:has-text('Ajouter le compte')")
    assert "Choisissez un CPias pour le rôle" in page.inner_text("#f-cpias-messages")
    assert "ne sont pas identiques" in page.inner_text("#f-password-confirmation-messages")
    assert page.input_value("#f-email") == INVESTIGATOR and page.input_value("#f-password") == ""
    v.look("nouveau-compte-refuse")
    page.fill("#f-display-name", "Dr Paul Enquêteur")
    page.select_option("#f-cpias", "cpias-ara")
    page.fill("#f-password", NEW_PASSWORD)
    page.fill("#f-password-confirmation", NEW_PASSWORD)
    v.look("nouveau-compte-saisi")
    page.click("button:has-text('Ajouter le compte')")
    assert f"Le compte {INVESTIGATOR} est créé" in page.inner_text("#done")
    assert "CPias Auvergne-Rhône-Alpes" in (row(v, INVESTIGATOR).text_content() or "")
    v.look("compte-ajoute")

    # Paul signs in and reads; then his account is disabled: his open session ends.
    paul = Visit(browser, "admin-b")
    paul.sign_in(base, INVESTIGATOR, NEW_PASSWORD, next_url="/declarations")
    assert paul.page.url == f"{base}/declarations"
    row(v, INVESTIGATOR).locator("a:has-text('Désactiver')").click()
    # Nothing happens before the admin confirms, on a page that says what it does.
    assert page.inner_text("h1") == "Désactiver le compte du Dr Paul Enquêteur\u00a0?"
    assert "ses sessions ouvertes sont fermées" in page.inner_text("main")
    v.look("desactivation-a-confirmer")
    page.click("a:has-text('Annuler')")
    assert "Actif" in (row(v, INVESTIGATOR).text_content() or "")
    paul.page.reload()
    assert paul.page.url == f"{base}/declarations"
    row(v, INVESTIGATOR).locator("a:has-text('Désactiver')").click()
    page.click("button:has-text('Désactiver le compte')")
    assert f"Le compte {INVESTIGATOR} est désactivé" in page.inner_text("#done")
    assert "Désactivé" in (row(v, INVESTIGATOR).text_content() or "")
    v.look("compte-desactive")
    paul.page.reload()
    assert "/login" in paul.page.url
    paul.sign_in(base, INVESTIGATOR, NEW_PASSWORD)
    assert "Ce compte est désactivé" in paul.page.inner_text("main")
    paul.look("connexion-compte-desactive")

    row(v, INVESTIGATOR).locator("button:has-text('Réactiver')").click()
    assert f"Le compte {INVESTIGATOR} est réactivé" in page.inner_text("#done")
    v.look("compte-reactive")
    paul.sign_in(base, INVESTIGATOR, NEW_PASSWORD, next_url="/declarations")
    assert paul.page.url == f"{base}/declarations"
    paul.close()

    # The audit log, filtered: the disabling, then the refused sign-in.
    page.click("nav.fr-sidemenu a:has-text('Journal d’audit')")
    v.look("journal")
    page.select_option("#f-action", "account:disable")
    page.click("button:has-text('Filtrer')")
    assert "action=account%3Adisable" in page.url
    table = page.inner_text("#audit-table")
    assert INVESTIGATOR in table and ADMIN in table and "Compte désactivé" in table
    assert "Portail (Action\u00a0: Compte désactivé)\u00a0:" in page.inner_text(
        "#audit-table caption"
    )
    v.look("journal-filtre-desactivation")
    page.select_option("#f-action", "sign_in")
    page.select_option("#f-outcome", "refused")
    page.click("button:has-text('Filtrer')")
    assert "compte désactivé" in page.inner_text("#audit-table")
    v.look("journal-connexions-refusees")
    page.select_option("#f-service", "intake")
    page.select_option("#f-action", "")
    page.select_option("#f-outcome", "")
    page.click("button:has-text('Filtrer')")
    assert "Réception des déclarations" in page.inner_text("main")
    v.look("journal-intake")

    # The address book: a wrong address is shown beside its field, then corrected.
    page.click("nav.fr-sidemenu a:has-text('Adresses de notification')")
    v.look("adresses")
    page.click("a[href='/admin/notifications/cpias/cpias-bre']")
    page.fill("#f-address", "equipe@cpias-bre.example, autre@cpias-bre.example")
    page.click("label[for='f-non-urgent-2']")  # the daily digest
    page.click("button:has-text('Enregistrer')")
    assert "une seule adresse" in page.inner_text("#f-address-messages").lower()
    assert page.is_checked("#f-non-urgent-2")
    v.look("adresse-refusee")
    page.fill("#f-address", "signalement@cpias-bretagne.example")
    page.click("button:has-text('Enregistrer')")
    assert "signalement@cpias-bretagne.example" in page.inner_text("#done")
    assert "Un récapitulatif quotidien" in page.inner_text("#cpias-cpias-bre")
    assert "Modifiée par Alice Administratrice, le" in page.inner_text("#cpias-cpias-bre")
    v.look("adresse-enregistree")
    book = stack.get("notifier", "/v1/address-book").json()
    bre = next(c for c in book["cpias"] if c["cpias"] == "cpias-bre")
    assert (bre["address"], bre["non_urgent"], bre["updated_by"]) == (
        "signalement@cpias-bretagne.example",
        "digest",
        ADMIN,
    )
    v.close()


def test_a_declarant_sees_the_receipt_on_the_declarations_page(
    browser: Any, stack: Pipeline
) -> None:
    base = stack.url("portal")
    headers = stack.tokens.headers("declarant", finess="690781810", subject=LYON)
    created = httpx.post(
        f"{stack.url('intake')}/v1/declarations", json=make_declaration(), headers=headers
    )
    assert created.status_code == 201, created.text
    declaration_id = created.json()["id"]
    v = Visit(browser, "admin-c")
    v.sign_in(base, LYON, PASSWORD)
    v.page.goto(f"{base}/declarations/{declaration_id}")

    def receipt_sent() -> bool:
        v.page.reload()
        if not v.page.is_visible("#messages-table"):
            return False
        # Sent: its row has its sending time ("Envoyé le" heads the column either way).
        text = v.page.inner_text("#messages-table")
        return "Accusé de réception de la déclaration" in text and bool(
            re.search(r"\d{2}/\d{2}/\d{4} à\s\d{1,2}\sh\s\d{2}", text)
        )

    eventually(receipt_sent, what="the receipt listed as sent on the declaration's page")
    table = v.page.inner_text("#messages-table")
    assert "Déclarant" in table and re.search(r"\d{2}/\d{2}/\d{4} à\s\d{1,2}\sh\s\d{2}", table)
    v.page.locator("#messages").scroll_into_view_if_needed()
    v.look("declaration-courriels")
    # Not an admin: the administration is refused, in French.
    v.page.goto(f"{base}/admin")
    assert "Accès refusé" in v.page.inner_text("main")
    v.look("acces-refuse")
    v.close()


def choose(v: Visit, css: str, value: str, limit: int = 40) -> None:
    """Pick an option of a focused <select> with the arrow keys."""
    v.tab_to(css)
    for _ in range(limit):
        if v.page.input_value(css) == value:
            return
        v.page.keyboard.press("ArrowDown")
    raise AssertionError(f"{value} not reached in {css}")


def test_the_administration_with_the_keyboard_only(browser: Any, stack: Pipeline) -> None:
    base = stack.url("portal")
    v = Visit(browser, "admin-d")
    keyboard = v.page.keyboard
    v.page.goto(f"{base}/login")
    v.tab_to("#username")
    keyboard.type(ADMIN)
    v.tab_to("#password")
    keyboard.type(PASSWORD)
    v.submit_with("Enter")
    assert v.page.url == f"{base}/admin"

    email = "lecteur@ars-ara.example"
    v.tab_to("#f-email")
    keyboard.type(email)
    v.tab_to("input[name='role']")
    for _ in range(4):
        if v.focused("input[name='role'][value='ars_viewer']"):
            break
        keyboard.press("ArrowDown")
    assert v.page.is_checked("input[name='role'][value='ars_viewer']")
    choose(v, "#f-region", "84")
    v.tab_to("#f-password")
    keyboard.type(NEW_PASSWORD)
    v.tab_to("#f-password-confirmation")
    keyboard.type(NEW_PASSWORD)
    v.look("clavier-compte-saisi")
    v.submit_with("Enter")
    assert f"Le compte {email} est créé" in v.page.inner_text("#done")
    assert "Région Auvergne-Rhône-Alpes" in (row(v, email).text_content() or "")

    v.tab_to(f"tr[data-email='{email}'] a[href$='/disable']")
    v.submit_with("Enter")
    assert v.page.inner_text("h1") == f"Désactiver le compte {email}\u00a0?"
    v.tab_to("#disable-form button[type='submit']")
    v.submit_with("Enter")
    assert "Désactivé" in (row(v, email).text_content() or "")
    v.look("clavier-compte-desactive")

    # To the audit log by the side menu, a filter typed, sent with Enter.
    v.tab_to("nav.fr-sidemenu a[href='/admin/audit']")
    v.submit_with("Enter")
    v.tab_to("#f-subject")
    keyboard.type(ADMIN)
    v.submit_with("Enter")
    assert "subject=admin%40ars-ara.example" in v.page.url
    assert email in v.page.inner_text("#audit-table")
    v.look("clavier-journal")

    v.tab_to("nav.fr-sidemenu a[href='/admin/notifications']")
    v.submit_with("Enter")
    v.tab_to("a[href='/admin/notifications/ars/84']")
    v.submit_with("Enter")
    v.tab_to("#f-address")
    keyboard.press("Control+A")
    keyboard.type("veille@ars-ara.example")
    v.submit_with("Enter")
    assert "veille@ars-ara.example" in v.page.inner_text("#ars-84")
    v.look("clavier-adresse-enregistree")
    v.close()


def test_the_accounts_page_without_javascript(browser: Any, stack: Pipeline) -> None:
    """Every scope field is shown, each with its role; adding works by posting the form."""
    base = stack.url("portal")
    v = Visit(browser, "admin-e", javascript=False)
    v.sign_in(base, ADMIN, PASSWORD)
    for field in ("#f-finess", "#f-cpias", "#f-region"):
        assert v.page.is_visible(field)
    v.page.fill("#f-email", "sans.script@chu.example")
    v.page.click("label[for='f-role-1']")  # Déclarant: the DSFR hides the input behind its label
    assert v.page.is_checked("input[name='role'][value='declarant']")
    v.page.fill("#f-finess", "690781810")
    v.page.fill("#f-password", NEW_PASSWORD)
    v.page.fill("#f-password-confirmation", NEW_PASSWORD)
    v.page.click("button:has-text('Ajouter le compte')")
    assert "Le compte sans.script@chu.example est créé" in v.page.inner_text("#done")
    v.look("sans-javascript")
    v.close()
