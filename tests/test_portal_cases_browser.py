"""The investigators' journeys in Debian's Chromium on the real stack (broker, intake, router,
cpias and the portal as processes): a new case appears in the queue without reloading, with
the title's count of new urgent cases; filters; a case opened, assigned to oneself,
acknowledged, a note with a NIR refused beside its field then a note kept, a cluster
suggestion confirmed, the case closed with its outcome, and the declarant's timeline showing
each move; the same with the keyboard only; without JavaScript; two CPias that never see each
other's cases. Every page is checked by axe-core and kept under .artifacts/screenshots/."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from schemas.typography import french_spacing_of
from tests.browser import Visit, eventually
from tests.conftest import Broker
from tests.factories import declaration_in, finess_in, make_declaration
from tests.pipeline import Pipeline
from tests.test_portal_browser import NIR, PASSWORD, add_user

pytestmark = pytest.mark.e2e

INES = "ines.moreau@cpias-ara.example"
PAUL = "paul.girard@cpias-ara.example"
YANN = "yann.kerouac@cpias-bre.example"
ADMIN = "admin@iaspipe.example"
LYON = "690781810"
URGENT = {"criteria": ["1a", "2", "3"], "infection__deaths": 1}
NOTE = "Appel de l’EOH : dépistage des contacts en cours,\n12 patients prélevés"  # two lines
NOTE_SHOWN = french_spacing_of(NOTE)  # as typed, its ":" held to its word as French prints it


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    broker = Broker()
    p = Pipeline(broker, tmp_path_factory.mktemp("cases-stack"), portal={"CASES_POLL_SECONDS": "2"})
    try:
        p.start("intake", "router", "cpias", "notifier")  # the declarant's "Courriels"
        p.start("portal")
        for email, name, cpias in (
            (INES, "Dr Inès Moreau", "cpias-ara"),
            (PAUL, "Paul Girard", "cpias-ara"),
            (YANN, "Yann Kerouac", "cpias-bre"),
        ):
            add_user(p, email, "--role", "cpias_investigator", "--cpias", cpias, "--name", name)
        add_user(p, ADMIN, "--role", "admin", "--name", "Hélène Garnier")
        add_user(
            p,
            "claire.martin@chu.example",
            "--role",
            "declarant",
            "--finess",
            LYON,
            "--name",
            "Dr Claire Martin",
        )
        yield p
    finally:
        p.stop_all()
        broker.stop()
        # Notes and the texts refused never reach a log.
        for name in ("portal", "cpias"):
            log = p.log_text(name)
            for secret in (PASSWORD, NIR, "dépistage des contacts", "Rappel du cadre"):
                assert secret not in log, name


def declare(p: Pipeline, body: dict[str, Any]) -> tuple[str, str]:
    """Send a declaration as its establishment does; (declaration id, reference)."""
    finess = body["establishment"]["finess"]
    r = p.post(
        "intake",
        "/v1/declarations",
        json=body,
        headers={
            **p.tokens.headers("declarant", finess=finess),
            "Idempotency-Key": str(uuid.uuid4()),
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()["reference"]


def case_of(p: Pipeline, declaration_id: str) -> str:
    """The case's id once cpias has opened it."""

    def opened() -> str | None:
        items = p.get("cpias", "/v1/cases", params={"declaration_id": declaration_id}).json()
        return items["items"][0]["id"] if items["items"] else None

    return str(eventually(opened, what="the case opened by cpias"))


def declare_case(p: Pipeline, body: dict[str, Any]) -> tuple[str, str]:
    """Declare, then wait for cpias to open the case: (case id, reference)."""
    declaration_id, reference = declare(p, body)
    return case_of(p, declaration_id), reference


def timeline(p: Pipeline, declaration_id: str) -> list[dict[str, Any]]:
    """The declarant's timeline, as intake shows it to the establishment."""
    view = p.get(
        "intake",
        f"/v1/declarations/{declaration_id}",
        headers=p.tokens.headers("declarant", finess=LYON),
    )
    assert view.status_code == 200, view.text
    return list(view.json()["timeline"])


