"""The investigators' pages in-process, with cpias served over real HTTP (workers off): the
queue with its filters, pages and the fragment portal.js asks for; a case's page and each of
its forms (move, assignment, note, link, cluster suggestion) posting back with CSRF, problems
beside their fields, a 409 said in French; the scope of each CPias; cpias unreachable."""

from __future__ import annotations

import datetime as dt
import html
import logging
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from iaspipe.auth import AuthSettings
from schemas.events import utcnow
from services.cpias.adapters.orm import LinkRow
from services.cpias.app import create_app as cpias_create_app
from services.cpias.settings import CpiasSettings
from services.portal import service as portal_service
from services.portal.app import create_app
from services.portal.domain.claims import ClaimMapping, LoginRequest
from services.portal.settings import PortalSettings
from services.portal.web import cases as case_pages
from tests.events import opened_case, submitted
from tests.factories import declaration_in, finess_in, make_declaration
from tests.portal_support import add_account, csrf_of, joined, served, sign_in, text_of

NIR = "1 84 12 76 451 089 " + f"{97 - 1841276451089 % 97:02d}"
ARA, ARA2, ARA_OTHER, BRE = (
    "inv.ara@cpias.example",
    "collegue.ara@cpias.example",
    "autre.ara@cpias.example",
    "inv.bre@cpias.example",
)
OI = "inv.oi@cpias.example"
URGENT = {"criteria": ["1a", "2", "3"], "infection__deaths": 1}


class Switch(httpx.BaseTransport):
    """The portal's way to cpias: real HTTP to the cpias of the test running (each has its
    own database), or no answer at all when `down` is set."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.target = httpx.URL("http://127.0.0.1:9")
        self.down = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("refused", request=request)
        request.url = request.url.copy_with(host=self.target.host, port=self.target.port)
        return self.inner.handle_request(request)


@pytest.fixture(scope="module")
def switch() -> Switch:
    return Switch()


@pytest.fixture(scope="module")
def portal(
    tmp_path_factory: pytest.TempPathFactory, key_file: Path, switch: Switch
) -> Iterator[TestClient]:
    """One portal for the module, its accounts made once (argon2 takes its time)."""
    tmp = tmp_path_factory.mktemp("portal-cases")
    settings = PortalSettings(
        database_url=f"sqlite:///{tmp}/portal.db",
        auth=AuthSettings(local_key_file=key_file),
        cpias_url="http://cpias.invalid",
        intake_url="http://127.0.0.1:9",
    )
    app = create_app(settings, start_workers=False, cases_transport=switch)
    with TestClient(app) as client:
        add_account(app, ARA, "cpias_investigator", cpias="cpias-ara")
        add_account(app, ARA2, "cpias_investigator", cpias="cpias-ara")
        add_account(app, BRE, "cpias_investigator", cpias="cpias-bre")
        add_account(app, OI, "cpias_investigator", cpias="cpias-oi")
        add_account(app, "admin@ars.example", "admin")
        add_account(app, "claire@chu.example", finess="690781810")
        add_account(app, "ars@ars.example", "ars_viewer", region="84")
        yield client


@pytest.fixture
def cpias(tmp_path: Path, key_file: Path, switch: Switch) -> Iterator[FastAPI]:
    """A cpias of the test's own, on SQLite, served over HTTP; the portal's way leads to it."""
    settings = CpiasSettings(
        database_url=f"sqlite:///{tmp_path}/cpias.db", auth=AuthSettings(local_key_file=key_file)
    )
    cpias = cpias_create_app(settings, start_workers=False)
    with served(cpias) as url:
        switch.target, switch.down = httpx.URL(url), False
        yield cpias


@pytest.fixture
def client(portal: TestClient, cpias: FastAPI) -> TestClient:
    portal.cookies.clear()
    return portal


@pytest.fixture
def ara(client: TestClient) -> TestClient:
    assert sign_in(client, ARA).status_code == 200
    return client


class Opened:
    """Cases opened the way cpias's consumer opens them."""

    def __init__(self, cpias: FastAPI) -> None:
        self.cpias = cpias
        self.n = 0

    def __call__(
        self,
        body: dict[str, Any] | None = None,
        *,
        at: dt.datetime | None = None,
        received: dt.datetime | None = None,
    ) -> str:
        """A case opened `at` (now by default) for a declaration received `received` (when
        the case was opened by default)."""
        self.n += 1
        body = body or make_declaration()
        region = "53" if body["establishment"]["departement"] == "29" else "84"
        at = at or utcnow()
        env = submitted(
            body, reference=f"IAS-2026-{region}-{self.n:06d}", received_at=received or at
        )
        return opened_case(self.cpias.state.sessions, env, now=at)


@pytest.fixture
def opened(cpias: FastAPI) -> Opened:
    return Opened(cpias)


def post(client: TestClient, case_id: str, what: str, **fields: Any) -> httpx.Response:
    token = csrf_of(client.get(f"/cases/{case_id}"))
    return client.post(
        f"/cases/{case_id}/{what}", data={**fields, "csrf_token": token}, follow_redirects=False
    )


