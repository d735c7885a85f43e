"""The portal's pages in-process, with intake served over real HTTP (workers off): sign-in,
lock-out, sessions, CSRF, the form, retries, problems beside their fields. The portal's
tables run on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import html
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from markupsafe import Markup
from sqlalchemy import update

from iaspipe.auth import AuthSettings
from schemas.reference import french_moment
from services.intake.app import create_app as intake_app
from services.intake.settings import IntakeSettings
from services.portal.adapters.orm import SessionRow
from services.portal.app import create_app
from services.portal.domain import form
from services.portal.settings import PortalSettings
from tests.events import route_stored
from tests.factories import community_declaration, make_declaration
from tests.portal_support import (
    PASSWORD,
    add_account,
    csrf_of,
    fill_steps,
    post_form,
    post_step,
    served,
    sign_in,
    start_draft,
    text_of,
)
from tests.tokens import Tokens

LYON = "claire.martin@chu.example"


@pytest.fixture(scope="module")
def intake_service(tmp_path_factory: pytest.TempPathFactory, key_file: Path) -> FastAPI:
    tmp = tmp_path_factory.mktemp("intake")
    settings = IntakeSettings(
        database_url=f"sqlite:///{tmp}/intake.db",
        auth=AuthSettings(local_key_file=key_file),
        submit_rate_limit="1000/minute",
    )
    return intake_app(settings, start_workers=False)


@pytest.fixture(scope="module")
def intake(intake_service: FastAPI) -> Iterator[str]:
    with served(intake_service) as url:
        yield url


class Flaky(httpx.BaseTransport):
    """Real HTTP to intake; `lose_next` drops the next answer after intake has handled the
    request (as a network cut would), `down` refuses to connect at all."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.lose_next = False
        self.refuse_next = False  # the next request does not reach intake
        self.down = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.down or self.refuse_next:
            self.refuse_next = False
            raise httpx.ConnectError("refused", request=request)
        response = self.inner.handle_request(request)
        if self.lose_next:
            self.lose_next = False
            response.read()
            raise httpx.ReadTimeout("answer lost", request=request)
        return response


def portal_settings(database_url: str, key_file: Path, intake: str, **kw: Any) -> PortalSettings:
    return PortalSettings(
        database_url=database_url,
        auth=AuthSettings(local_key_file=key_file),
        intake_url=intake,
        **kw,
    )


@pytest.fixture
def network() -> Flaky:
    return Flaky()


@pytest.fixture
def app(database_url: str, key_file: Path, intake: str, network: Flaky) -> FastAPI:
    settings = portal_settings(database_url, key_file, intake, lockout_failures=3)
    return create_app(settings, start_workers=False, api_transport=network)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        add_account(app, LYON, finess="690781810")
        yield c


@pytest.fixture
def signed_in(client: TestClient) -> TestClient:
    assert sign_in(client, LYON).status_code == 200
    return client


def declarations_in_intake(intake: str, tokens: Tokens, reference: str) -> int:
    page = httpx.get(f"{intake}/v1/declarations", params={"limit": 200}, headers=tokens.headers())
    return sum(1 for d in page.json()["items"] if d["reference"] == reference)


# -- sign-in -------------------------------------------------------------------------------


def test_the_statements_are_open_to_all_and_say_the_settings(
    database_url: str, key_file: Path, intake: str
) -> None:
    """The accessibility statement, the personal data page and the legal notice need no
    sign-in, every page's footer links to them, and their figures are the portal's settings."""
    settings = portal_settings(
        database_url,
        key_file,
        intake,
        contact="accessibilite@ars.example",
        session_hours=10,
        session_idle_minutes=45,
        draft_retention_days=14,
    )
    with TestClient(create_app(settings, start_workers=False)) as anyone:
        login = anyone.get("/login").text
        assert 'href="/accessibilite">Accessibilité\u00a0: non conforme</a>' in login
        assert 'href="/donnees-personnelles">Données personnelles</a>' in login
        statement = anyone.get("/accessibilite")
        assert statement.status_code == 200
        assert "<strong>non conforme</strong>" in statement.text
        assert 'href="mailto:accessibilite@ars.example"' in statement.text
        data = anyone.get("/donnees-personnelles")
        assert data.status_code == 200
        text = html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", data.text)))
        for said in ("au plus 10 heures", "après 45 minutes", "après 14 jours", "argon2", "CNIL"):
            assert said in text, said
        assert 'href="mailto:accessibilite@ars.example"' in data.text
        for said in (
            "Le responsable du traitement est l’organisme qui exploite cette plateforme ; pour "
            "le joindre, écrivez à accessibilite@ars.example",
            "gardés le temps que fixe le responsable du traitement ; demandez-le à",
        ):
            assert said in text, said
        assert "délégué à la protection des données" not in text.lower()
        # The legal notice: the operator's words where it gave them, a general sentence where
        # it did not, and a way to write to it either way.
        assert 'href="/mentions-legales">Mentions légales</a>' in login
        notice = anyone.get("/mentions-legales")
        assert notice.status_code == 200
        assert "L’organisme qui exploite cette plateforme" in notice.text
        assert 'href="mailto:accessibilite@ars.example"' in notice.text
    named = settings.model_copy(
        update={
            "publisher": "ARS Exemple, 1 rue de la Santé, 69000 Lyon",
            "hosting": "Hébergeur HDS",
        }
    )
    with TestClient(create_app(named, start_workers=False)) as anyone:
        notice = anyone.get("/mentions-legales").text
        assert "ARS Exemple, 1 rue de la Santé, 69000 Lyon" in notice
        assert "Hébergeur HDS" in notice and "L’organisme qui exploite" not in notice
        assert "Le représentant légal de l’éditeur." in notice
    controlled = settings.model_copy(
        update={
            "data_controller": "ARS Exemple, 1 rue de la Santé, 69000 Lyon",
            "dpo_address": "dpo@ars.example",
            "records_retention": "dix ans après leur clôture",
        }
    )
    with TestClient(create_app(controlled, start_workers=False)) as anyone:
        data = anyone.get("/donnees-personnelles").text
        text = html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", data)))
        assert "Responsable du traitement : ARS Exemple, 1 rue de la Santé, 69000 Lyon." in text
        assert "Délégué à la protection des données : dpo@ars.example." in text
        assert "le journal des actions sont gardés dix ans après leur clôture." in text
        # Rights are asked of the data protection officer.
        assert 'en vous adressant à <a href="mailto:dpo@ars.example">' in data
        assert "mailto:accessibilite@ars.example" not in data