def test_an_investigator_works_a_case_from_its_arrival_to_its_closing(
    browser: Any, stack: Pipeline
) -> None:
    base = stack.url("portal")
    v = Visit(browser, "dossiers")
    page = v.page
    # A case of the Isère, already in the queue: the rule will suggest it with the next one.
    _, isere = declare_case(stack, declaration_in("38"))
    v.sign_in(base, INES, PASSWORD)
    assert page.url == f"{base}/cases"
    assert isere in page.inner_text("#cases-table")
    assert page.title().startswith("Dossiers du CPias")
    v.look("file")

    # An urgent declaration arrives: it appears without reloading, and the title counts it.
    page.evaluate("window.stayedOnThePage = true")
    lyon_id, lyon = declare(stack, make_declaration(**URGENT))
    eventually(lambda: lyon in page.inner_text("#cases-results"), what="the new case shown")
    assert page.evaluate("window.stayedOnThePage") is True
    eventually(lambda: page.title().startswith("(1) Dossiers du CPias"), what="the title count")
    row = page.locator("tr", has_text=lyon)
    cells = row.text_content() or ""  # badges are shown in capitals
    assert "Nouveau" in cells and "Urgente" in cells
    assert "1 nouveau dossier depuis l’ouverture de la page" in page.inner_text("#fresh-cases")
    assert "dont 1 urgent" in page.inner_text("#cases-live")
    v.look("nouveau-dossier-urgent")

    # Filters, kept in the URL.
    page.fill("#f-q", lyon[-6:])
    page.select_option("#f-priority", "urgent")
    page.click("button:has-text('Filtrer')")
    assert f"q={lyon[-6:]}" in page.url and "priority=urgent" in page.url
    assert page.locator("#cases-table tbody tr").count() == 1
    v.look("file-filtree")

    page.click(f"a:has-text('{lyon}')")
    assert page.url.startswith(f"{base}/cases/")
    assert "Klebsiella pneumoniae" in page.inner_text("#section-infection")
    v.look("dossier")

    page.click("button:has-text('M’attribuer ce dossier')")
    assert "L’attribution du dossier est enregistrée." in page.inner_text("#notice")
    assert page.inner_text("#assignee") == "Dr Inès Moreau"
    page.click("button:has-text('Accuser réception et prendre en compte')")
    assert "Le dossier est maintenant «\u00a0Pris en compte\u00a0»" in page.inner_text("#notice")
    assert "Pris en compte" in (page.text_content(".portal-badges") or "")
    v.look("pris-en-compte")

    # A note holding a NIR is refused beside its field, with its article; then kept corrected.
    page.select_option("#f-note-kind", "call")
    page.fill("#f-note-text", f"Appel de l’EOH, patient {NIR}")
    page.click("button:has-text('Enregistrer la note')")
    message = v.described("#f-note-text")
    assert "numéro de sécurité sociale (NIR)" in message
    # The article is kept on one line, its words around it keep their spaces.
    assert "(article R1413-80)" in message
    v.look("note-refusee")
    page.fill("#f-note-text", NOTE)
    page.click("button:has-text('Enregistrer la note')")
    assert "La note est enregistrée." in page.inner_text("#notice")
    assert NOTE_SHOWN in v.laid_out("#notes-list") and NOTE_SHOWN != NOTE
    v.look("note-enregistree")

    # The cluster rule suggested the Isère case: confirmed, named.
    suggestion = page.locator("form", has_text=f"Dossier {isere}")
    suggestion.locator("input[name='name']").fill("OXA-48 Lyon-Isère, décembre")
    v.look("suggestion")
    suggestion.locator("button:has-text('Confirmer le regroupement')").click()
    assert "Le regroupement est confirmé." in page.inner_text("#notice")
    assert "OXA-48 Lyon-Isère, décembre" in page.inner_text("#cluster")
    assert isere in page.inner_text("#cluster-members")
    v.look("regroupement-confirme")

    page.click("button:has-text('Commencer l’investigation')")
    page.click("button:has-text('Passer en surveillance')")
    assert "Reprendre l’investigation" in page.inner_text("#move-form")
    # Closing without an outcome is refused beside the outcome; then closed.
    page.click("#close-form button:has-text('Clôturer le dossier')")
    assert "Choisissez l’issue du dossier" in page.inner_text("#f-move-closed-outcome-messages")
    v.look("cloture-sans-issue")
    page.click("label:has-text('Épisode maîtrisé')")
    page.click("#close-form button:has-text('Clôturer le dossier')")
    assert "Clôturé" in (page.text_content(".portal-badges") or "")
    assert "son statut ne change plus" in page.inner_text("main")
    history = page.inner_text("#history")
    for line in (
        "Attribué à Dr Inès Moreau",
        "Statut\u00a0: Pris en compte",
        "Note ajoutée",
        "Regroupement confirmé avec le dossier",
        "issue\u00a0: épisode maîtrisé",
    ):
        assert line in history, line
    v.look("cloture")

    # The e-mails sent about it: the team's alert at its opening (the notifier's list).
    def alert_listed() -> bool:
        page.reload()
        table = page.locator("#messages-table")
        return table.count() == 1 and "Alerte de nouveau cas\tÉquipe du CPias" in table.inner_text()

    eventually(alert_listed, what="the team's alert in the case's 'Courriels'")

    # The declarant's timeline follows every move (intake's answer, then the page).
    def followed() -> bool:
        kinds = [t["kind"] for t in timeline(stack, lyon_id)]
        return all(k in kinds for k in ("acknowledged", "investigating", "monitoring", "closed"))

    eventually(followed, what="every move on the declarant's timeline")
    closed = next(t for t in timeline(stack, lyon_id) if t["kind"] == "closed")
    assert closed["outcome"] == "controlled" and closed["cpias"] == "cpias-ara"
    v.close()

    d = Visit(browser, "dossiers-declarant")
    d.sign_in(base, "claire.martin@chu.example", PASSWORD)
    d.page.goto(f"{base}/declarations/{lyon_id}")
    steps = d.page.inner_text("#timeline")
    for label in (
        "Prise en compte par le CPias",
        "Investigation en cours",
        "En surveillance",
        "issue\u00a0: épisode maîtrisé",
    ):
        assert label in steps, label
    assert NOTE_SHOWN not in d.page.inner_text("main")  # notes stay the CPias's
    # The complement stays open, and says so.
    assert (
        "Le CPias a clôturé son dossier\u00a0: un complément reste possible"
        in d.page.inner_text("main")
    )
    d.look("suivi-du-declarant")
    d.close()