def field_messages(page: httpx.Response, dom_id: str) -> str:
    """The messages shown beside a field (its fr-messages-group)."""
    found = re.search(rf'id="{dom_id}-messages"[^>]*>(.*?)</div>', page.text, re.S)
    assert found, f"no messages for {dom_id}"
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1))).strip())


# -- the queue -----------------------------------------------------------------------------


def test_the_queue_shows_the_cpias_cases_urgent_first(ara: TestClient, opened: Opened) -> None:
    high = opened(declaration_in("38"))
    urgent = opened(make_declaration(**URGENT))
    brest = opened(declaration_in("29"))
    page = ara.get("/cases")
    assert page.status_code == 200
    rows = re.findall(r'<tr data-case="([^"]+)"', page.text)
    assert rows == [urgent, high]
    assert brest not in page.text
    text = text_of(page)
    for words in ("CHU Exemple", "FINESS 690781810", "1° a, 2°, 3°", "Urgente", "Élevée"):
        assert words in text
    # What an investigator triages on: the micro-organism, with its mechanism.
    assert "Micro-organismes</th>" in page.text
    assert '<td>Klebsiella pneumoniae <span class="portal-nowrap">OXA-48</span><br>' in queue_row(
        ara, urgent
    )
    # The two cases of the same micro-organism nearby were suggested together.
    # The link says what waits; read aloud, which case it is about.
    assert "Regroupement suggéré avec 1 dossier, à examiner (IAS-" in untagged(
        queue_row(ara, urgent)
    )
    assert "À prendre en compte" in text and "avant le" in text
    assert '<a class="fr-nav__link" href="/cases" aria-current="page">' in page.text
    assert "2 dossiers ouverts, les urgents d’abord" in text


def test_the_queue_counts_a_case_s_age_from_the_declaration_s_reception(
    ara: TestClient, opened: Opened
) -> None:
    """A declaration held up on its way (a broker outage) has waited since it was received:
    the queue shows that age, and puts it before a declaration received after it."""
    received = utcnow() - dt.timedelta(days=2)
    on_time = opened(at=utcnow() - dt.timedelta(hours=1))
    held_up = opened(received=received)
    page = ara.get("/cases")
    assert re.findall(r'<tr data-case="([^"]+)"', page.text) == [held_up, on_time]
    row = queue_row(ara, held_up)
    assert "Déclaration reçue le" in row and ">2 j<" in row


def test_overdue_cases_are_flagged(ara: TestClient, opened: Opened) -> None:
    opened(at=utcnow() - dt.timedelta(days=3))
    page = ara.get("/cases")
    assert "En retard" in text_of(page) and "3 j" in text_of(page)
    assert "En retard" in text_of(ara.get("/cases?overdue=on"))


def test_filters_stay_in_the_url_and_in_the_form(ara: TestClient, opened: Opened) -> None:
    opened(make_declaration(establishment__name="Clinique du Parc"))
    opened(make_declaration(**URGENT))
    page = ara.get("/cases", params={"q": "parc", "priority": "high", "status": "new"})
    assert re.findall(r'class="fr-link portal-reference"[^>]*>(IAS-2026-84-\d+)', page.text) == [
        "IAS-2026-84-000001"
    ]
    assert 'value="parc"' in page.text
    assert '<option value="high" selected>' in page.text
    assert '<option value="new" selected>' in page.text
    assert "Effacer les filtres" in page.text
    # One case: no order to speak of; the filters are said.
    assert "1 dossier correspondant aux filtres</caption>" in re.sub(r"\s+", " ", page.text)
    assert "les urgents d’abord" not in page.text
    poll = re.search(r'data-poll-url="([^"]+)"', page.text)
    assert poll and "q=parc" in poll.group(1) and "priority=high" in poll.group(1)
    assert "Aucun dossier ne correspond à ces filtres" in text_of(
        ara.get("/cases", params={"q": "nulle part"})
    )
    # Unknown values are ignored, not errors.
    assert ara.get("/cases", params={"status": "perdu", "page": "x"}).status_code == 200


def test_assignee_filters(ara: TestClient, opened: Opened) -> None:
    mine = opened()
    other = opened()
    assert post(ara, mine, "assignment", assignee="moi").status_code == 303
    assert post(ara, other, "assignment", assignee=ARA2).status_code == 303

    def ids(**params: str) -> list[str]:
        return re.findall(r'<tr data-case="([^"]+)"', ara.get("/cases", params=params).text)

    assert ids(assignee="moi") == [mine]
    assert ids(assignee=ARA2) == [other]
    assert ids(assignee="personne") == []
    page = ara.get("/cases")
    assert "collegue.ara" in text_of(page) and "inv.ara" in text_of(page)
    # A colleague of another CPias is not a choice.
    assert BRE not in page.text


