"""Whole journeys in Debian's Chromium on the real stack (broker, intake, router, cpias and the
portal as processes): sign in, declare, see a FINESS that is not the département's refused
when the first step is left, a NIR typed in a free text and an onset after the detection
refused beside their fields when the infection's step is left, intake's refusal of criterion
3 without a death on the review page and beside its field, correct them, get a reference,
follow the timeline to
"received by the CPias", add a complement; the same with the keyboard only, and without
JavaScript. Every page is checked by axe-core and kept as a screenshot under
.artifacts/screenshots/."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from services.portal.domain import form
from tests.browser import Visit, eventually
from tests.conftest import Broker
from tests.factories import make_declaration
from tests.pipeline import Pipeline

pytestmark = pytest.mark.e2e

PASSWORD = "un mot de passe de test assez long"
LYON = "claire.martin@chu.example"
BREST = "direction@ehpad.example"
NIR = "1 84 12 76 451 089 " + f"{97 - 1841276451089 % 97:02d}"
REFERENCE = re.compile(r"IAS-\d{4}-\d{2}-\d{6}")


def add_user(p: Pipeline, email: str, *args: str) -> None:
    env = {**os.environ, **p.env("portal")}
    r = subprocess.run(
        [sys.executable, "-m", "cli", "users", "add", email, *args],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    broker = Broker()
    p = Pipeline(broker, tmp_path_factory.mktemp("portal-stack"), portal={"LOCKOUT_FAILURES": "3"})
    try:
        p.start("intake", "router", "cpias", "notifier")  # the notifier: "Courriels"
        p.start("portal")
        add_user(
            p, LYON, "--role", "declarant", "--finess", "690781810", "--name", "Dr Claire Martin"
        )
        add_user(p, BREST, "--role", "declarant", "--finess", "290000017", "--name", "Anne Le Goff")
        yield p
    finally:
        p.stop_all()
        broker.stop()
        log = p.log_text("portal")
        # Nothing typed in a form, no password, ever reaches the logs.
        for secret in (PASSWORD, "chambres voisines", NIR, "Transmission croisée", "Le Goff"):
            assert secret not in log


def step(v: Visit, data: form.FormData, name: str) -> None:
    """Fill the step shown with `data`, look at it, go on."""
    slug = v.page.url.rsplit("/", 1)[1].split("#")[0]
    s = form.step(slug)
    assert s is not None, v.page.url
    v.fill(form.names_of(s, data), data)
    v.look(name)
    v.page.click("form button.fr-btn:has-text('Continuer')")


def reveals(v: Visit, label: str, field: str, name: str) -> None:
    """Ticking `label` shows `field` at once (JavaScript), looked at as `name`; unticking it
    hides the field again."""
    v.page.click(f"label:has-text('{label}')")
    assert v.page.is_visible(field)
    v.look(name)
    v.page.click(f"label:has-text('{label}')")
    assert not v.page.is_visible(field)


def test_declare_correct_follow_and_complement(browser: Any, stack: Pipeline) -> None:
    base = stack.url("portal")
    v = Visit(browser, "parcours")
    page = v.page
    page.goto(f"{base}/login")
    v.look("connexion")
    v.sign_in(base, LYON, PASSWORD)
    assert page.url == f"{base}/declarations"
    v.look("mes-declarations-vide")
    page.click("main a:has-text('Nouvelle déclaration')")
    v.look("nouvelle-declaration")
    page.click("button:has-text('Commencer une nouvelle déclaration')")

    data = form.from_body(
        make_declaration(
            establishment__departement="38",  # not the département of FINESS 690781810
            infection__circumstances=f"Deux patients, chambres voisines ; patient {NIR}",
            infection__onset_date="2026-11-14",  # after the detection, on 12/11
            criteria=["1a", "2", "3"],  # 3°, a death, while no death is counted
            initial_measures="",  # required: said when its step is left
        )
    )
    step(v, data, "etape-1-etablissement")

    # The FINESS of another département is said when the step is left, beside both fields.
    assert page.url.endswith("/etablissement#problems")
    summary = page.inner_text("#problems")
    assert "n’est pas celui d’un établissement du département 38 — Isère" in summary
    for name in ("finess", "departement"):
        field = page.locator(f"#f-establishment-{name}")
        assert field.get_attribute("aria-invalid") == "true", name
    v.look("etape-1-erreur-finess")
    page.select_option("[name='establishment.departement']", "69")
    page.click("form button.fr-btn:has-text('Continuer')")
    assert page.url.rsplit("/", 1)[1].startswith("criteres")
    # Criterion 4 shows the notifiable disease at once (JavaScript), and hides it again.
    reveals(
        v,
        "4° — Maladie à déclaration obligatoire",
        "select[name='infection.notifiable_disease']",
        "etape-2-critere-4",
    )
    step(v, data, "etape-2-criteres")
    page.click("button:has-text('Ajouter un micro-organisme')")
    assert page.is_visible("input[name='infection.pathogens[1].species']")
    step(v, data, "etape-3-infection")

    # The NIR, the onset after the detection and criterion 3 without a death (ticked on the
    # step before) are said when the infection's step is left, each beside its field, and the
    # step stays.
    assert page.url.endswith("/infection#problems")
    summary = page.inner_text("#problems")
    assert "numéro de sécurité sociale (NIR)" in summary and "R1413-80" in summary
    assert (
        "Date de début des signes\u00a0: la date de début ne peut pas être postérieure" in summary
    )
    assert (
        "Nombre de décès\u00a0: le critère 3 (décès) suppose au moins un décès déclaré\u00a0; "
        "indiquez le nombre de décès, ou retirez le critère 3" in summary
    )
    for dom_id, words in (
        ("f-infection-circumstances", "numéro de sécurité sociale (NIR)"),
        ("f-infection-onset-date", "postérieure à la date de détection"),
        ("f-infection-deaths", "suppose au moins un décès"),
    ):
        assert words in v.described(f"#{dom_id}"), dom_id
    v.look("etape-3-erreurs-nir-et-date")
    page.fill("#f-infection-circumstances", "Deux patients, chambres voisines")
    page.fill("#f-infection-onset-date", "2026-11-10")
    page.fill("#f-infection-deaths", "1")
    page.click("form button.fr-btn:has-text('Continuer')")
    assert page.url.rsplit("/", 1)[1].startswith("produits")
    reveals(v, "Médicament", "textarea[name='products.drug.description']", "etape-4-produit-coche")
    step(v, data, "etape-4-produits")
    step(v, data, "etape-5-mesures")

    # A required answer left empty is said when its step is left, beside its field.
    assert page.url.endswith("/mesures#problems")
    summary = page.inner_text("#problems")
    assert "Premières mesures prises\u00a0: renseignez ce champ obligatoire" in summary
    page.click("#problems a")
    assert page.url.endswith("/mesures#f-initial-measures")
    field = page.locator("#f-initial-measures")
    assert field.get_attribute("aria-invalid") == "true"
    v.look("etape-5-erreur-mesures")
    page.fill("#f-initial-measures", "Précautions contact renforcées")
    page.click("form button.fr-btn:has-text('Continuer')")
    assert page.url.rsplit("/", 1)[1].startswith("verification")
    assert "point à corriger" not in page.inner_text("main")
    v.look("verification")
    page.click("button:has-text('Envoyer la déclaration')")

    reference = REFERENCE.search(page.inner_text("#sent"))
    assert reference, page.inner_text("main")
    v.look("declaration-envoyee")
    page.click("a:has-text('Suivre cette déclaration')")

    def followed() -> bool:
        page.reload()
        timeline = page.inner_text("#timeline")
        return "Transmise aux destinataires" in timeline and "Reçue par le CPias" in timeline

    eventually(followed, what="routed, then received by the CPias, on the timeline")
    timeline = page.inner_text("#timeline")
    assert "ARS Auvergne-Rhône-Alpes" in timeline and "Santé publique France" in timeline
    v.look("suivi-recue-par-le-cpias")

    # The investigator acknowledges the case in the CPias service: the declarant sees it.
    declaration_id = page.url.rsplit("/", 1)[1]
    investigator = stack.tokens.headers("cpias_investigator", cpias="cpias-ara")
    cases = stack.get(
        "cpias", "/v1/cases", params={"declaration_id": declaration_id}, headers=investigator
    ).json()["items"]
    moved = stack.post(
        "cpias",
        f"/v1/cases/{cases[0]['id']}/transitions",
        json={"to": "acknowledged"},
        headers=investigator,
    )
    assert moved.status_code == 200, moved.text

    def acknowledged() -> bool:
        page.reload()
        return "Prise en compte par le CPias" in page.inner_text("#timeline")

    eventually(acknowledged, what="acknowledged on the timeline")
    assert "Prise en compte" in (page.text_content(".fr-badge") or "")
    v.look("suivi-prise-en-compte")

    # Two lines: the browser sends them with CR LF, which is a line break, not a control
    # character.
    page.fill(
        "textarea[name='cause_analysis']",
        "Transmission croisée par les mains\nDéfaut d’observance la nuit",
    )
    page.fill("input[name='action_plan[0].action']", "Audit de l’hygiène des mains")
    page.click("button:has-text('Ajouter une action')")
    page.fill("input[name='action_plan[1].action']", "Formation par Mme Durand")
    page.fill("input[name='action_plan[1].due_date']", "2027-03-31")
    # A text that seems to name someone is said beside it before anything is sent.
    page.click("button:has-text('Envoyer le complément')")
    assert "Il n’est pas encore envoyé" in page.inner_text("#warnings")
    assert "semble contenir le nom d’une personne" in page.inner_text(
        "#f-complement-action-plan-1-action-messages"
    )
    v.look("complement-a-verifier")
    page.click("#warnings a")  # the warning leads to its field
    assert page.evaluate("document.activeElement.id") == "f-complement-action-plan-1-action"
    page.fill("input[name='action_plan[1].action']", "Formation des équipes de nuit")
    # A line added by mistake is removed; the lines typed before keep their text.
    page.click("button:has-text('Ajouter une action')")
    page.fill("input[name='action_plan[2].action']", "Ligne ajoutée par erreur")
    page.click("button:has-text('Retirer l’action 3')")
    assert page.locator("input[name='action_plan[2].action']").count() == 0
    kept = page.input_value("input[name='action_plan[1].action']")
    assert kept == "Formation des équipes de nuit"
    v.look("complement-saisi")
    page.click("button:has-text('Envoyer le complément')")
    assert "Votre complément est enregistré" in page.inner_text("#complement-sent")
    assert "Complément envoyé" in page.inner_text("#timeline")
    assert "échéance le 31/03/2027" in page.inner_text("main")
    lines = v.laid_out("main")
    assert "Transmission croisée par les mains\nDéfaut d’observance la nuit" in lines
    v.look("complement-envoye")

    def complement_announced() -> bool:  # the CPias team is told by e-mail (the notifier)
        page.reload()
        return "Avis de complément reçu\tÉquipe du CPias" in page.inner_text("#messages-table")

    eventually(complement_announced, what="the complement's e-mail in 'Courriels'")

    page.click("nav a:has-text('Mes déclarations')")
    row = page.locator("tr", has_text=reference.group(0))
    assert "Prise en compte" in (row.text_content() or "")
    v.look("mes-declarations")
    page.click("button:has-text('Se déconnecter')")
    assert "Déconnexion effectuée." in page.inner_text("main")
    v.look("deconnecte")
    page.goto(f"{base}/declarations")
    assert "/login" in page.url
    v.close()


def test_the_whole_journey_with_the_keyboard_only(browser: Any, stack: Pipeline) -> None:
    base = stack.url("portal")
    v = Visit(browser, "clavier")
    page = v.page
    v.sign_in_with_keys(base, LYON, PASSWORD)
    assert page.url == f"{base}/declarations"
    v.tab_to("a[href='/declarations/new']")
    v.submit_with("Enter")
    assert page.url == f"{base}/declarations/new"
    v.tab_to("form[action='/declarations/new'] button")
    v.submit_with("Enter")
    assert page.url.endswith("/etablissement")

    data = form.from_body(make_declaration())
    for s in form.STEPS:
        v.key_fill(form.names_of(s, data), data)
        v.look(f"etape-{s.slug}")
        v.tab_to("form button.fr-btn[value='next']")
        v.submit_with("Enter")
    assert page.url.endswith("/verification"), page.url
    v.look("verification")
    v.tab_to("form[action$='/submit'] button")
    v.submit_with("Enter")
    assert page.url.endswith("/sent")
    assert REFERENCE.search(page.inner_text("#sent"))
    v.look("envoyee")
    v.close()


def test_enter_in_a_field_goes_on_to_the_next_step(browser: Any, stack: Pipeline) -> None:
    v = Visit(browser, "entree")
    base = stack.url("portal")
    v.sign_in(base, LYON, PASSWORD)
    v.page.goto(f"{base}/declarations/new")
    v.page.click("button:has-text('Commencer une nouvelle déclaration')")
    data = form.from_body(make_declaration(establishment__name=""))
    v.fill(form.names_of(form.STEPS[0], data), data)
    v.tab_to("[name='establishment.name']")
    v.page.keyboard.type("CHU Exemple")
    v.submit_with("Enter")
    assert v.page.url.endswith("/criteres")
    v.close()


def test_a_phone_without_javascript_reaches_the_menu_and_signs_out(
    browser: Any, stack: Pipeline
) -> None:
    """At 375 px the DSFR opens the header's menu with its script: without it, the menu and
    "Se déconnecter" are shown in place (nojs.css), and they work."""
    base = stack.url("portal")
    v = Visit(browser, "telephone-sans-js", javascript=False, width=375)
    page = v.page
    v.sign_in(base, BREST, PASSWORD)
    # The click returns once the next page is asked for: wait until it and its styles are in.
    page.wait_for_url(f"{base}/declarations")
    page.wait_for_load_state("load")
    page.wait_for_selector("#header-menu-button", state="hidden", timeout=10_000)
    nav = page.locator("#header-navigation")
    assert nav.is_visible() and nav.locator("a:has-text('Nouvelle déclaration')").is_visible()
    v.look("menu")
    # Nothing sticks out sideways: the page does not scroll horizontally.
    overflow = page.evaluate(
        """() => [document.documentElement.scrollWidth - innerWidth,
                 [...document.querySelectorAll('body *')]
                   .filter(e => e.getBoundingClientRect().right > innerWidth + 0.5)
                   .map(e => e.tagName + '.' + e.className + ' ' + e.getBoundingClientRect().right)
                   .slice(0, 8)]"""
    )
    assert overflow[0] <= 0, overflow
    nav.locator("a:has-text('Nouvelle déclaration')").click()
    page.wait_for_url(f"{base}/declarations/new")
    page.click("button:has-text('Se déconnecter')")
    page.wait_for_url(f"{base}/login**")
    v.close()


def test_without_javascript(browser: Any, stack: Pipeline) -> None:
    """Criterion 4 and a product reveal their fields after "Continuer"; everything works."""
    base = stack.url("portal")
    v = Visit(browser, "sans-js", javascript=False)
    page = v.page
    v.sign_in(base, BREST, PASSWORD)
    page.goto(f"{base}/declarations/new")
    page.click("button:has-text('Commencer une nouvelle déclaration')")
    body = make_declaration(
        "legionella_death_ehpad_brest",
        products__medical_device={
            "description": "Pommeau de douche, lot 2231",
            "already_declared": False,
        },
    )
    data = form.from_body(body)
    step(v, data, "etape-1")
    # The disease list is not on the page until criterion 4 is sent.
    assert not page.is_visible("select[name='infection.notifiable_disease']")
    page.click("label:has-text('3° — Décès')")
    page.click("label:has-text('4° — Maladie à déclaration obligatoire')")
    page.click("form button.fr-btn:has-text('Continuer')")
    assert page.url.endswith("/criteres#reveal-f-criteria-4")
    assert page.is_visible("select[name='infection.notifiable_disease']")
    page.select_option("select[name='infection.notifiable_disease']", "legionellosis")
    v.look("critere-4-revele")
    page.click("form button.fr-btn:has-text('Continuer')")
    step(v, data, "infection")
    page.click("label:has-text('Dispositif médical')")
    page.click("form button.fr-btn:has-text('Continuer')")
    assert page.is_visible("textarea[name='products.medical_device.description']")
    page.fill("textarea[name='products.medical_device.description']", "Pommeau de douche, lot 2231")
    v.look("produit-revele")
    page.click("form button.fr-btn:has-text('Continuer')")
    step(v, data, "mesures")
    reminders = page.inner_text("#obligations")
    assert "L3113-1" in reminders and "R1413-68" in reminders and "L5212-2" in reminders
    v.look("verification")
    page.click("button:has-text('Envoyer la déclaration')")
    assert REFERENCE.search(page.inner_text("#sent"))
    v.look("envoyee")
    v.close()


def test_refusals_and_errors_are_said_in_french(browser: Any, stack: Pipeline) -> None:
    base = stack.url("portal")
    v = Visit(browser, "refus")
    page = v.page
    for attempt in range(3):
        page.goto(f"{base}/login")
        page.fill("#username", "inconnu@chu.example")
        page.fill("#password", "pas le bon")
        page.click("button:has-text('Se connecter')")
        if attempt == 0:
            assert "Adresse électronique ou mot de passe incorrect." in page.inner_text(
                "#login-error"
            )
            v.look("identifiants-incorrects")
    # The lock-out is the account's, not the password's: said above the form.
    assert "réessayez dans 15 minutes" in page.inner_text("#login-alert")
    v.look("connexion-bloquee")
    v.sign_in(base, LYON, PASSWORD)
    page.goto(f"{base}/declarations/00000000-0000-0000-0000-000000000000")
    assert "Page introuvable" in page.inner_text("h1")
    v.look("introuvable")
    # The footer's statements, on every page, signed in or not.
    page.click("footer a:has-text('Accessibilité : non conforme')")
    assert page.inner_text("h1") == "Déclaration d’accessibilité"
    v.look("accessibilite")
    page.click("footer a:has-text('Données personnelles')")
    assert page.inner_text("h1") == "Données personnelles"
    v.look("donnees-personnelles")
    page.click("footer a:has-text('Mentions légales')")
    assert page.inner_text("h1") == "Mentions légales"
    v.look("mentions-legales")
    v.close()