def test_the_whole_journey_with_the_keyboard_only(browser: Any, stack: Pipeline) -> None:
    base = stack.url("portal")
    case_id, reference = declare_case(stack, declaration_in("01"))
    v = Visit(browser, "dossiers-clavier")
    page, keys = v.page, v.page.keyboard
    v.sign_in_with_keys(base, PAUL, PASSWORD)
    assert page.url == f"{base}/cases"
    v.tab_to("#f-q")
    keys.type(reference)
    v.submit_with("Enter")
    assert "q=" in page.url
    # The filtered queue opens at its caption: the next Tab is in the list.
    page.wait_for_function("document.activeElement.id === 'resultats'", timeout=5000)
    assert "1 dossier" in page.inner_text("#resultats")
    v.look("file-filtree")
    v.tab_to(f"#cases-table a[href='/cases/{case_id}']")
    v.submit_with("Enter")
    assert reference in page.inner_text("h1")
    v.look("dossier")
    v.tab_to("#assign-me-form button")
    v.submit_with("Enter")
    assert page.inner_text("#assignee") == "Paul Girard"
    v.tab_to("#move-form button[value='acknowledged']")
    v.submit_with("Enter")
    assert "Pris en compte" in (page.text_content(".portal-badges") or "")
    v.tab_to("#f-note-kind")
    keys.type("Visite")
    assert page.locator("#f-note-kind").input_value() == "site_visit"
    v.tab_to("#f-note-text")
    keys.type("Visite du service le matin, rencontre avec l’équipe d’hygiène")
    v.tab_to("#note-form button[type='submit']")
    v.submit_with("Enter")
    assert "La note est enregistrée." in page.inner_text("#notice")
    assert page.inner_text("#notes-list .portal-note strong") == "Visite sur place"
    v.tab_to("#f-link-reference")
    keys.type("IAS-2026-84-999999")
    v.tab_to("#link-form button[type='submit']")
    v.submit_with("Enter")
    assert "Aucun dossier que vous puissiez lier ne porte cette référence" in v.described(
        "#f-link-reference"
    )
    # The refused form's field has the focus: typing corrects it at once.
    page.wait_for_function("document.activeElement.id === 'f-link-reference'", timeout=5000)
    v.look("lien-refuse")
    v.close()