def test_pages_keep_the_filters(
    ara: TestClient, opened: Opened, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(case_pages, "PAGE_SIZE", 2)
    for _ in range(5):
        opened()
    page = ara.get("/cases", params={"priority": "high"})
    # Each page opens at the list's caption (the focus goes there).
    assert 'href="/cases?priority=high&amp;page=2#resultats"' in page.text
    assert 'id="resultats" tabindex="-1"' in page.text
    assert 'aria-current="page" title="Page 1">1</a>' in page.text
    second = ara.get("/cases", params={"priority": "high", "page": "3"})
    assert len(re.findall(r'<tr data-case="', second.text)) == 1
    for odd in ("²", "9" * 5000, "-1", "0"):  # the first page, never a 500
        first = ara.get("/cases", params={"priority": "high", "page": odd})
        assert (
            first.status_code == 200 and 'aria-current="page" title="Page 1">1</a>' in first.text
        ), odd


def test_a_page_past_the_last_leads_to_the_last(
    ara: TestClient, opened: Opened, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its cases closed meanwhile (or an address typed): the last page that exists, for the
    page and for the table the page refreshes."""
    monkeypatch.setattr(case_pages, "PAGE_SIZE", 2)
    for _ in range(3):
        opened()
    gone = ara.get("/cases", params={"priority": "high", "page": "5"}, follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"] == "/cases?priority=high&page=2"
    since = "2026-11-23T10:00:00+00:00"
    polled = ara.get("/cases/results", params={"page": "5", "since": since}, follow_redirects=False)
    assert polled.headers["location"].startswith("/cases/results?page=2&since=2026-11-23T10")
    ara.get("/cases", params={"page": "2"})  # the last page is shown, not redirected
    assert ara.get("/cases", params={"page": "2"}, follow_redirects=False).status_code == 200


def test_the_fragment_counts_new_urgent_cases(ara: TestClient, opened: Opened) -> None:
    page = ara.get("/cases")
    poll = re.search(r'data-poll-url="([^"]+)"', page.text)
    assert poll
    url = poll.group(1).replace("&amp;", "&")
    since = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["since"][0]
    assert dt.datetime.fromisoformat(since).tzinfo is not None
    quiet = ara.get(url)
    assert quiet.status_code == 200 and "<html" not in quiet.text
    assert 'data-new-urgent="0"' in quiet.text
    urgent = opened(make_declaration(**URGENT))
    opened()
    fresh = ara.get(url)
    assert 'data-new-urgent="1"' in fresh.text and 'data-fresh="2"' in fresh.text
    assert f'<tr data-case="{urgent}" data-priority="urgent" class="portal-cases__fresh">' in (
        fresh.text
    )
    assert "2 nouveaux dossiers depuis l’ouverture de la page, dont 1 urgent" in text_of(fresh)


def test_only_investigators_and_admins_have_a_queue(client: TestClient, opened: Opened) -> None:
    for email in ("claire@chu.example", "ars@ars.example"):
        sign_in(client, email)
        refused = client.get("/cases")
        assert refused.status_code == 403 and "Accès refusé" in refused.text
        client.cookies.clear()
    opened()
    opened(declaration_in("29"))
    sign_in(client, "admin@ars.example")
    page = client.get("/cases")
    # The admin sees every CPias's cases, each saying which CPias has it.
    cpias_lines = re.findall(
        r'<span class="fr-text--xs portal-cases__cpias">([^<]+)</span>', joined(page.text)
    )
    assert sorted(cpias_lines) == [
        "Dossier du CPias Auvergne-Rhône-Alpes",
        "Dossier du CPias Bretagne",
    ]
    assert "Dossiers de tous les CPias" in text_of(page)
    assert len(re.findall(r'<tr data-case="', page.text)) == 2
    only = client.get("/cases", params={"cpias": "cpias-bre"})
    assert len(re.findall(r'<tr data-case="', only.text)) == 1


def test_signed_out_people_are_sent_to_sign_in(client: TestClient) -> None:
    r = client.get("/cases?status=new", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2Fcases%3Fstatus%3Dnew"


# -- a case's page -------------------------------------------------------------------------


def test_the_case_page_lays_out_the_declaration(ara: TestClient, opened: Opened) -> None:
    cid = opened()
    page = ara.get(f"/cases/{cid}")
    assert page.status_code == 200
    text = text_of(page)
    for words in (
        "Dossier IAS-2026-84-000001",
        "Klebsiella pneumoniae",
        "Bactériémie",
        "Deux patients de réanimation, chambres voisines",
        "attendue avant le",
        "Dossier ouvert, priorité élevée",
        "Aucune note pour le moment.",
        "(à l’instant)",
        "CPias de la région ; un établissement de santé déclare à l’ARS et au CPias en même temps",
    ):
        assert words in text, words
    assert "il y a à l’instant" not in text
    # No notifier in this test: the page is shown all the same, and says so where it would be.
    assert "La liste des courriels n’est pas disponible pour le moment." in text
    routed = re.search(r"Motif de transmission au CPias</th><td>(.*?)</td>", page.text)
    assert routed and "'" not in routed.group(1) and "&#39;" not in routed.group(1)
    assert '"declaration":' not in page.text and "{&#34;" not in page.text
    # Only the move allowed now.
    buttons = re.findall(r'name="to" value="([a-z]+)"', page.text)
    assert buttons == ["acknowledged"]
    assert "Accuser réception et prendre en compte" in text


def test_times_are_on_the_clock_of_the_reader(client: TestClient, opened: Opened) -> None:
    """An investigator of the CPias Océan Indien reads La Réunion's time, an admin Paris's."""
    received = dt.datetime(2026, 12, 1, 8, 5, tzinfo=dt.UTC)
    cid = opened(declaration_in("974"), received=received, at=received)
    assert sign_in(client, OI).status_code == 200
    text = text_of(client.get(f"/cases/{cid}"))
    assert "déclaration reçue le 01/12/2026 à 12 h 05" in text
    assert "Dossier ouvert le 01/12/2026 à 12 h 05" in text
    assert "Date (heure de La Réunion)" in text and "heure de Paris" not in text
    queue = text_of(client.get("/cases"))
    assert "avant le 02/12/2026 à 12 h 05" in queue  # high priority: within a day
    assert "Prise en compte (heure de La Réunion)" in queue
    assert "CPias Océan Indien — heures affichées : heure de La Réunion" in queue
    client.cookies.clear()
    assert sign_in(client, "admin@ars.example").status_code == 200
    text = text_of(client.get(f"/cases/{cid}"))
    assert "déclaration reçue le 01/12/2026 à 9 h 05" in text and "Date (heure de Paris)" in text
    assert "heures affichées" not in text_of(client.get("/cases"))


def test_moves_along_the_workflow_then_a_stale_move_is_said_in_french(
    ara: TestClient, opened: Opened
) -> None:
    cid = opened()
    token = csrf_of(ara.get(f"/cases/{cid}"))
    r = post(ara, cid, "transitions", to="acknowledged")
    assert r.status_code == 303 and r.headers["location"] == f"/cases/{cid}?info=moved#notice"
    page = ara.get(r.headers["location"])
    assert "Le dossier est maintenant « Pris en compte »" in text_of(page)
    # No change was given a comment yet: the history has no column for one.
    history = page.text.split('id="history"')[1].split("</table>")[0]
    assert "Commentaire" not in history
    assert re.findall(r'name="to" value="([a-z]+)"', page.text) == ["investigating"]
    # The same button again, from a page left open: cpias answers 409.
    stale = ara.post(f"/cases/{cid}/transitions", data={"to": "acknowledged", "csrf_token": token})
    assert stale.status_code == 409
    assert "Ce changement n’est plus possible : le dossier est maintenant « Pris en compte »" in (
        text_of(stale)
    )
    for to in ("investigating", "monitoring"):
        assert post(ara, cid, "transitions", to=to, reason="Dépistage terminé").status_code == 303
    page = ara.get(f"/cases/{cid}")
    assert re.findall(r'name="to" value="([a-z]+)"', page.text) == ["investigating", "closed"]
    assert "Reprendre l’investigation" in text_of(page)
    history = page.text.split('id="history"')[1].split("</table>")[0]
    assert "Commentaire" in history and "Dépistage terminé" in history


def test_closing_asks_for_the_outcome(ara: TestClient, opened: Opened) -> None:
    cid = opened()
    for to in ("acknowledged", "investigating", "monitoring"):
        post(ara, cid, "transitions", to=to)
    refused = post(ara, cid, "transitions", to="closed", reason="Fin du suivi")
    assert refused.status_code == 422
    assert "Choisissez l’issue du dossier avant de le clôturer" in field_messages(
        refused, "f-move-closed-outcome"
    )
    assert "Fin du suivi" in refused.text  # what was typed is kept
    done = post(ara, cid, "transitions", to="closed", outcome="controlled")
    assert done.status_code == 303
    page = ara.get(f"/cases/{cid}")
    assert "Épisode maîtrisé" in text_of(page) and "son statut ne change plus" in text_of(page)
    assert 'name="to"' not in page.text
    assert "il ne peut plus être attribué" in text_of(page) and 'id="assign-form"' not in page.text
    # Its priority is still said, in grey: it no longer calls for anything.
    badges = re.search(r'<div class="portal-badges.*?</div>', page.text, re.S)
    assert badges and re.search(r'<p class="fr-badge fr-badge--sm fr-badge--no-icon">', badges[0])
    # Notes and links stay open, and say the case is closed.
    assert 'id="note-form"' in page.text and 'id="link-form"' in page.text
    assert "Le dossier est clôturé : une note reste possible" in text_of(page)
    assert "Le dossier est clôturé : il peut encore être lié à un autre dossier" in text_of(page)
    assert post(ara, cid, "notes", kind="call", text="Résultat tardif reçu").status_code == 303


def test_notes_by_kind_and_a_nir_refused_beside_the_field(
    ara: TestClient, opened: Opened, caplog: pytest.LogCaptureFixture
) -> None:
    cid = opened()
    caplog.set_level(logging.DEBUG)
    refused = post(ara, cid, "notes", kind="call", text=f"Appel au service, patient {NIR}")
    assert refused.status_code == 422
    messages = field_messages(refused, "f-note-text")
    assert "numéro de sécurité sociale (NIR)" in messages and "R1413-80" in messages
    assert 'aria-invalid="true"' in refused.text
    assert f"patient {NIR}" in refused.text  # kept to be corrected
    born = post(ara, cid, "notes", kind="other", text="Patiente née le 12/03/1950")
    assert "R1413-80" in field_messages(born, "f-note-text")
    control = post(ara, cid, "notes", kind="other", text="Texte\x07")
    assert control.status_code == 422 and field_messages(control, "f-note-text")
    empty = post(ara, cid, "notes", kind="", text="Rappel prévu")
    assert empty.status_code == 422
    # said in French with the page's words, not with the API's codes
    assert field_messages(empty, "f-note-kind") == "Choisissez une des options proposées."
    blank = post(ara, cid, "notes", kind="call", text="")
    assert field_messages(blank, "f-note-text") == "Ce champ ne peut pas être vide."
    for kind, text in (
        ("call", "Appel à l’EOH"),
        ("site_visit", "Visite du service"),
        ("call", "Rappel"),
    ):
        r = post(ara, cid, "notes", kind=kind, text=text)
        assert r.status_code == 303 and r.headers["location"].endswith("?info=note#notice")
    # The notice of a saved note stands beside the notes, where the page opens.
    saved = ara.get(f"/cases/{cid}?info=note").text
    assert saved.count('id="notice"') == 1
    assert saved.index('id="notes"') < saved.index('id="notice"') < saved.index('id="notes-list"')
    shown = ara.get(f"/cases/{cid}")
    page = text_of(shown)
    assert "Notes (3)" in page and "3 notes, la plus récente d’abord." in page
    # One list in time order, the newest first, each note with its kind.
    listed = re.findall(
        r'<li class="portal-note" data-kind="(\w+)">\s*<p[^>]*><strong>([^<]+)</strong>.*?'
        r'<p class="portal-text fr-mb-0">([^<]+)</p>',
        html.unescape(shown.text),
        re.S,
    )
    assert listed == [
        ("call", "Appel téléphonique", "Rappel"),
        ("site_visit", "Visite sur place", "Visite du service"),
        ("call", "Appel téléphonique", "Appel à l’EOH"),
    ]
    assert NIR not in caplog.text and "Visite du service" not in caplog.text


def test_assign_to_me_to_a_colleague_and_to_nobody(ara: TestClient, opened: Opened) -> None:
    cid = opened()
    page = ara.get(f"/cases/{cid}")
    select = re.search(r'<select[^>]*id="f-assign-assignee".*?</select>', page.text, re.S)
    assert select
    options = re.findall(r'<option value="([^"]*)"', select.group(0))
    assert options == ["", "moi", ARA2, "personne"]  # not BRE, not oneself twice
    assert post(ara, cid, "assignment", assignee="moi").status_code == 303
    page = ara.get(f"/cases/{cid}?info=assigned")
    assert "L’attribution du dossier est enregistrée." in text_of(page)
    assert re.search(r'id="assignee">\s*inv\.ara', page.text)
    assert "M’attribuer ce dossier" not in page.text
    assert post(ara, cid, "assignment", assignee=ARA2).status_code == 303
    assert "Attribué à collegue.ara" in text_of(ara.get(f"/cases/{cid}"))
    refused = post(ara, cid, "assignment", assignee=BRE)
    assert refused.status_code == 422
    assert "Choisissez une personne de la liste." in field_messages(refused, "f-assign-assignee")
    assert post(ara, cid, "assignment", assignee="personne").status_code == 303
    assert "Attribution retirée" in text_of(ara.get(f"/cases/{cid}"))


def test_a_disabled_colleague_is_no_longer_offered_but_still_named(
    ara: TestClient, opened: Opened, portal: TestClient
) -> None:
    cid = opened()
    assert post(ara, cid, "assignment", assignee=ARA2).status_code == 303
    uow = portal.app.state.portal.uow  # type: ignore[attr-defined]
    portal_service.set_account_active(uow(), ARA2, active=False)
    try:
        page = ara.get(f"/cases/{cid}")
        select = re.search(r'<select[^>]*id="f-assign-assignee".*?</select>', page.text, re.S)
        assert select and ARA2 not in select.group(0)
        assert "Attribué à collegue.ara" in text_of(page)  # the history still names them
        refused = post(ara, cid, "assignment", assignee=ARA2)
        assert refused.status_code == 422
    finally:
        portal_service.set_account_active(uow(), ARA2, active=True)


def test_links_both_ways_and_an_unknown_reference(ara: TestClient, opened: Opened) -> None:
    esbl = [{"species": "Escherichia coli", "resistance": ["esbl"], "mechanism": None}]
    a, b = opened(declaration_in("38", infection__pathogens=esbl)), opened()
    brest = opened(declaration_in("29"))
    unknown = post(ara, a, "links", reference="IAS-2026-84-999999", kind="same_episode")
    assert unknown.status_code == 422
    assert (
        "Aucun dossier que vous puissiez lier ne porte cette référence : vérifiez-la"
        in field_messages(unknown, "f-link-reference")
    )
    other = post(ara, a, "links", reference="IAS-2026-53-000003", kind="same_episode")
    assert (
        "Aucun dossier que vous puissiez lier ne porte cette référence : vérifiez-la"
        in field_messages(other, "f-link-reference")
    )
    empty = post(ara, a, "links", reference=" ", kind="same_episode")
    assert "Saisissez la référence" in field_messages(empty, "f-link-reference")
    nir = post(ara, a, "links", reference="ias-2026-84-000002", kind="same_episode", reason=NIR)
    assert "R1413-80" in field_messages(nir, "f-link-reason")
    done = post(ara, a, "links", reference="ias-2026-84-000002", kind="same_episode")
    assert done.status_code == 303
    assert f'href="/cases/{b}">IAS-2026-84-000002' in ara.get(f"/cases/{a}").text
    assert f'href="/cases/{a}">IAS-2026-84-000001' in ara.get(f"/cases/{b}").text
    again = post(ara, b, "links", reference="IAS-2026-84-000001", kind="cluster")
    assert again.status_code == 409
    assert "Ces dossiers sont déjà liés : le lien figure parmi les dossiers liés" in field_messages(
        again, "f-link-reference"
    )
    itself = post(ara, b, "links", reference="IAS-2026-84-000002", kind="same_episode")
    assert itself.status_code == 409
    assert "Indiquez la référence d’un autre dossier" in field_messages(itself, "f-link-reference")
    assert brest not in ara.get(f"/cases/{a}").text


class ProviderOfOnePerson:
    """A stand-in identity provider (unit test of the sign-in's bookkeeping; the real one is
    in test_portal_oidc.py): it vouches for the claims given, whatever the code."""

    def __init__(self, claims: dict[str, Any]) -> None:
        self.claims = claims

    def start(self, next_url: str, now: dt.datetime) -> tuple[str, LoginRequest]:
        request = LoginRequest("state-" + next_url, "nonce", "verifier", next_url, now)
        return "https://provider.invalid/auth", request

    def finish(self, code: str, request: LoginRequest) -> dict[str, Any]:
        return self.claims


def test_an_investigator_known_from_the_provider_is_a_colleague(
    ara: TestClient, opened: Opened
) -> None:
    """Production keeps no local accounts: whoever signed in through the provider as an
    investigator of the CPias is offered as an assignee, and named in the history."""
    uow = ara.app.state.portal.uow  # type: ignore[attr-defined]
    provider = ProviderOfOnePerson(
        {
            "sub": "psc-810100000042",
            "name": "Dr Paul Girard",
            "iaspipe_role": "cpias_investigator",
            "cpias": "cpias-ara",
        }
    )
    _, state = portal_service.start_provider_sign_in(uow(), provider, next_url="/cases")
    portal_service.finish_provider_sign_in(
        uow(),
        provider,
        code="code",
        state=state,
        browser_state=state,
        mapping=ClaimMapping(),
        policy=portal_service.SessionPolicy(),
    )
    cid = opened()
    page = ara.get(f"/cases/{cid}")
    select = re.search(r'<select[^>]*id="f-assign-assignee".*?</select>', page.text, re.S)
    assert select and '<option value="psc-810100000042">Dr Paul Girard</option>' in select.group(0)
    assert post(ara, cid, "assignment", assignee="psc-810100000042").status_code == 303
    assert "Attribué à Dr Paul Girard" in text_of(ara.get(f"/cases/{cid}"))


def test_confirm_and_dismiss_cluster_suggestions(ara: TestClient, opened: Opened) -> None:
    first = opened(declaration_in("69"))
    second = opened(declaration_in("38"))
    third = opened(make_declaration(establishment__finess=finess_in("69", "2")))
    page = ara.get(f"/cases/{third}")
    text = text_of(page)
    assert "Suggestions à examiner" in text and "Regroupements (2 dossiers suggérés)" in text
    assert "Klebsiella pneumoniae OXA-48" in text
    # The queue marks a case with suggestions waiting, and leads to them.
    row = queue_row(ara, third)
    assert 'data-suggestions="2"' in row and f'href="/cases/{third}#suggestions"' in row
    assert "Regroupement suggéré avec 2 dossiers, à examiner" in untagged(row)
    assert "data-cluster" not in row
    named = post(ara, third, f"suggestions/{first}", decision="confirm", name=f"Patient {NIR}")
    assert named.status_code == 422
    assert "R1413-80" in field_messages(named, f"f-decide-{first}-name")
    ok = post(ara, third, f"suggestions/{first}", decision="confirm", name="OXA-48 Lyon nord")
    assert ok.status_code == 303 and ok.headers["location"].endswith("?info=confirmed#notice")
    page = ara.get(f"/cases/{third}")
    text = text_of(page)
    assert "Regroupement confirmé : OXA-48 Lyon nord" in text
    assert re.search(r"2 dossiers, épisodes survenus (le|du) \d\d/\d\d/2026", text)
    assert f'href="/cases/{first}">IAS-2026-84-000001' in page.text
    # In the queue: the cluster the case is in, and the suggestion still to examine.
    row = untagged(queue_row(ara, third))
    assert "Regroupement « OXA-48 Lyon nord »" in row
    assert "Regroupement suggéré avec 1 dossier, à examiner" in row
    # The link says who proposed it, beside its state: "Confirmé".
    links = re.search(r'<div class="fr-table[^"]*" id="links-table".*?</table>', page.text, re.S)
    assert links and "Confirmé" in links[0]
    assert "Proposé par la détection des cas groupés\u00a0: Klebsiella pneumoniae" in links[0]
    assert (
        "En confirmant, le dossier IAS-2026-84-000002 rejoint le regroupement « OXA-48 Lyon nord »"
        in text
    )
    dismissed = post(ara, third, f"suggestions/{second}", decision="dismiss")
    assert dismissed.headers["location"].endswith("?info=dismissed#notice")
    page = ara.get(f"/cases/{third}")
    assert "Aucune suggestion en attente." in text_of(page) and "Écarté" in text_of(page)
    assert "data-suggestions" not in queue_row(ara, third)
    assert "Regroupement « OXA-48 Lyon nord »" in untagged(queue_row(ara, third))
    stale = post(ara, third, f"suggestions/{second}", decision="dismiss")
    assert stale.status_code == 409 and "Cette suggestion est déjà" in text_of(stale)
    history = text_of(ara.get(f"/cases/{first}"))
    assert "Regroupement confirmé avec le dossier IAS-2026-84-000003" in history


def untagged(html_text: str) -> str:
    """The text of some HTML, tags left out."""
    return re.sub(r"<[^>]+>", "", html_text)


def queue_row(client: TestClient, case_id: str) -> str:
    """The case's row in the queue, spaces folded."""
    row = re.search(rf'<tr data-case="{case_id}".*?</tr>', client.get("/cases").text, re.S)
    assert row, f"{case_id} not in the queue"
    return re.sub(r"\s+", " ", row.group(0))


def confirm(client: TestClient, case_id: str, other: str, **fields: Any) -> None:
    """Confirm the suggestion of `other` on `case_id`'s page (with a `name` for a new cluster):
    the portal sends back to the case."""
    r = post(client, case_id, f"suggestions/{other}", decision="confirm", **fields)
    assert r.status_code == 303, r.text


def suggestion_form(page: str, case_id: str, other: str) -> str:
    form = re.search(
        rf'<form method="post" action="/cases/{case_id}/suggestions/{other}#.*?</form>', page, re.S
    )
    assert form, f"no suggestion of {other} on {case_id}"
    return re.sub(r"\s+", " ", joined(form.group(0)))


def suggestion_card(client: TestClient, case_id: str, other: str) -> str:
    """The suggestion of `other` as `case_id`'s page shows it now."""
    return suggestion_form(client.get(f"/cases/{case_id}").text, case_id, other)


def test_dismissing_a_clusters_card_dismisses_each_of_its_suggestions(
    ara: TestClient, opened: Opened
) -> None:
    first, second, third = (opened(declaration_in(d)) for d in ("69", "38", "69"))
    confirm(ara, first, third, name="OXA-48 Lyon")
    card = suggestion_card(ara, second, first)
    # A case id that is not a suggestion's, or not an id, changes nothing.
    r = post(ara, second, f"suggestions/{first}", decision="dismiss", also=[third, "x", second])
    assert r.status_code == 303 and r.headers["location"].endswith("?info=dismissed#notice")
    assert 'name="also"' in card
    page = ara.get(f"/cases/{second}")
    assert f"/cases/{second}/suggestions/" not in page.text
    assert "Aucune suggestion en attente." in text_of(page)
    # Both pairs are dismissed for good: the rule will not suggest them again.
    for other in (first, third):
        stale = post(ara, second, f"suggestions/{other}", decision="dismiss")
        assert stale.status_code == 409


def test_a_suggestion_says_the_cluster_the_other_case_is_in(
    ara: TestClient, opened: Opened
) -> None:
    """A suggestion whose other case is in a confirmed cluster says so: confirming joins it
    (no name asked), both in it already (the link only), or in another cluster (clusters are
    not merged: no confirm button)."""
    first, second, third = (opened(declaration_in(d)) for d in ("69", "38", "69"))
    fourth, fifth = opened(declaration_in("38")), opened(declaration_in("38"))
    confirm(ara, first, third, name="OXA-48 Lyon")

    page = ara.get(f"/cases/{second}").text
    joining = suggestion_form(page, second, first)
    assert (
        "Le dossier IAS-2026-84-000001 appartient déjà au regroupement « OXA-48 Lyon » : "
        "en confirmant, ce dossier-ci le rejoint." in joining
    )
    assert f'id="f-decide-{first}-name"' not in joining and 'value="confirm"' in joining
    # The suggestions toward one cluster are one card, one decision: joining settles the
    # suggestion with the cluster's other member too, and dismissing dismisses both.
    assert (
        "La suggestion avec IAS-2026-84-000003, du même regroupement, sera confirmée en même "
        "temps ; « Écarter ces suggestions » les écarte toutes." in joining
    )
    assert "IAS-2026-84-000003</a>" in joining and f'name="also" value="{third}"' in joining
    assert "Rejoindre le regroupement</button>" in joining and "Écarter ces suggestions" in joining
    second_page = text_of(ara.get(f"/cases/{second}"))
    assert (
        "Les dossiers d’un même regroupement confirmé sont présentés ensemble : rejoignez ce "
        "regroupement en une seule confirmation, ou écartez ses suggestions." in second_page
    )
    # Suggestions toward the cluster come first; a new cluster with another case would split
    # the outbreak, and its card says so.
    forms = re.findall(rf'action="/cases/{second}/suggestions/([0-9a-f-]+)#', page)
    assert forms[0] == first and set(forms[1:]) == {fourth, fifth}
    # The side menu counts the cases suggested, as the queue does: four, in three cards.
    assert "Regroupements (4 dossiers suggérés)" in text_of(ara.get(f"/cases/{second}"))
    assert "Regroupement suggéré avec 4 dossiers" in untagged(queue_row(ara, second))
    split = suggestion_form(page, second, fourth)
    assert (
        "Attention : d’autres dossiers proches appartiennent déjà à un regroupement confirmé, "
        "« OXA-48 Lyon ». Confirmer ici formerait un second regroupement" in split
    )
    assert f'id="f-decide-{fourth}-name"' in split
    # Its button says what it would do, and is not the card's main action.
    assert "Confirmer le regroupement" not in split
    assert re.search(r'class="fr-btn fr-btn--secondary[^"]*">Former un second regroupement<', split)
    confirm(ara, second, first)
    joined = ara.get(f"/cases/{second}")
    assert "Regroupement confirmé : OXA-48 Lyon" in text_of(joined)
    # Joining settled the suggestion with the cluster's other member: no form left for it.
    assert f"/cases/{second}/suggestions/{third}#" not in joined.text
    assert "Regroupement confirmé avec le dossier IAS-2026-84-000003" in text_of(joined)
    # In the cluster now: the cases still suggested would be added to it.
    assert "Confirmez ceux qui relèvent du regroupement « OXA-48 Lyon » pour les y ajouter" in (
        text_of(joined)
    )
    assert "Ajouter au regroupement</button>" in suggestion_form(joined.text, second, fourth)
    # A pair left pending by an earlier version still reads right.
    with opened.cpias.state.sessions.begin() as s:
        s.execute(
            update(LinkRow)
            .where(
                LinkRow.case_id == min(second, third), LinkRow.other_case_id == max(second, third)
            )
            .values(status="suggested")
        )
    together = suggestion_card(ara, second, third)
    assert (
        "Les deux dossiers sont déjà dans le regroupement « OXA-48 Lyon » : "
        "confirmer enregistre seulement le lien entre eux." in together
    )
    assert "Confirmer le lien</button>" in together

    confirm(ara, fourth, fifth, name="OXA-48 Isère")
    apart = suggestion_card(ara, fourth, first)
    assert (
        "Le dossier IAS-2026-84-000001 appartient à un autre regroupement, « OXA-48 Lyon » : "
        "deux regroupements ne se réunissent pas." in apart
    )
    assert 'value="confirm"' not in apart and 'value="dismiss"' in apart


def test_another_cpias_case_is_a_french_404(client: TestClient, opened: Opened) -> None:
    lyon = opened()
    brest = opened(declaration_in("29"))
    sign_in(client, BRE)
    page = client.get(f"/cases/{lyon}")
    assert page.status_code == 404
    assert "Page introuvable" in page.text and "ne relève pas de votre CPias" in page.text
    token = csrf_of(client.get(f"/cases/{brest}"))
    for what in ("transitions", "assignment", "notes", "links", f"suggestions/{brest}"):
        r = client.post(
            f"/cases/{lyon}/{what}",
            data={
                "to": "acknowledged",
                "assignee": "moi",
                "kind": "call",
                "text": "x",
                "reference": "IAS-2026-53-000002",
                "decision": "dismiss",
                "csrf_token": token,
            },
        )
        assert r.status_code == 404, what
    assert client.get("/cases/pas-un-dossier").status_code == 404
    queue = client.get("/cases").text
    assert brest in queue and lyon not in queue


def test_a_forms_address_opened_anew_leads_to_the_case(ara: TestClient, opened: Opened) -> None:
    cid = opened()
    r = ara.get(f"/cases/{cid}/notes", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/cases/{cid}"
    assert ara.get(f"/cases/{cid}/nothing").status_code == 404


def test_forms_need_the_csrf_token(ara: TestClient, opened: Opened) -> None:
    cid = opened()
    r = ara.post(f"/cases/{cid}/notes", data={"kind": "call", "text": "Appel"})
    assert r.status_code == 403
    assert "Ce formulaire a expiré" in r.text


def test_cpias_unreachable_is_said_in_french(
    ara: TestClient, opened: Opened, switch: Switch
) -> None:
    cid = opened()
    switch.down = True
    queue = ara.get("/cases")
    assert queue.status_code == 503 and "La liste ne peut pas être affichée" in queue.text
    page = ara.get(f"/cases/{cid}")
    assert page.status_code == 503
    assert "La gestion des dossiers du CPias ne répond pas" in page.text