def test_sign_in_sets_an_http_only_same_site_cookie(client: TestClient) -> None:
    token = csrf_of(client.get("/login"))
    r = client.post(
        "/login",
        data={"username": LYON, "password": PASSWORD, "csrf_token": token, "next": "/declarations"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/declarations"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("portal_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    page = client.get("/declarations")
    assert page.status_code == 200 and "Mes déclarations" in page.text


def test_cookie_is_secure_when_served_over_https(app: FastAPI) -> None:
    with TestClient(app, base_url="https://portal.example") as c:
        add_account(app, "https@chu.example", finess="690781810")
        token = csrf_of(c.get("/login"))
        r = c.post(
            "/login",
            data={"username": "https@chu.example", "password": PASSWORD, "csrf_token": token},
            follow_redirects=False,
        )
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("portal_session="))
    assert "Secure" in cookie


def test_same_answer_for_an_unknown_user_and_a_wrong_password(client: TestClient) -> None:
    wrong = sign_in(client, LYON, "pas le bon mot de passe")
    unknown = sign_in(client, "personne@chu.example", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    message = "Adresse électronique ou mot de passe incorrect."
    assert message in wrong.text and message in unknown.text
    # Said beside the credentials typed, not above the form as an account's refusal.
    assert 'id="login-error"' in wrong.text and 'id="login-alert"' not in wrong.text


def test_a_username_no_account_could_have_is_a_failed_sign_in(client: TestClient) -> None:
    """A NUL (which PostgreSQL refuses to store), a control character or 100 KB: the same
    answer as a wrong password, nothing kept."""
    for username in ("claire\x00@chu.example", "claire\x1b@chu.example", "a" * 100_000):
        r = sign_in(client, username)
        assert r.status_code == 401 and "Adresse électronique ou mot de passe incorrect." in r.text


def test_repeated_failures_lock_the_username_even_with_the_right_password(
    client: TestClient,
) -> None:
    for _ in range(2):
        assert sign_in(client, LYON, "faux").status_code == 401
    third = sign_in(client, LYON, "faux")
    assert third.status_code == 429 and "réessayez dans 15 minutes" in third.text
    right = sign_in(client, LYON, PASSWORD)
    assert right.status_code == 429
    assert "portal_session" not in client.cookies
    # An unknown username locks the same way: the answers never tell which ones exist.
    for _ in range(3):
        last = sign_in(client, "inconnu@chu.example", "faux")
    assert last.status_code == 429


def test_the_lock_ends_after_its_minutes(client: TestClient, app: FastAPI) -> None:
    for _ in range(3):
        sign_in(client, LYON, "faux")
    from services.portal.adapters.orm import LoginAttemptRow

    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    with app.state.portal.uow() as uow:
        uow.session.execute(update(LoginAttemptRow).values(locked_until=past))
        uow.commit()
    assert sign_in(client, LYON).status_code == 200


def test_sign_in_needs_the_forms_token(client: TestClient) -> None:
    r = client.post("/login", data={"username": LYON, "password": PASSWORD})
    assert r.status_code == 400 and "portal_session" not in client.cookies


def test_sign_out_revokes_the_session(signed_in: TestClient) -> None:
    cookie = signed_in.cookies["portal_session"]
    page = signed_in.get("/declarations")
    r = signed_in.post("/logout", data={"csrf_token": csrf_of(page)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?info=signed_out"
    signed_in.cookies.set("portal_session", cookie)
    again = signed_in.get("/declarations", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/login")


def test_every_form_post_needs_its_csrf_token(signed_in: TestClient) -> None:
    assert signed_in.post("/declarations/new", data={}).status_code == 403
    assert signed_in.post("/declarations/new", data={"csrf_token": "x"}).status_code == 403
    assert signed_in.post("/logout", data={}).status_code == 403


def test_an_expired_session_asks_to_sign_in_again(signed_in: TestClient, app: FastAPI) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    with app.state.portal.uow() as uow:
        uow.session.execute(update(SessionRow).values(expires_at=past))
        uow.commit()
    r = signed_in.get("/declarations", follow_redirects=False)
    assert r.headers["location"] == "/login?next=%2Fdeclarations"


def test_an_idle_session_expires(client: TestClient, app: FastAPI) -> None:
    sign_in(client, LYON)
    idle = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    with app.state.portal.uow() as uow:
        uow.session.execute(update(SessionRow).values(last_seen_at=idle))
        uow.commit()
    assert client.get("/declarations", follow_redirects=False).status_code == 303


def test_a_page_typed_when_the_session_expired_is_kept(signed_in: TestClient, app: FastAPI) -> None:
    draft = start_draft(signed_in)
    url = f"/declarations/new/{draft}/mesures"
    token = csrf_of(signed_in.get(url))
    with app.state.portal.uow() as uow:
        uow.session.execute(update(SessionRow).values(expires_at=dt.datetime.now(dt.UTC)))
        uow.commit()
    r = signed_in.post(
        url,
        data={"investigations": "Dépistage en cours", "csrf_token": token, "action": "next"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert (
        r.headers["location"]
        == f"/login?next=%2Fdeclarations%2Fnew%2F{draft}%2Fmesures&info=expired"
    )
    login = signed_in.get(r.headers["location"])
    assert "Votre session a expiré" in login.text
    sign_in(signed_in, LYON)
    assert "Dépistage en cours" in signed_in.get(url).text


def test_a_typed_text_comes_back_as_typed_while_the_pages_words_are_spaced(
    signed_in: TestClient,
) -> None:
    """The page's own words hold their ":" to the word before it (a non-breaking space); a
    text being edited is given back exactly as typed, plain spaces included."""
    draft = start_draft(signed_in)
    url = f"/declarations/new/{draft}/mesures"
    typed = "Dépistage : en cours ; résultats ? « à venir »"
    token = csrf_of(signed_in.get(url))
    saved = signed_in.post(
        url, data={"investigations": typed, "csrf_token": token, "action": "next"}
    )
    page = saved.text
    textarea = re.search(r'<textarea[^>]*name="investigations"[^>]*>([^<]*)</textarea>', page)
    assert textarea and html.unescape(textarea.group(1)).strip() == typed
    assert "Étape suivante\u00a0:" in page and "Étape suivante :" not in page


def test_next_never_leaves_the_site(client: TestClient) -> None:
    token = csrf_of(client.get("/login"))
    r = client.post(
        "/login",
        data={
            "username": LYON,
            "password": PASSWORD,
            "csrf_token": token,
            "next": "//evil.example",
        },
        follow_redirects=False,
    )
    assert r.headers["location"] == "/"  # then the person's own first page


def test_a_next_longer_than_an_address_bar_is_not_followed(client: TestClient) -> None:
    token = csrf_of(client.get("/login"))
    data = {"username": LYON, "password": PASSWORD, "csrf_token": token, "next": "/" + "a" * 1000}
    r = client.post("/login", data=data, follow_redirects=False)
    assert r.headers["location"] == "/"


def test_odd_numbers_and_ids_in_the_address_or_a_form_are_not_errors(
    signed_in: TestClient,
) -> None:
    """ "²" is a digit to Python but not a number, and a thousand nines are too many to read:
    neither is a 500; an id that is not one is a 404 page, and never reaches intake's address."""
    draft = start_draft(signed_in)
    body = make_declaration()
    for action in ("remove_pathogen:²", "remove_pathogen:" + "9" * 5000, "remove_pathogen:-1"):
        r = post_step(signed_in, draft, form.STEPS[2], body, action=action)
        assert r.status_code == 303, (action, r.text)
    for bad_id in ("%3F", "%23", "abc"):
        r = signed_in.get(f"/declarations/{bad_id}")
        assert r.status_code == 404, bad_id
        # The error page is none of the menu's pages, though its address is under one.
        assert 'aria-current="page"' not in r.text, bad_id
        assert "Si vous avez suivi un lien reçu par courriel" in html.unescape(r.text)
    assert 'aria-current="page"' in signed_in.get("/declarations").text
    # A control character is refused before any page reads the address.
    assert signed_in.get("/declarations/x%00").status_code == 400
    token = csrf_of(signed_in.get("/declarations"))
    r = signed_in.post(
        "/declarations/abc%3F/complement",
        data={"csrf_token": token, "cause_analysis": "x", "action_rows": "²"},
    )
    assert r.status_code == 404


# -- declaring -----------------------------------------------------------------------------


def test_a_declaration_made_in_the_form_reaches_intake(
    signed_in: TestClient, intake: str, tokens: Tokens
) -> None:
    draft = start_draft(signed_in)
    fill_steps(signed_in, draft, make_declaration())
    review = signed_in.get(f"/declarations/new/{draft}/verification")
    assert "CHU Exemple" in review.text and "Klebsiella pneumoniae" in review.text
    r = post_form(signed_in, f"/declarations/new/{draft}/submit", {})
    assert r.headers["location"] == f"/declarations/new/{draft}/sent"
    sent = signed_in.get(r.headers["location"])
    reference = re.search(r"IAS-\d{4}-84-\d{6}", sent.text)
    assert reference, sent.text
    # No health product in cause: no vigilance named.
    assert "au CPias et à Santé publique France." in sent.text and "vigilance" not in sent.text
    assert declarations_in_intake(intake, tokens, reference.group(0)) == 1
    listing = signed_in.get("/declarations")
    assert reference.group(0) in listing.text and ">Envoyée</p>" in listing.text


def test_an_admin_reads_every_declaration_and_is_told_whose_complement_it_is(
    signed_in: TestClient, app: FastAPI
) -> None:
    draft = start_draft(signed_in)
    fill_steps(signed_in, draft, make_declaration())
    post_form(signed_in, f"/declarations/new/{draft}/submit", {})
    mine = signed_in.get("/declarations").text
    link = re.search(r'href="(/declarations/[0-9a-f-]{36})"', mine)
    assert link and "<h1>Mes déclarations</h1>" in mine
    own = signed_in.get(link.group(1)).text
    assert 'name="complement_key"' in own and 'id="complement-by-admin"' not in own
    signed_in.cookies.clear()
    add_account(app, "admin@sante.example", "admin")
    assert sign_in(signed_in, "admin@sante.example").status_code == 200
    listing = signed_in.get("/declarations").text
    assert "<h1>Toutes les déclarations</h1>" in listing and link.group(1) in listing
    assert "Mes déclarations" not in listing
    page = signed_in.get(link.group(1)).text
    assert 'href="/declarations">Toutes les déclarations</a>' in page
    # Intake takes an admin's complement (one the establishment sent them, or for a
    # declaration they sent): the form is there, saying so.
    assert 'name="complement_key"' in page and 'id="complement-by-admin"' in page


def test_the_services_audit_what_people_do_in_the_portal_under_their_own_address(
    app: FastAPI, intake: str, tokens: Tokens
) -> None:
    """The portal calls the services for the person signed in: the token it mints says the
    person's address, and intake's audit log names it, with the portal it came through."""
    with TestClient(app, client=("203.0.113.7", 5555)) as browser:
        add_account(app, "ide.audit@chu.example", finess="690781810")
        assert sign_in(browser, "ide.audit@chu.example").status_code == 200
        assert browser.get("/declarations").status_code == 200
    log = httpx.get(
        f"{intake}/v1/audit",
        params={"subject": "ide.audit@chu.example"},
        headers=tokens.headers("admin"),
    ).json()["items"]
    # (intake serves this module's tests: the entries of every run of this one are here)
    assert log and {(e["action"], e["address"]) for e in log} == {
        ("list", "203.0.113.7 via 127.0.0.1")
    }


def test_a_professional_in_community_practice_declares_without_finess(
    client: TestClient, app: FastAPI, intake: str, tokens: Tokens
) -> None:
    """An account without FINESS (a liberal nurse): the form starts in community practice,
    with no FINESS, and the declaration goes through and is listed as hers."""
    add_account(app, "ide@cabinet.example")
    assert sign_in(client, "ide@cabinet.example").status_code == 200
    assert "exercice libéral, sans numéro FINESS" in client.get("/declarations").text
    draft = start_draft(client)
    step = client.get(f"/declarations/new/{draft}/etablissement").text
    assert re.search(r'<option value="ville" selected>', step) or re.search(
        r'value="ville"[^>]*checked', step
    )
    body = community_declaration()
    fill_steps(client, draft, body)
    r = post_form(client, f"/declarations/new/{draft}/submit", {})
    assert r.headers["location"] == f"/declarations/new/{draft}/sent", r.text
    reference = re.search(r"IAS-\d{4}-84-\d{6}", client.get(r.headers["location"]).text)
    assert reference
    assert declarations_in_intake(intake, tokens, reference.group(0)) == 1
    assert reference.group(0) in client.get("/declarations").text


def test_a_professional_without_finess_reads_times_on_the_clock_of_the_declarations_place(
    client: TestClient, app: FastAPI, intake: str, tokens: Tokens
) -> None:
    """A liberal nurse of Fort-de-France has no establishment to take a clock from: the
    confirmation, the declaration's page and the list of her declarations (all in
    Martinique) are on Martinique's clock, which the headings name; not Paris's."""
    add_account(app, "ide@cabinet-fdf.example")
    assert sign_in(client, "ide@cabinet-fdf.example").status_code == 200
    draft = start_draft(client)
    body = community_declaration(
        establishment__departement="972",
        establishment__commune="97209",
        establishment__name="Cabinet infirmier de Fort-de-France",
    )
    fill_steps(client, draft, body)
    r = post_form(client, f"/declarations/new/{draft}/submit", {})
    assert r.headers["location"] == f"/declarations/new/{draft}/sent", r.text
    sent = text_of(client.get(r.headers["location"]))
    reference = re.search(r"IAS-\d{4}-02-\d{6}", sent)
    assert reference
    page = httpx.get(f"{intake}/v1/declarations", params={"limit": 200}, headers=tokens.headers())
    (stored,) = [d for d in page.json()["items"] if d["reference"] == reference.group(0)]
    received = dt.datetime.fromisoformat(stored["received_at"])
    # (text_of folds the non-breaking spaces the moments are written with)
    here = " ".join(french_moment(received, ZoneInfo("America/Martinique")).split())
    paris = " ".join(french_moment(received, ZoneInfo("Europe/Paris")).split())
    assert here != paris
    assert f"Reçue le {here}." in sent and paris not in sent
    followed = text_of(client.get(f"/declarations/{stored['id']}"))
    assert f"Envoyée le {here}" in followed and "Date (heure de la Martinique)" in followed
    assert "heure de Paris" not in followed and paris not in followed
    listed = text_of(client.get("/declarations"))
    assert here in listed and paris not in listed


def reviewed(client: TestClient, body: dict[str, Any]) -> tuple[str, str]:
    """A draft filled with `body`: its id and its review page's text."""
    draft = start_draft(client)
    fill_steps(client, draft, body)
    return draft, html.unescape(client.get(f"/declarations/new/{draft}/verification").text)


def test_warnings_come_before_sending_and_the_confirmation_keeps_the_other_duties(
    signed_in: TestClient,
) -> None:
    """The review says intake's warnings before "Envoyer"; the confirmation names the
    products' vigilances and the duties the form foresaw, from what it kept of the fields,
    while the routing decision is not there yet (no router here)."""
    body = make_declaration(
        infection__pathogens=[
            {"species": "Klebsiella pneumoniae", "mechanism": "OXA-48", "resistance": []}
        ],
        products={"blood_product": {"description": "CGR", "already_declared": False}},
    )
    draft, review = reviewed(signed_in, body)
    assert "Ces points n’empêchent pas l’envoi, mais vérifiez-les avant d’envoyer" in review
    assert "sans la résistance «\u00a0cpe\u00a0»" in review
    r = post_form(signed_in, f"/declarations/new/{draft}/submit", {})
    sent = html.unescape(signed_in.get(r.headers["location"]).text)
    assert "vigilance de chaque produit de santé en cause (produit sanguin labile" in sent
    assert "La déclaration est enregistrée. Vérifiez toutefois" in sent
    assert (
        "cette transmission ne remplace pas sa déclaration à l’hémovigilance, qui reste due si "
        "elle n’est pas faite" in sent
    )


def test_the_review_cites_the_articles_of_other_duties_inside_their_sentences(
    signed_in: TestClient,
) -> None:
    body = make_declaration(
        criteria=["1a", "2", "3"],
        infection__deaths=1,
        products={"medical_device": {"description": "Endoscope", "already_declared": False}},
    )
    _, review = reviewed(signed_in, body)
    assert "sa déclaration à l’ARS, en deux parties, peut être due (R1413-68).</li>" in review
    assert "reste due si elle n’est pas faite (article L5212-2).</li>" in review
    # A question left empty reads the same whatever its gender ("Date du dernier cas").
    assert re.search(
        r'Date du dernier cas</th>\s*<td class="portal-read__value">'
        r'<span class="fr-text-mention--grey">Sans réponse</span>',
        review,
    )


def field_in_error(page: str, dom_id: str) -> str:
    """The HTML of a field's group marked in error, with its messages."""
    group = re.search(
        rf'<div class="fr-(input|select)-group fr-\1-group--error" id="{dom_id}-group">'
        r".*?</div>\s*</div>",
        page,
        re.S,
    )
    assert group, f"{dom_id} is not marked in error"
    return group.group(0)


def test_intakes_problems_are_shown_beside_their_fields_with_the_article(
    signed_in: TestClient,
) -> None:
    nir = "1 84 12 76 451 089 " + f"{97 - 1841276451089 % 97:02d}"
    body = make_declaration(infection__circumstances=f"Patient {nir} en réanimation")
    draft = start_draft(signed_in)
    fill_steps(signed_in, draft, body)
    r = post_form(signed_in, f"/declarations/new/{draft}/submit", {})
    assert r.headers["location"] == f"/declarations/new/{draft}/verification#problems"
    review = signed_in.get(r.headers["location"])
    assert "1 point à corriger" in review.text
    assert f'href="/declarations/new/{draft}/infection#f-infection-circumstances"' in review.text
    step = signed_in.get(f"/declarations/new/{draft}/infection")
    group = field_in_error(step.text, "f-infection-circumstances")
    assert 'aria-describedby="f-infection-circumstances-messages"' in group
    assert "numéro de sécurité sociale (NIR)" in group
    assert "R1413-80" in group
    # Corrected on its step, the problem is gone and the declaration goes through.
    corrected = make_declaration(infection__circumstances="Patient en réanimation")
    post_step(signed_in, draft, form.STEPS[2], corrected, action="save")
    assert "point à corriger" not in signed_in.get(f"/declarations/new/{draft}/infection").text
    r = post_form(signed_in, f"/declarations/new/{draft}/submit", {})
    assert r.headers["location"].endswith("/sent")


def refused_on_infection_step(
    client: TestClient, body: dict[str, Any]
) -> tuple[str, httpx.Response]:
    """A draft of `body` through its first two steps, then the infection's, which stays: the
    draft's id and the step's page."""
    draft = start_draft(client)
    for s in form.STEPS[:2]:
        assert (
            post_step(client, draft, s, body)
            .headers["location"]
            .endswith(form.STEPS[form.STEPS.index(s) + 1].slug)
        )
    r = post_step(client, draft, form.STEPS[2], body)
    assert r.headers["location"] == f"/declarations/new/{draft}/infection#problems"
    return draft, client.get(r.headers["location"])


def goes_on_from_infection_step(client: TestClient, draft: str, corrected: dict[str, Any]) -> None:
    """The infection's step, corrected, goes on to the next and shows no problem any more."""
    on = post_step(client, draft, form.STEPS[2], corrected)
    assert on.headers["location"].endswith(f"/{form.STEPS[3].slug}")
    assert "point à corriger" not in client.get(f"/declarations/new/{draft}/infection").text


def test_a_nir_is_said_when_its_step_is_left(signed_in: TestClient) -> None:
    """Identity in a text is refused beside its field as soon as the step is left (the same
    rules as intake's, R1413-80), not only once the declaration is sent; going back is free."""
    nir = "2 91 07 2A 004 123"  # without its key, Corsica's département
    body = make_declaration(infection__circumstances=f"Patiente {nir}, née le 3 mars 1945")
    draft, page = refused_on_infection_step(signed_in, body)
    assert "2 points à corriger" in page.text
    group = field_in_error(page.text, "f-infection-circumstances")
    assert "numéro de sécurité sociale (NIR)" in group
    assert "date de naissance" in group and "R1413-80" in group
    back = post_step(signed_in, draft, form.STEPS[2], body, action="previous")
    assert back.headers["location"].endswith("/criteres")
    goes_on_from_infection_step(
        signed_in, draft, make_declaration(infection__circumstances="Patiente de 81 ans")
    )


def test_a_finess_of_another_departement_is_said_on_the_first_step(
    signed_in: TestClient,
) -> None:
    """The département chosen is not the FINESS's: said when the step is left, beside both
    fields (either may be the slip), with the API's words, as one point in the page's summary,
    linked to the FINESS; the step stays until one of them is corrected."""
    draft = start_draft(signed_in)
    r = post_step(
        signed_in, draft, form.STEPS[0], make_declaration(establishment__departement="38")
    )
    assert r.headers["location"] == f"/declarations/new/{draft}/etablissement#problems"
    page = signed_in.get(r.headers["location"])
    assert "1 point à corriger" in page.text
    summary = page.text.split('id="problems"')[1].split("</ul>")[0]
    assert summary.count("<li>") == 1 and "#f-establishment-finess" in summary
    finess = field_in_error(page.text, "f-establishment-finess")
    assert "du département 38 — Isère" in finess and "69 — Rhône" in finess
    assert "numéro FINESS saisi" in field_in_error(page.text, "f-establishment-departement")
    on = post_step(signed_in, draft, form.STEPS[0], make_declaration())
    assert on.headers["location"].endswith(f"/{form.STEPS[1].slug}")
    assert "point à corriger" not in signed_in.get(f"/declarations/new/{draft}/etablissement").text


def test_dates_out_of_order_are_said_on_the_infection_step(signed_in: TestClient) -> None:
    """An onset after the detection, and a last case before the onset: said when the
    infection's step is left, each beside its field, with the API's words."""
    body = make_declaration(
        infection__onset_date="2026-11-14",
        infection__detection_date="2026-11-12",
        infection__last_case_date="2026-11-13",
    )
    draft, page = refused_on_infection_step(signed_in, body)
    assert "2 points à corriger" in page.text
    onset = field_in_error(page.text, "f-infection-onset-date")
    assert "ne peut pas être postérieure à la date de détection" in onset
    last = field_in_error(page.text, "f-infection-last-case-date")
    assert "ne peut pas précéder la date de début" in last
    goes_on_from_infection_step(
        signed_in, draft, make_declaration(infection__onset_date="2026-11-10")
    )


def test_criterion_3_without_a_death_is_said_on_the_infection_step(signed_in: TestClient) -> None:
    """The rules between the criteria (step 2) and the infection (step 3) are said when the
    infection's step is left, beside the count, with the API's words and article."""
    body = make_declaration(criteria=["1a", "3"], infection__deaths=0)
    draft, page = refused_on_infection_step(signed_in, body)
    assert "1 point à corriger" in page.text
    deaths = field_in_error(page.text, "f-infection-deaths")
    assert "suppose au moins un décès déclaré" in deaths and "R1413-79 3°" in deaths
    assert "indiquez le nombre de décès, ou retirez le critère 3" in deaths
    goes_on_from_infection_step(
        signed_in, draft, make_declaration(criteria=["1a", "3"], infection__deaths=1)
    )


def test_a_criterion_ticked_after_the_counts_is_said_where_it_must_be_corrected(
    signed_in: TestClient,
) -> None:
    """Criterion 3 ticked when the infection's step already counts no death: the criteria's
    step goes on, and the infection's step shows the problem beside the deaths until one of
    the two steps is changed; criterion 2 with a single case is said on the criteria's step,
    which stays."""
    draft = start_draft(signed_in)
    one_case = make_declaration(
        criteria=["1a"], infection__cases_infected=1, infection__cases_colonised=0
    )
    for s in form.STEPS[:4]:
        post_step(signed_in, draft, s, one_case)
    ticked = dict(one_case, criteria=["1a", "3"])
    r = post_step(signed_in, draft, form.STEPS[1], ticked)
    assert r.headers["location"].endswith(f"/{form.STEPS[2].slug}")
    deaths = field_in_error(
        signed_in.get(f"/declarations/new/{draft}/infection").text, "f-infection-deaths"
    )
    assert "suppose au moins un décès déclaré" in deaths
    review = signed_in.get(f"/declarations/new/{draft}/verification").text
    assert "ne peut pas être envoyée en l’état" in html.unescape(review)
    assert f'href="/declarations/new/{draft}/infection#f-infection-deaths"' in review

    r = post_step(signed_in, draft, form.STEPS[1], dict(one_case, criteria=["1a", "2"]))
    assert r.headers["location"] == f"/declarations/new/{draft}/criteres#problems"
    page = signed_in.get(r.headers["location"]).text
    criteria = re.search(
        r'<fieldset class="fr-fieldset fr-fieldset--error" id="f-criteria".*?</fieldset>',
        page,
        re.S,
    )
    assert criteria and "suppose au moins deux cas" in criteria.group(0)
    # Criterion 3 is no longer ticked: its problem is gone from the infection's step.
    assert "point à corriger" not in signed_in.get(f"/declarations/new/{draft}/infection").text

    r = post_step(signed_in, draft, form.STEPS[1], one_case)
    assert r.headers["location"].endswith(f"/{form.STEPS[2].slug}")
    assert "point à corriger" not in signed_in.get(f"/declarations/new/{draft}/criteres").text


def test_shape_problems_name_the_missing_fields(signed_in: TestClient) -> None:
    draft = start_draft(signed_in)
    r = post_form(signed_in, f"/declarations/new/{draft}/submit", {})
    review = signed_in.get(r.headers["location"])
    assert "Renseignez ce champ obligatoire." in review.text
    etab = signed_in.get(f"/declarations/new/{draft}/etablissement")
    assert 'id="f-establishment-name-group"' in etab.text
    assert re.search(r'fr-input-group--error" id="f-establishment-name-group"', etab.text)


def test_a_retry_after_a_lost_answer_makes_one_declaration(
    signed_in: TestClient, network: Flaky, intake: str, tokens: Tokens
) -> None:
    draft = start_draft(signed_in)
    fill_steps(signed_in, draft, make_declaration())
    network.lose_next = True
    lost = post_form(signed_in, f"/declarations/new/{draft}/submit", {})
    assert lost.status_code == 503 and "ne répond pas" in lost.text
    assert "ne sera jamais enregistrée deux fois" in lost.text
    retry = post_form(signed_in, f"/declarations/new/{draft}/submit", {})
    assert retry.headers["location"].endswith("/sent")
    reference = re.search(r"IAS-\d{4}-84-\d{6}", signed_in.get(retry.headers["location"]).text)
    assert reference
    assert declarations_in_intake(intake, tokens, reference.group(0)) == 1
    # A third click (double submit, back button) changes nothing either.
    again = post_form(signed_in, f"/declarations/new/{draft}/submit", {})
    assert again.headers["location"].endswith("/sent")
    assert declarations_in_intake(intake, tokens, reference.group(0)) == 1


def _sent_changed_and_sent_again(
    signed_in: TestClient, network: Flaky, failure: str
) -> tuple[str, str, str]:
    """A draft sent while the network fails (`failure`: "lose_next", its answer lost after
    intake handled it, or "down", never reaching intake), its measures then changed, and sent
    again: the draft, the page after sending, and the reference it shows."""
    draft = start_draft(signed_in)
    fill_steps(signed_in, draft, make_declaration())
    setattr(network, failure, True)
    assert post_form(signed_in, f"/declarations/new/{draft}/submit", {}).status_code == 503
    network.down = False
    measures = form.step("mesures")
    assert measures is not None
    post_step(signed_in, draft, measures, make_declaration(initial_measures="Autre mesure"))
    retry = post_form(signed_in, f"/declarations/new/{draft}/submit", {})
    assert retry.headers["location"].endswith("/sent")
    page = html.unescape(signed_in.get(retry.headers["location"]).text)
    reference = re.search(r"IAS-\d{4}-84-\d{6}", page)
    assert reference
    return draft, page, reference.group(0)


def test_a_draft_changed_after_a_lost_answer_learns_what_was_received(
    signed_in: TestClient, network: Flaky, intake: str, tokens: Tokens
) -> None:
    """The answer was lost, the declarant changed a field and sent again: intake holds the
    first body under the key (409 for the new one). The portal sends the first body again,
    learns the reference, and says the changes are not in it. One declaration."""
    draft, page, reference = _sent_changed_and_sent_again(signed_in, network, "lose_next")
    assert "Enregistrée telle qu’envoyée la première fois" in page
    assert declarations_in_intake(intake, tokens, reference) == 1
    assert f"/declarations/new/{draft}" not in signed_in.get("/declarations").text


def test_a_draft_changed_after_a_try_that_never_arrived_is_sent_as_changed(
    signed_in: TestClient, network: Flaky, intake: str, tokens: Tokens
) -> None:
    """Intake unreachable: nothing was stored; the changed draft is what is recorded."""
    _, page, reference = _sent_changed_and_sent_again(signed_in, network, "down")
    assert "Enregistrée telle qu’envoyée la première fois" not in page
    listed = httpx.get(
        f"{intake}/v1/declarations", params={"limit": 200}, headers=tokens.headers()
    ).json()["items"]
    [sent] = [d for d in listed if d["reference"] == reference]
    stored = httpx.get(f"{intake}/v1/declarations/{sent['id']}", headers=tokens.headers()).json()
    assert stored["declaration"]["initial_measures"] == "Autre mesure"


def test_no_page_of_the_form_shows_a_tag_as_text(signed_in: TestClient) -> None:
    """Labels made HTML (an article kept whole, a hint) are never escaped a second time."""
    draft = start_draft(signed_in)
    for s in form.ALL_STEPS:
        page = signed_in.get(f"/declarations/new/{draft}/{s.slug}")
        assert page.status_code == 200, s.slug
        assert "&lt;" not in page.text and "&amp;lt;" not in page.text, s.slug


def test_every_step_says_its_fields_are_required_unless_marked_optional(
    signed_in: TestClient,
) -> None:
    """The DSFR's convention: one sentence says every field is required, and only the optional
    ones are marked, "(facultatif)"."""
    draft = start_draft(signed_in)
    for s in form.STEPS:
        page = signed_in.get(f"/declarations/new/{draft}/{s.slug}").text
        assert "Sauf mention contraire, tous les champs sont obligatoires." in page, s.slug
    optional = signed_in.get(f"/declarations/new/{draft}/infection").text
    assert "Date de début des signes (facultatif)" in optional
    # An answer required in some cases only says in which, in place of "(facultatif)".
    who = signed_in.get(f"/declarations/new/{draft}/etablissement").text
    assert "Votre numéro RPPS (facultatif pour un représentant légal)" in who
    assert "Votre fonction (obligatoire si vous n’avez pas de numéro RPPS)" in who
    assert "Votre fonction (facultatif)" not in who
    assert "Numéro FINESS de l’établissement (facultatif en exercice de ville)" in who


def test_a_step_left_with_a_required_answer_empty_says_so_beside_it(
    signed_in: TestClient,
) -> None:
    """ "Continuer" on a step whose required answer is empty stays there and names it beside
    its field, in intake's words; the answers of the steps not yet filled in are not said;
    going back is free and takes the mark away."""
    measures = form.step("mesures")
    assert measures is not None
    draft = start_draft(signed_in)
    body = make_declaration(initial_measures="")
    r = post_step(signed_in, draft, measures, body)
    assert r.headers["location"] == f"/declarations/new/{draft}/mesures#problems"
    page = signed_in.get(r.headers["location"]).text
    assert "1 point à corriger" in page
    assert "Renseignez ce champ obligatoire." in field_in_error(page, "f-initial-measures")

    back = post_step(signed_in, draft, measures, body, action="previous")
    assert back.headers["location"] == f"/declarations/new/{draft}/produits"
    assert "point à corriger" not in signed_in.get(f"/declarations/new/{draft}/mesures").text

    filled = post_step(signed_in, draft, measures, make_declaration())
    assert filled.headers["location"] == f"/declarations/new/{draft}/verification"

    # The first step names only its own empty answers, not the infection's still to come.
    first = form.STEPS[0]
    r = post_step(signed_in, draft, first, make_declaration(establishment__name=""))
    assert r.headers["location"] == f"/declarations/new/{draft}/etablissement#problems"
    page = signed_in.get(r.headers["location"]).text
    assert "1 point à corriger" in page
    assert "Renseignez ce champ obligatoire." in field_in_error(page, "f-establishment-name")


def test_intake_down_keeps_the_draft(signed_in: TestClient, network: Flaky, app: FastAPI) -> None:
    draft = start_draft(signed_in)
    fill_steps(signed_in, draft, make_declaration())
    network.down = True
    r = post_form(signed_in, f"/declarations/new/{draft}/submit", {})
    assert r.status_code == 503
    with app.state.portal.uow() as uow:
        kept = uow.drafts.get(draft)
    assert kept is not None and kept.sent is None
    assert kept.data["establishment.name"] == "CHU Exemple"
    assert signed_in.get("/declarations").status_code == 503
    assert signed_in.get("/readyz").json()["checks"]["intake"] == "unreachable"


def test_the_draft_is_forgotten_once_sent(signed_in: TestClient, app: FastAPI) -> None:
    draft = start_draft(signed_in)
    fill_steps(signed_in, draft, make_declaration())
    post_form(signed_in, f"/declarations/new/{draft}/submit", {})
    with app.state.portal.uow() as uow:
        kept = uow.drafts.get(draft)
    assert kept is not None and kept.data == {}
    assert kept.sent is not None and kept.sent.reference.startswith("IAS-")


def test_drafts_belong_to_their_owner(client: TestClient, app: FastAPI) -> None:
    sign_in(client, LYON)
    draft = start_draft(client)
    add_account(app, "autre@chu.example", finess="690781810")
    client.cookies.clear()
    sign_in(client, "autre@chu.example")
    assert client.get(f"/declarations/new/{draft}/etablissement").status_code == 404


def test_declarants_establishment_is_read_only(signed_in: TestClient) -> None:
    draft = start_draft(signed_in)
    page = signed_in.get(f"/declarations/new/{draft}/etablissement")
    assert re.search(r'name="establishment.finess"[^>]*readonly[^>]*value="690781810"', page.text)


def test_the_form_adds_and_removes_pathogen_rows(signed_in: TestClient) -> None:
    draft = start_draft(signed_in)
    url = f"/declarations/new/{draft}/infection"
    r = post_form(
        signed_in,
        url,
        {"infection.pathogens[0].species": "Klebsiella pneumoniae", "action": "add_pathogen"},
    )
    assert r.headers["location"] == f"{url}#pathogen-1"
    page = signed_in.get(url)
    assert 'name="infection.pathogens[1].species"' in page.text
    post_form(signed_in, url, {"action": "remove_pathogen:0"})
    page = signed_in.get(url)
    assert 'name="infection.pathogens[1].species"' not in page.text


def test_the_form_holds_as_many_pathogens_as_the_contract_then_says_it_is_full(
    signed_in: TestClient,
) -> None:
    """The contract takes 50 micro-organisms: the form offers rows up to 50, then says the
    declaration holds no more instead of an "Ajouter" that adds nothing."""
    draft = start_draft(signed_in)
    url = f"/declarations/new/{draft}/infection"
    for i in range(49):  # as a person would: a row typed, then "Ajouter un micro-organisme"
        typed = {f"infection.pathogens[{n}].species": f"Espèce {n}" for n in range(i + 1)}
        post_form(signed_in, url, {**typed, "action": "add_pathogen"}, page=url)
    page = signed_in.get(url).text
    assert 'name="infection.pathogens[49].species"' in page
    assert 'value="Espèce 48"' in html.unescape(page)
    assert 'value="add_pathogen"' not in page and 'id="pathogens-full"' in page
    post_form(signed_in, url, {"action": "remove_pathogen:0"})
    assert 'value="add_pathogen"' in signed_in.get(url).text


def test_criterion_4_shows_the_disease_without_javascript(signed_in: TestClient) -> None:
    draft = start_draft(signed_in)
    url = f"/declarations/new/{draft}/criteres"
    hidden = signed_in.get(url)
    assert re.search(r'data-reveal-when="criteria=4" hidden', hidden.text)
    r = post_form(signed_in, url, {"criteria": ["3", "4"], "action": "next"})
    assert r.headers["location"] == f"{url}#reveal-f-criteria-4"
    shown = signed_in.get(url)
    assert 'data-reveal-when="criteria=4">' in shown.text
    assert "Légionellose" in shown.text


# -- following -----------------------------------------------------------------------------


def sent_and_routed(signed_in: TestClient, intake_service: FastAPI) -> str:
    """A declaration sent through the form, routed (a complement needs it): its id."""
    draft = start_draft(signed_in)
    fill_steps(signed_in, draft, make_declaration())
    post_form(signed_in, f"/declarations/new/{draft}/submit", {})
    sent = signed_in.get(f"/declarations/new/{draft}/sent").text
    declaration_id = re.search(r'href="/declarations/([0-9a-f-]{36})"', sent).group(1)  # type: ignore[union-attr]
    route_stored(intake_service.state.sessions, declaration_id)
    return declaration_id


def complement_urls(signed_in: TestClient, intake_service: FastAPI) -> tuple[str, str]:
    """A declaration sent and routed: where its complement is posted, and its page."""
    declaration_id = sent_and_routed(signed_in, intake_service)
    return f"/declarations/{declaration_id}/complement", f"/declarations/{declaration_id}"


def complement_key(page: str) -> str:
    """The Idempotency-Key the complement form of a declaration's page sends with."""
    key = re.search(r'name="complement_key" value="([0-9a-f-]{36})"', page)
    assert key, "no complement form"
    return key.group(1)


def test_a_declarations_page_lays_it_out_with_its_timeline(
    signed_in: TestClient, intake_service: FastAPI
) -> None:
    declaration_id = sent_and_routed(signed_in, intake_service)
    page = signed_in.get(f"/declarations/{declaration_id}")
    assert "Déclaration envoyée" in page.text and "Klebsiella pneumoniae" in page.text
    assert "Entérobactérie productrice de carbapénémase (EPC)" in page.text
    r = post_form(
        signed_in,
        f"/declarations/{declaration_id}/complement",
        {"cause_analysis": "", "action_plan[0].action": "", "action": "send"},
        page=f"/declarations/{declaration_id}",
    )
    assert r.status_code == 422 and "Ce champ ne peut pas être vide." in r.text
    # The summary leads to each field it names.
    summary = html.unescape(r.text.split('id="problems"')[1].split("</div>")[0])
    assert '<a href="#f-complement-cause-analysis">Analyse des causes\u00a0: ce champ' in summary
    assert '<a href="#f-complement-action-plan-0-action">Action 1\u00a0: ce champ' in summary
    r = post_form(
        signed_in,
        f"/declarations/{declaration_id}/complement",
        {
            "cause_analysis": "Transmission croisée",
            "action_plan[0].action": "Audit des mains",
            "action_plan[0].due_date": "2027-01-31",
            "action": "send",
        },
        page=f"/declarations/{declaration_id}",
    )
    assert r.headers["location"] == f"/declarations/{declaration_id}?info=complement#suivi"
    page = signed_in.get(f"/declarations/{declaration_id}")
    assert "Complément envoyé" in page.text and "échéance le 31/01/2027" in page.text
    # Its line in the follow-up leads to it; the submission's line says who sent it.
    timeline = page.text.split('id="timeline"')[1].split("</table>")[0]
    assert re.search(r"Déclaration envoyée</td>\s*<td>Par Dr [^<]+, [^<]+</td>", timeline)
    link = r'<a href="#complements">Complément du [0-9/]+ à\s\d{1,2}\sh\s\d\d</a> \(analyse'
    assert re.search(link, timeline)
    assert '<h2 id="complements">Compléments envoyés</h2>' in page.text
    # The form sends under a key of its own: the same form posted twice (a double click, a
    # reload) is one complement; the form shown afresh has a new key.
    fields = {
        "cause_analysis": "Défaut de bionettoyage",
        "action_plan[0].action": "Audit",
        "action": "send",
        "complement_key": complement_key(page.text),
    }
    for _ in range(2):
        r = post_form(
            signed_in,
            f"/declarations/{declaration_id}/complement",
            fields,
            page=f"/declarations/{declaration_id}",
        )
        assert r.status_code == 303
    page = signed_in.get(f"/declarations/{declaration_id}")
    assert page.text.count("Défaut de bionettoyage") == 1
    assert fields["complement_key"] not in page.text


def test_a_text_typed_over_several_lines_is_sent_as_it_reads(
    signed_in: TestClient, intake_service: FastAPI
) -> None:
    """A browser sends a textarea's line breaks as CR LF; they are line breaks, not control
    characters: the complement is accepted, its lines kept."""
    declaration_id = sent_and_routed(signed_in, intake_service)
    r = post_form(
        signed_in,
        f"/declarations/{declaration_id}/complement",
        {
            "cause_analysis": "Transmission croisée.\r\nDéfaut d’observance la nuit.\r\n",
            "action_plan[0].action": "Audit des mains\r\nFormation",
            "action": "send",
        },
        page=f"/declarations/{declaration_id}",
    )
    assert r.status_code == 303, html.unescape(r.text)[:2000]
    got = signed_in.get(f"/declarations/{declaration_id}")
    assert "Transmission croisée.\nDéfaut d’observance la nuit." in html.unescape(got.text)


def test_an_action_line_is_added_then_removed_and_the_others_keep_their_text(
    signed_in: TestClient, intake_service: FastAPI
) -> None:
    url, page_url = complement_urls(signed_in, intake_service)
    assert "Retirer l’action" not in signed_in.get(page_url).text  # one line: nothing to remove
    typed = {
        "cause_analysis": "Défaut d’observance",
        "action_rows": "3",
        "action_plan[0].action": "Audit des mains",
        "action_plan[1].action": "Ligne de trop",
        "action_plan[1].due_date": "2027-01-15",
        "action_plan[2].action": "Formation de nuit",
        "action_plan[2].due_date": "2027-03-31",
    }
    shown = post_form(signed_in, url, {**typed, "action": "add_action"}, page=page_url)
    assert shown.status_code == 200 and 'name="action_rows" value="4"' in shown.text
    assert shown.text.count("Retirer l’action") == 4
    shown = post_form(signed_in, url, {**typed, "action": "remove_action:1"}, page=page_url)
    assert shown.status_code == 200 and 'name="action_rows" value="2"' in shown.text
    text = html.unescape(shown.text)
    assert 'name="action_plan[0].action" value="Audit des mains"' in text
    assert 'name="action_plan[1].action" value="Formation de nuit"' in text
    assert 'name="action_plan[1].due_date" value="2027-03-31"' in text
    assert "Ligne de trop" not in text and "Défaut d’observance</textarea>" in text
    assert [b for b in re.findall(r'value="(remove_action:\d+)"', text)] == [
        "remove_action:0",
        "remove_action:1",
    ]
    # Nothing was sent meanwhile.
    assert "Compléments envoyés" not in signed_in.get(page_url).text
    # Up to the contract's 50 actions; then the form says so.
    full = post_form(signed_in, url, {"action_rows": "49", "action": "add_action"}, page=page_url)
    assert 'name="action_rows" value="50"' in full.text and 'id="actions-full"' in full.text
    assert 'value="add_action"' not in full.text


def test_intakes_problem_about_a_pathogen_stands_beside_its_row_past_an_empty_one(
    signed_in: TestClient,
) -> None:
    """Empty rows are not sent: intake's `infection.pathogens[1]` is the second row sent, here
    the form's third, and its problem is said there."""
    draft = start_draft(signed_in)
    body = make_declaration()
    for s in form.STEPS[:2]:
        post_step(signed_in, draft, s, body)
    infection = form.step("infection")
    assert infection is not None
    data = form.from_body(body)
    fields = {n: data.get(n, "") for n in form.names_of(infection, data)}
    fields.pop(form.ROWS, None)
    url = f"/declarations/new/{draft}/infection"
    for _ in range(2):
        post_form(signed_in, url, fields, action="add_pathogen")
    fields |= {
        "infection.pathogens[2].resistance": "cpe",
        "infection.pathogens[2].mechanism": "KPC",
    }
    post_form(signed_in, url, fields, action="next")
    for s in form.STEPS[3:]:
        post_step(signed_in, draft, s, body)
    post_form(signed_in, f"/declarations/new/{draft}/submit", {})
    page = signed_in.get(f"/declarations/new/{draft}/infection").text
    assert "f-infection-pathogens-2-species-message-error" in page
    assert "f-infection-pathogens-1-species-message-error" not in page
    review = html.unescape(signed_in.get(f"/declarations/new/{draft}/verification").text)
    assert "Micro-organisme 3 — Espèce" in review and "Micro-organisme 2 — Espèce" not in review


def test_a_complements_problems_stand_beside_the_lines_they_are_about(
    signed_in: TestClient, intake_service: FastAPI
) -> None:
    """Empty action lines are not sent: intake's `action_plan[i]` is the i-th line sent, and
    its problem is said beside that line of the form, not i-th line of the form."""
    url, page_url = complement_urls(signed_in, intake_service)
    typed = {
        "cause_analysis": "Défaut d’observance",
        "action_rows": "3",
        "action_plan[1].action": "Former les équipes",
        "action_plan[1].due_date": "2101-01-01",
        "action_plan[2].action": "Audit",
        "action_plan[2].due_date": "2026-13-45",
    }
    refused = post_form(signed_in, url, {**typed, "action": "send"}, page=page_url)
    assert refused.status_code == 422
    page = html.unescape(refused.text)
    assert "Échéance de l’action 2\u00a0: la date doit être au plus tard le 31/12/2100." in page
    assert "Échéance de l’action 3\u00a0:" in page
    assert "Échéance de l’action 1\u00a0:" not in page
    assert "f-complement-action-plan-1-due-date-message-error" in page
    assert "f-complement-action-plan-2-due-date-message-error" in page
    assert "f-complement-action-plan-0-due-date-message-error" not in page


def test_a_complement_naming_someone_is_said_before_it_is_sent(
    signed_in: TestClient, intake_service: FastAPI
) -> None:
    """A text that seems to name someone (R1413-80) is said beside it and nothing is sent; the
    same texts sent again, the warning read, are recorded as they are; texts changed since
    are looked at again."""
    url, page_url = complement_urls(signed_in, intake_service)
    typed = {
        "cause_analysis": "Défaut de bionettoyage relevé par Mme Durand",
        "action_rows": "1",
        "action_plan[0].action": "Audit des pratiques",
    }
    warned = post_form(signed_in, url, {**typed, "action": "send"}, page=page_url)
    assert warned.status_code == 200
    page = html.unescape(warned.text)
    assert "Vérifiez le complément avant de l’envoyer" in page and "pas encore envoyé" in page
    assert "Analyse des causes\u00a0: ce texte semble contenir le nom d’une personne" in page
    assert "R1413-80</span>). Relevé\u00a0: «\u00a0Mme Durand\u00a0»." in page  # to its author only
    assert "f-complement-cause-analysis-message-warning-1" in page
    assert "f-complement-action-plan-0-action-message-warning" not in page
    assert "relevé par Mme Durand</textarea>" in page
    assert "Compléments envoyés" not in page  # nothing reached intake
    mark = re.search(r'name="warnings_read" value="([0-9a-f]+)"', page)
    assert mark

    # Changed since the warning, and naming someone else: looked at again.
    changed = {**typed, "action_plan[0].action": "Rappel au Dr Martin", "warnings_read": mark[1]}
    again = post_form(signed_in, url, {**changed, "action": "send"}, page=page_url)
    assert again.status_code == 200 and "Action 1\u00a0: ce texte semble" in html.unescape(
        again.text
    )

    # An empty line before the one that names someone: said beside that one, the form's second.
    past_empty = {
        **typed,
        "cause_analysis": "Défaut de bionettoyage",
        "action_rows": "2",
        "action_plan[0].action": "",
        "action_plan[1].action": "Rappel au Dr Martin",
    }
    shifted = html.unescape(
        post_form(signed_in, url, {**past_empty, "action": "send"}, page=page_url).text
    )
    assert "Action 2\u00a0: ce texte semble" in shifted and "Action 1\u00a0:" not in shifted
    assert "f-complement-action-plan-1-action-message-warning-1" in shifted

    # A due date changed since the warning is not a text that names someone: sent.
    dated = {**typed, "action_plan[0].due_date": "2027-03-31"}
    sent = post_form(
        signed_in, url, {**dated, "warnings_read": mark[1], "action": "send"}, page=page_url
    )
    assert sent.status_code == 303 and sent.headers["location"].endswith("?info=complement#suivi")
    followed = html.unescape(signed_in.get(page_url).text)
    assert followed.count("relevé par Mme Durand") == 1 and 'id="warnings"' not in followed


def test_a_complement_not_sent_for_want_of_intake_is_kept_to_send_again(
    signed_in: TestClient, intake_service: FastAPI, network: Flaky
) -> None:
    """Intake not reached: the page comes back with what was typed and the same key, and
    sending it again records it once. Reached, its answer lost on the way back: the page says
    it is recorded, as it is."""
    url, page_url = complement_urls(signed_in, intake_service)
    key = complement_key(signed_in.get(page_url).text)
    typed = {
        "cause_analysis": "Rupture de la chaîne du froid",
        "action_rows": "1",
        "action_plan[0].action": "Contrôle des enceintes",
        "complement_key": key,
    }
    token = csrf_of(signed_in.get(page_url))
    network.refuse_next = True  # the complement does not reach intake
    lost = signed_in.post(url, data={**typed, "action": "send", "csrf_token": token})
    assert lost.status_code == 503
    shown = html.unescape(lost.text)
    assert "Le complément n’a pas pu être envoyé" in shown
    assert "Rupture de la chaîne du froid</textarea>" in shown
    assert f'name="complement_key" value="{key}"' in shown
    again = post_form(signed_in, url, {**typed, "action": "send"}, page=page_url)
    assert again.status_code == 303
    followed = signed_in.get(page_url).text
    assert followed.count("Rupture de la chaîne du froid") == 1

    other = {**typed, "cause_analysis": "Défaut de traçabilité", "complement_key": "k-2"}
    token = csrf_of(signed_in.get(page_url))
    network.lose_next = True  # this one reaches intake; its answer is lost
    lost = signed_in.post(
        url, data={**other, "action": "send", "csrf_token": token}, follow_redirects=False
    )
    assert lost.status_code == 303 and lost.headers["location"].endswith("?info=complement#suivi")
    assert signed_in.get(page_url).text.count("Défaut de traçabilité") == 1


def test_another_establishments_declaration_is_not_found(
    client: TestClient, app: FastAPI, intake: str, tokens: Tokens
) -> None:
    paris = make_declaration(establishment__departement="75", establishment__finess="750100125")
    created = httpx.post(f"{intake}/v1/declarations", json=paris, headers=tokens.headers()).json()
    sign_in(client, LYON)
    assert client.get(f"/declarations/{created['id']}").status_code == 404


D1 = "0b5cbd43-47c3-4b4e-9d0f-6a3e6c1a9c11"  # a declaration id as intake makes them


def test_warnings_and_obligations_are_shown_when_intake_gives_them(
    database_url: str, key_file: Path
) -> None:
    """Rules version 2: the 201 carries warnings, the routed entry obligations."""
    received = "2026-11-25T10:00:00+00:00"
    view = {
        "id": D1,
        "reference": "IAS-2026-84-000009",
        "status": "routed",
        "received_at": received,
        "region_code": "84",
        "recipients": ["ars-84"],
        "cpias_confirmed": False,
        "declaration": make_declaration(),
        "complements": [],
        "timeline": [
            {"kind": "submitted", "at": received},
            {
                "kind": "routed",
                "at": received,
                "recipients": ["ars-84", "spf", "cpias-ara"],
                "obligations": [
                    {
                        "rule": "notifiable_disease_report",
                        "owed_to": "ars",
                        "article": "L3113-1",
                        "message": "La déclaration nominative de la légionellose reste due.",
                        "message_en": "The notifiable-disease report is still owed.",
                    }
                ],
            },
        ],
    }

    def intake_v2(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(
                201,
                json={
                    "id": D1,
                    "reference": "IAS-2026-84-000009",
                    "status": "submitted",
                    "received_at": received,
                    "warnings": [
                        {
                            "path": "infection.pathogens[0].resistance",
                            "rule": "mechanism_without_resistance",
                            "message": "OXA-48 est une carbapénémase : cochez aussi EPC.",
                            "message_en": "OXA-48 is a carbapenemase: tick CPE too.",
                        }
                    ],
                },
            )
        if request.url.path == "/v1/declarations":
            return httpx.Response(200, json={"items": [], "total": 0, "limit": 20, "offset": 0})
        return httpx.Response(200, json=view)

    settings = portal_settings(database_url, key_file, "http://intake.test")
    app = create_app(settings, start_workers=False, api_transport=httpx.MockTransport(intake_v2))
    with TestClient(app) as c:
        add_account(app, LYON, finess="690781810")
        sign_in(c, LYON)
        draft = start_draft(c)
        r = post_form(c, f"/declarations/new/{draft}/submit", {})
        sent = c.get(r.headers["location"]).text
        assert "IAS-2026-84-000009" in sent
        # "OXA-48" is kept on one line (a span around it): the words are those of intake.
        assert "OXA-48 est une carbapénémase\u00a0: cochez aussi EPC." in re.sub(
            r"<[^>]+>", "", sent
        )
        assert '<span class="portal-nowrap">OXA-48</span> est une' in sent
        assert (
            "La déclaration nominative de la légionellose reste due "
            '(<span class="portal-nowrap">article L3113-1</span>).'
        ) in sent
        page = c.get(f"/declarations/{D1}").text
        assert (
            "Déclarations qui restent à faire ailleurs" in page
            and "ARS Auvergne-Rhône-Alpes" in page
        )


# -- operations ----------------------------------------------------------------------------


def test_health_metrics_headers_and_static_files(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["checks"] == {"database": "ok", "intake": "ok"}
    sign_in(client, LYON, "faux")
    assert 'portal_sign_ins_total{outcome="failed"}' in client.get("/metrics").text
    page = client.get("/login")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert '<html lang="fr">' in page.text
    css = re.search(r'href="(/static/dsfr/[^"]+/dsfr.min.css)"', page.text)
    assert css
    static = client.get(css.group(1))
    assert static.status_code == 200
    assert static.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_jwks_publishes_the_key_of_the_api_tokens(client: TestClient, key_file: Path) -> None:
    keys = client.get("/.well-known/jwks.json").json()["keys"]
    assert len(keys) == 1 and keys[0]["alg"] == "ES256" and "d" not in keys[0]


def test_no_body_free_text_or_password_in_the_logs(
    signed_in: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sign_in(signed_in, LYON, "mot-de-passe-témoin-faux")
    sign_in(signed_in, LYON)
    draft = start_draft(signed_in)
    body = make_declaration(infection__circumstances="Texte-témoin-ne-pas-journaliser")
    fill_steps(signed_in, draft, body)
    post_form(signed_in, f"/declarations/new/{draft}/submit", {})
    for secret in ("Texte-témoin", "mot-de-passe-témoin", PASSWORD, "Claire Martin", "10101234567"):
        assert secret not in caplog.text


def test_the_sweep_forgets_ended_sessions_and_stale_drafts(
    signed_in: TestClient, app: FastAPI
) -> None:
    from services.portal import service
    from services.portal.adapters.orm import DraftRow

    portal = app.state.portal
    kept, stale = start_draft(signed_in), start_draft(signed_in)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    with portal.uow() as uow:
        uow.session.execute(
            update(DraftRow).where(DraftRow.id == stale).values(updated_at=long_ago)
        )
        uow.session.execute(update(SessionRow).values(expires_at=long_ago, last_seen_at=long_ago))
        uow.commit()
    removed = service.sweep(
        portal.uow(), policy=portal.policy, draft_retention=dt.timedelta(days=30)
    )
    assert removed == (1, 1)
    with portal.uow() as uow:
        assert uow.drafts.get(kept) is not None and uow.drafts.get(stale) is None
    assert signed_in.get("/declarations", follow_redirects=False).status_code == 303


def test_an_article_is_never_cut_at_its_hyphen_and_the_rest_stays_escaped() -> None:
    from services.portal.app import kept_whole

    said = str(kept_whole("<b> ne pas citer (article R1413-79 3°) ni L. 1413-14 & R1413-80."))
    assert said == (
        '&lt;b&gt; ne pas citer (<span class="portal-nowrap">article R1413-79 3°</span>) ni '
        '<span class="portal-nowrap">L. 1413-14</span> &amp; '
        '<span class="portal-nowrap">R1413-80</span>.'
    )
    assert str(kept_whole("Aucun article, 12-3 et A1413-79.")) == "Aucun article, 12-3 et A1413-79."
    # A label already made HTML keeps its tags; only its words are looked at.
    label = Markup('Critères (article R1413-79) <span class="fr-hint-text">Cochez-en un.</span>')
    assert str(kept_whole(label)) == (
        'Critères (<span class="portal-nowrap">article R1413-79</span>) '
        '<span class="fr-hint-text">Cochez-en un.</span>'
    )


def test_an_address_or_a_region_breaks_between_words_never_at_a_hyphen() -> None:
    from services.portal.app import kept_joined, kept_whole

    assert str(kept_joined("paul.enqueteur@cpias-ara.example")) == (
        'paul.enqueteur@<wbr><span class="portal-nowrap">cpias-ara.example</span>'
    )
    assert str(kept_joined("ARS Auvergne-Rhône-Alpes <b>")) == (
        'ARS <span class="portal-nowrap">Auvergne-Rhône-Alpes</span> &lt;b&gt;'
    )
    assert str(kept_joined("Exploitant, en ligne de commande")) == (
        "Exploitant, en ligne de commande"
    )
    # What is already kept whole is left as it is (no span in a span).
    article = kept_whole("voir l’article R1413-79 3°, signalement@cpias-exemple.fr")
    assert str(kept_joined(article)) == (
        'voir l’<span class="portal-nowrap">article R1413-79 3°</span>, '
        'signalement@<wbr><span class="portal-nowrap">cpias-exemple.fr</span>'
    )
    # Never inside a tag's attributes.
    assert str(kept_joined(Markup('<span class="fr-hint-text">Rhône-Alpes</span>'))) == (
        '<span class="fr-hint-text"><span class="portal-nowrap">Rhône-Alpes</span></span>'
    )