def test_without_javascript(browser: Any, stack: Pipeline) -> None:
    base = stack.url("portal")
    _, reference = declare_case(stack, declaration_in("63"))
    v = Visit(browser, "dossiers-sans-js", javascript=False)
    page = v.page
    v.sign_in(base, INES, PASSWORD)
    page.select_option("#f-status", "new")
    page.fill("#f-q", reference)
    page.click("button:has-text('Filtrer')")
    assert page.locator("#cases-table tbody tr").count() == 1
    assert page.locator(".portal-live-hint").is_hidden()
    v.look("file")
    page.click(f"a:has-text('{reference}')")
    page.select_option("#f-assign-assignee", label="Paul Girard")
    page.click("#assign-form button")
    assert page.inner_text("#assignee") == "Paul Girard"
    page.select_option("#f-note-kind", "recommendation")
    page.fill("#f-note-text", "Rappel du cadre des précautions complémentaires contact")
    page.click("button:has-text('Enregistrer la note')")
    assert page.inner_text("#notes-list .portal-note strong") == "Recommandation"
    v.look("dossier")
    v.close()


def test_each_cpias_sees_only_its_own_cases(browser: Any, stack: Pipeline) -> None:
    base = stack.url("portal")
    ara_case, ara = declare_case(stack, declaration_in("42"))
    bre_case, bre = declare_case(
        stack,
        make_declaration(establishment__departement="29", establishment__finess=finess_in("29")),
    )

    v = Visit(browser, "dossiers-perimetre")
    page = v.page
    v.sign_in(base, YANN, PASSWORD)
    assert page.url == f"{base}/cases"
    queue = page.inner_text("#cases-results")
    assert bre in queue and ara not in queue and not re.search(r"IAS-\d{4}-84-", queue)
    assert "Paul Girard" not in page.inner_text("#f-assignee")
    v.look("file-bretagne")
    page.goto(f"{base}/cases/{ara_case}")
    assert "Page introuvable" in page.inner_text("h1")
    assert "ne relève pas de votre CPias" in page.inner_text("main")
    v.look("dossier-d-un-autre-cpias")
    page.goto(f"{base}/cases/{bre_case}")
    assert "Aucune suggestion en attente." in page.inner_text("main")
    assert "Inès Moreau" not in page.inner_text("#f-assign-assignee")
    page.goto(f"{base}/cases?q=IAS-2026-84")
    assert "Aucun dossier ne correspond à ces filtres" in page.inner_text("main")
    v.close()

    # An admin sees every CPias's cases, and which CPias each belongs to.
    a = Visit(browser, "dossiers-admin")
    a.sign_in(base, ADMIN, PASSWORD)
    a.page.goto(f"{base}/cases")
    queue = a.page.inner_text("#cases-table")
    assert ara in queue and bre in queue
    assert "Bretagne" in queue and "Auvergne-Rhône-Alpes" in queue
    a.look("file-toutes")
    a.page.goto(f"{base}/cases/{bre_case}")
    assert "Yann Kerouac" in a.page.inner_text("#f-assign-assignee")
    a.close()
