"""The regional dashboard in-process (docs/ars.md): the portal's pages with intake and cpias
served over real HTTP (workers off), two regions seeded. An ARS viewer sees its region's
figures, chart, breakdowns, cases, clusters and alerts, never another region's, whatever it
asks; the line list filters and pages; the CSV export has its BOM, its rows and no free
text; admins choose a region; other roles are refused. Then the pure rules: the chart's
scale, the filters, the CSV cells."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from cli.broker import free_port
from iaspipe.auth import AuthSettings
from iaspipe.principal import Role
from schemas.answers import (
    AcknowledgementTimes,
    CaseFigures,
    CpiasCaseFigures,
    DeclarationBreakdown,
    LineListRow,
    WeekFigures,
    WeeklyFigures,
)
from schemas.events import utcnow
from schemas.reference import reference, time_zone_of
from services.cpias.adapters.orm import CaseRow
from services.cpias.app import create_app as cpias_app
from services.cpias.settings import CpiasSettings
from services.intake.adapters.orm import DeclarationRow
from services.intake.app import create_app as intake_app
from services.intake.settings import IntakeSettings
from services.portal.app import create_app
from services.portal.domain import labels, region
from services.portal.domain.accounts import Person
from services.portal.settings import PortalSettings
from tests.events import route_stored
from tests.factories import finess_in, make_declaration
from tests.portal_support import add_account, served, sign_in
from tests.regions import FREE_TEXT, declare_at, open_case
from tests.tokens import Tokens

PARIS = ZoneInfo("Europe/Paris")
ARS_LYON = "analyste@ars-ara.example"
ARS_PARIS = "analyste@ars-idf.example"
ADMIN = "admin@sante.example"
DECLARANT = "claire.martin@chu.example"
INVESTIGATOR = "enqueteur@cpias-ara.example"
VRE = [{"species": "Enterococcus faecium", "resistance": ["gre"], "mechanism": "vanA"}]
MRSA = [{"species": "Staphylococcus aureus", "resistance": ["mrsa"]}]
ARS_MARSEILLE = "analyste@ars-paca.example"
INTERREGIONAL = "OXA-48 Marseille et Nantes"
REFS = {
    "Hôpital de Marseille 1": "IAS-2026-13-000101",
    "Hôpital de Marseille 2": "IAS-2026-13-000102",
    "Clinique de Nantes": "IAS-2026-44-000103",
}


def body_in(departement: str, serial: str = "0", **overrides: Any) -> dict[str, Any]:
    return make_declaration(
        establishment__departement=departement,
        establishment__finess=finess_in(departement, serial),
        **overrides,
    )


class World:
    """Intake and cpias over HTTP, seeded with two regions: Auvergne-Rhône-Alpes (84: 28
    declarations in the Rhône, one in the Isère) and Île-de-France (11: three in Paris);
    three OXA-48 cases and a confirmed cluster in each region; one Paris declaration is of
    an MRSA. Apart from both, a cluster of Provence-Alpes-Côte d’Azur that a case of Pays de
    la Loire joined (`_interregional`)."""

    def __init__(self, tmp: Path, key_file: Path) -> None:
        auth = AuthSettings(local_key_file=key_file)
        self.intake = intake_app(
            IntakeSettings(
                database_url=f"sqlite:///{tmp}/intake.db",
                auth=auth,
                submit_rate_limit="1000/minute",
            ),
            start_workers=False,
        )
        self.cpias = cpias_app(
            CpiasSettings(database_url=f"sqlite:///{tmp}/cpias.db", auth=auth),
            start_workers=False,
        )
        self.tokens = Tokens(key_file)
        self.references: dict[str, list[str]] = {"84": [], "11": []}
        self.interregional = ""  # the id of that cluster

    def seed(self) -> None:
        now = utcnow()
        today = now.astimezone(PARIS).date()
        noon = dt.datetime.combine(today, dt.time(12), PARIS)
        for i in range(28):  # two pages of the line list
            self._declare("84", body_in("69", str(i % 5)), noon - dt.timedelta(days=3 * i))
        self._declare(
            "84",
            body_in(
                "38",
                establishment__name="=Clinique du Parc",
                criteria=["1a"],
                infection__pathogens=VRE,
            ),
            noon - dt.timedelta(days=1),
        )
        for i in range(3):
            pathogens = {"infection__pathogens": MRSA} if i == 0 else {}
            self._declare(
                "11",
                body_in("75", str(i), establishment__name="Hôpital Paris Exemple", **pathogens),
                noon - dt.timedelta(days=i),
            )
        for dep, name in (("69", "Regroupement lyonnais"), ("75", "Regroupement parisien")):
            cases = [
                open_case(
                    self.cpias,
                    body_in(
                        dep,
                        serial,
                        infection__onset_date=today.isoformat(),
                        infection__detection_date=today.isoformat(),
                    ),
                    received=now - dt.timedelta(hours=30),
                    opened=now - dt.timedelta(hours=30),
                )
                for serial in "123"
            ]
            with TestClient(self.cpias) as c:
                r = c.post(
                    f"/v1/cases/{cases[0]}/cluster-suggestions/{cases[1]}",
                    json={"decision": "confirm", "name": name},
                    headers=self.tokens.headers("admin"),
                )
                assert r.status_code == 200, r.text
        self._interregional(now, today)

    def _interregional(self, now: dt.datetime, today: dt.date) -> None:
        """A cluster of two Marseille cases (Provence-Alpes-Côte d’Azur, 93) that a Nantes
        case (Pays de la Loire, 52), of an earlier episode, joined: the cases of neither
        seeded region, so their figures stay as they are."""

        def case(dep: str, serial: str, day: dt.date, name: str) -> str:
            body = body_in(
                dep,
                serial,
                establishment__name=name,
                infection__onset_date=day.isoformat(),
                infection__detection_date=day.isoformat(),
            )
            at = now - dt.timedelta(hours=30)
            return open_case(self.cpias, body, received=at, opened=at, reference_=REFS[name])

        earlier = today - dt.timedelta(days=6)
        marseille = [case("13", s, today, f"Hôpital de Marseille {s}") for s in "12"]
        nantes = case("44", "1", earlier, "Clinique de Nantes")
        admin = self.tokens.headers("admin")
        with TestClient(self.cpias) as c:
            r = c.post(
                f"/v1/cases/{marseille[0]}/cluster-suggestions/{marseille[1]}",
                json={"decision": "confirm", "name": INTERREGIONAL},
                headers=admin,
            )
            assert r.status_code == 200, r.text
            self.interregional = r.json()["cluster"]["id"]
            r = c.post(
                f"/v1/clusters/{self.interregional}/members",
                json={"case_id": nantes},
                headers=admin,
            )
            assert r.status_code == 201, r.text

    def _declare(self, region_code: str, body: dict[str, Any], at: dt.datetime) -> None:
        declaration_id = declare_at(self.intake, body, at)
        route_stored(self.intake.state.sessions, declaration_id)
        with self.intake.state.sessions() as s:
            from services.intake.adapters.orm import DeclarationRow

            row = s.get(DeclarationRow, declaration_id)
            assert row is not None
            self.references[region_code].append(row.reference)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, key_file: Path) -> Iterator[World]:
    w = World(tmp_path_factory.mktemp("ars"), key_file)
    with served(w.intake) as intake_url, served(w.cpias) as cpias_url:
        w.seed()
        w.urls = (intake_url, cpias_url)  # type: ignore[attr-defined]
        yield w


def portal(world: World, tmp: Path, key_file: Path, *, cpias_url: str | None = None) -> FastAPI:
    intake_url, served_cpias = world.urls  # type: ignore[attr-defined]
    return create_app(
        PortalSettings(
            database_url=f"sqlite:///{tmp}/portal.db",
            auth=AuthSettings(local_key_file=key_file),
            intake_url=intake_url,
            cpias_url=cpias_url or served_cpias,
        ),
        start_workers=False,
    )


@pytest.fixture(scope="module")
def app(
    world: World, tmp_path_factory: pytest.TempPathFactory, key_file: Path
) -> Iterator[FastAPI]:
    app = portal(world, tmp_path_factory.mktemp("portal"), key_file)
    with TestClient(app):  # the lifespan: the portal's tables
        add_account(app, ARS_LYON, "ars_viewer", region="84")
        add_account(app, ARS_PARIS, "ars_viewer", region="11")
        add_account(app, ARS_MARSEILLE, "ars_viewer", region="93")
        add_account(app, ADMIN, "admin")
        add_account(app, DECLARANT, "declarant", finess="690781810")
        add_account(app, INVESTIGATOR, "cpias_investigator", cpias="cpias-ara")
        yield app


def as_(app: FastAPI, email: str) -> TestClient:
    client = TestClient(app)
    sign_in(client, email)  # then home: /admin is another page's (404 until it exists)
    assert client.cookies.get("portal_session")
    return client


def test_an_ars_viewer_sees_its_region_and_only_its_region(app: FastAPI, world: World) -> None:
    lyon = as_(app, ARS_LYON)
    for asked in ("", "?region=11"):  # whatever it asks
        page = lyon.get(f"/ars{asked}")
        assert page.status_code == 200, page.text
        text = page.text
        assert "Région Auvergne-Rhône-Alpes" in text and "Île-de-France" not in text
        assert "(code 84)" not in text  # analysts know their region by its name
        signed_in = text.split('class="fr-text--sm fr-mb-2w portal-signed-in">')[1].split("</p>")[0]
        assert "— ARS Auvergne-Rhône-Alpes" in re.sub(r"<[^>]+>", "", signed_in)
        assert "84" not in signed_in
        # The chart, accessible, and its numbers in a table.
        assert 'role="img"' in text and '<title id="chart-title">' in text
        assert '<desc id="chart-desc">' in text and "critère de l’article R1413-79" in text
        # A line per criterion met at least once, a key per criterion.
        keys = re.findall(r"<span>Critère ([^<]+?) — [^<]*<strong>\(([\d\u202f]+)\)</strong>", text)
        assert len(keys) == 5
        met = [code for code, total in keys if total != "0"]
        assert text.count("<polyline ") == len(met) and len(met) < 5
        assert all(
            f"portal-chart__line--c{c.replace('° ', '').replace('°', '')}" in text for c in met
        )
        assert text.count('<th scope="row">S') == 52
        # This week, the table's first row, is still going on.
        assert text.count("(en cours)") == 1
        week = text.split('<th scope="row">S')[1].split("</th>")[0]
        assert week.endswith('<span class="fr-text--xs">(en cours)</span>')
        # The chart says it too: its bar hatched, "en cours" over it, in its description
        # (read by screen readers), its caption and its legend.
        current = week.split(" <span")[0]  # "49 2026"
        svg = text.split("<svg")[1].split("</svg>")[0]
        assert svg.count("portal-chart__bar--partial") == 1 and 'id="chart-partial"' in svg
        assert re.search(r'text-anchor="end">en cours</text>', svg)
        said = f"La semaine S{current}, la dernière, est en cours\u00a0: ses nombres sont partiels"
        assert said in svg.split("</desc>")[0]
        caption = text.split('id="chart-caption"')[1].split("</figcaption>")[0]
        assert (
            f"La dernière semaine, S{current}, est en cours\u00a0: ses nombres sont partiels"
            in caption
        )
        assert f"Semaine en cours (S{current}), incomplète" in caption
        # Breakdowns, cases, clusters, the alert: the region's own.
        assert "69 — Rhône" in text and "38 — Isère" in text and "75 — Paris" not in text
        assert "Enterococcus faecium" in text and "Klebsiella pneumoniae" in text
        assert "CPias Auvergne-Rhône-Alpes" in text and "Île-de-France" not in text
        assert "Regroupement lyonnais" in text and "Regroupement parisien" not in text
        assert "Seuil d’alerte atteint" in text and "3 épisodes OXA-48" in text
        banner = text.split('id="threshold-alerts"')[1].split("</div>")[0]
        assert "Rhône" in banner
        assert re.search(
            r"en 30 jours atteint, alerte levée le \d\d/\d\d/\d{4} à\s\d{1,2}\sh\s\d\d", banner
        ), banner
        assert "Dossiers suivis par le CPias Auvergne-Rhône-Alpes." in banner
        assert "toute la période" not in banner  # its three episodes are within the window
        assert "Hôpital Paris Exemple" not in text
        for free in FREE_TEXT:
            assert free not in text
    # 29 declarations over 52 weeks at most: the key figure.
    text = lyon.get("/ars").text
    assert '<p class="fr-card__desc portal-figure">29</p>' in text
    # The open cases whatever their date: the three of the cluster's département, none
    # acknowledged yet, opened 30 hours ago.
    figures = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text.split('id="key-figures"')[1]))
    assert re.search(
        r"Dossiers en cours 3 à ce jour, quelle que soit leur date ; dont 3 pas encore pris en "
        r"compte, parmi lesquels 3 en retard",
        figures,
    ), figures[:400]
    # Every card says its period.
    monday = re.findall(r"Du (\d\d/\d\d/\d{4}) au ", text)[0]
    today = dt.datetime.now(PARIS).strftime("%d/%m/%Y")
    details = re.findall(r'<p class="fr-card__detail">([^<]+)</p>', html.unescape(text))
    assert details[0] == f"reçues du {monday} au {today}"
    assert details[1].startswith("à ce jour, quelle que soit leur date\u00a0; ")
    assert details[2] == f"aucun dossier pris en compte depuis le {monday}"
    assert details[3] == (
        "confirmé par les CPias à ce jour, quelle que soit la date de leurs épisodes\u00a0: cas "
        "groupés entre établissements"
    )
    clusters = text.split('id="clusters-table"')[1].split("</table>")[0]
    assert "<td>69 — Rhône</td>" in clusters and ">Dossiers</th>" in clusters
    # One period for every section: from the Monday of the chart's first week.
    first = re.findall(r"Du (\d\d/\d\d/\d{4}) au ", text)
    assert len(first) == 1 and f"pris en compte depuis le {first[0]}" in text
    assert dt.datetime.strptime(first[0], "%d/%m/%Y").date().weekday() == 0  # a Monday


def test_mrsa_is_said_a_phenotype_among_the_mechanisms(app: FastAPI, world: World) -> None:
    """The mechanism breakdown counts the cluster rule's families, MRSA among them: its row
    says it is a resistant phenotype, and a note says why it is there and how its count
    differs from the resistance table's; the filter lists it the same way."""
    text = html.unescape(as_(app, ARS_PARIS).get("/ars").text)
    mechanisms = text.split('id="by-mechanism"')[1].split("</table>")[0]
    assert re.search(r">SARM \(phénotype\)</a>\s*</td>\s*<td[^>]*>1</td>", mechanisms)
    resistances = text.split('id="by-resistance"')[1].split("</table>")[0]
    assert ">SARM</a>" in resistances  # the resistance ticked, as before
    assert (
        "SARM\u00a0: un phénotype, la résistance de Staphylococcus aureus à la méticilline" in text
    )
    # Lyon counts no MRSA: no note.
    assert 'id="by-mechanism-note"' not in as_(app, ARS_LYON).get("/ars").text
    listed = html.unescape(
        as_(app, ARS_PARIS).get("/ars/declarations", params={"mechanism": "MRSA"}).text
    )
    assert "1 déclaration correspondant aux filtres" in listed
    assert '<option value="MRSA" selected>SARM (phénotype)</option>' in listed
    # Elsewhere (the alert banner, the clusters, the line's resistances) SARM stays short.
    assert region.mechanism_label("MRSA") == "SARM"


def test_the_weekly_chart_of_one_departement(app: FastAPI, world: World) -> None:
    """The chart shows the region, or one of its départements chosen above it; a
    département of another region shows the region's."""
    lyon = as_(app, ARS_LYON)

    def charted(query: str) -> tuple[str, int]:
        text = html.unescape(lyon.get(f"/ars{query}").text)
        title = re.search(r'<title id="chart-title">([^<]+)</title>', text)
        assert title, text[:300]
        rows = re.findall(
            r'<th scope="row">S[^<]*(?:<span[^>]*>[^<]*</span>)?</th>\s*<td>[^<]*</td>\s*'
            r'<td class="fr-cell--right">(\d+)</td>',
            text,
        )
        return title.group(1), sum(int(n) for n in rows)

    region, total = charted("")
    assert region == "Déclarations par semaine et par critère" and total == 29
    isere, in_isere = charted("?departement=38")
    assert isere == "Déclarations par semaine et par critère, département 38 — Isère"
    assert 0 < in_isere < total
    page = lyon.get("/ars?departement=38").text
    assert '<option value="38" selected>38 — Isère</option>' in page
    # The rest of the page stays the region's.
    assert '<p class="fr-card__desc portal-figure">29</p>' in page
    assert charted("?departement=75") == (region, total)


def test_the_line_list_filters_and_pages(app: FastAPI, world: World) -> None:
    lyon = as_(app, ARS_LYON)
    first = lyon.get("/ars/declarations")
    assert first.status_code == 200
    assert "29 déclarations" in first.text
    assert first.text.count("<tr>") == 26  # the heading row and a page of 25
    assert 'href="/ars/declarations?page=2#results"' in first.text
    second = lyon.get("/ars/declarations?page=2")
    assert second.text.count("<tr>") == 5
    assert "29 déclarations, page 2 sur 2</h2>" in second.text  # said where the focus lands
    # A page past the last (the list shrank, an address typed) leads to the last one.
    past = lyon.get("/ars/declarations?page=9&departement=69", follow_redirects=False)
    assert past.status_code == 303
    assert past.headers["location"] == "/ars/declarations?departement=69&page=2"
    isere_past = lyon.get("/ars/declarations?page=9&departement=38", follow_redirects=False)
    assert isere_past.headers["location"] == "/ars/declarations?departement=38&page=1"
    shown = first.text + second.text
    assert all(ref in shown for ref in world.references["84"])
    assert not any(ref in shown for ref in world.references["11"])

    isere = lyon.get("/ars/declarations", params={"departement": "38"})
    assert "1 déclaration correspondant aux filtres" in isere.text
    assert "=Clinique du Parc" in isere.text and "ERG, vanA" in isere.text
    # The filters are kept by the export link and the form.
    assert 'href="/ars/export.csv?departement=38"' in isere.text
    assert '<option value="38" selected>' in isere.text
    assert (
        "Enterococcus faecium"
        in lyon.get("/ars/declarations", params={"pathogen": "Enterococcus faecium"}).text
    )
    assert "0 déclaration" in lyon.get("/ars/declarations", params={"criterion": "4"}).text
    # By mechanism family, as the breakdown counts them: the choices are the period's.
    oxa = lyon.get("/ars/declarations", params={"mechanism": "OXA-48"}).text
    assert "28 déclarations correspondant aux filtres" in oxa
    assert '<option value="OXA-48" selected>OXA-48</option>' in oxa
    assert '<option value="vanA">vanA</option>' in oxa
    # The dashboard's threshold alert leads there.
    dashboard = lyon.get("/ars").text
    assert 'href="/ars/declarations?mechanism=OXA-48"' in dashboard  # the breakdown's link
    board = dashboard.split('id="threshold-alerts"')[1].split("</div>")[0]
    link = re.search(
        r'href="(/ars/declarations\?[^"]+)">Voir les déclarations correspondantes', board
    )
    assert (
        link and html.unescape(link.group(1)) == "/ars/declarations?departement=69&mechanism=OXA-48"
    )
    followed = lyon.get(html.unescape(link.group(1))).text
    assert "28 déclarations correspondant aux filtres" in followed
    # The resistance breakdown leads to the list filtered on it too.
    assert 'href="/ars/declarations?resistance=gre"' in dashboard
    gre = lyon.get("/ars/declarations", params={"resistance": "gre"}).text
    assert '<option value="gre" selected>ERG</option>' in gre
    assert "correspondant aux filtres" in gre and "Enterococcus faecium" in gre
    assert "Klebsiella pneumoniae" not in gre.split('id="line-list"')[1]
    # The results say which filters made them, in words.
    named = re.search(r'id="results-filters">([^<]+)<', followed)
    assert named and html.unescape(named.group(1)) == (
        "Filtres appliqués — département\u00a0: 69 — Rhône\u00a0; "
        "mécanisme de résistance\u00a0: OXA-48."
    )
    assert 'id="results-filters"' not in first.text
    high = lyon.get("/ars/declarations", params={"priority": "high", "status": "routed"})
    assert "29 déclarations correspondant aux filtres" in high.text
    assert "statut\u00a0: Transmise." in html.unescape(high.text)
    # Another region's département is not a choice; a wrong date says so beside its field.
    wrong = lyon.get(
        "/ars/declarations", params={"departement": "75", "since": "31/02/2026", "region": "11"}
    )
    assert wrong.status_code == 200
    assert "29 déclarations" in wrong.text
    assert 'id="filter-departement" name="departement" aria-invalid="true"' in wrong.text
    assert "Choisissez une valeur de la liste." in wrong.text
    assert "Date invalide\u00a0: saisissez-la au format jj/mm/aaaa." in wrong.text
    recent = lyon.get("/ars/declarations", params={"since": "2000-01-01", "until": "2000-12-31"})
    assert "Aucune déclaration ne correspond à ces filtres." in recent.text


def _csv(response: Any) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith(
        'attachment; filename="declarations-ias-region-'
    )
    raw = response.content
    assert raw.startswith("\ufeff".encode())  # the byte order mark: spreadsheets read UTF-8
    text = raw.decode("utf-8-sig")
    assert "\r\n" in text
    for free in FREE_TEXT:
        assert free not in text
    return list(csv.reader(io.StringIO(text), delimiter=";"))


def test_a_line_of_the_list_opens_the_declaration_read_only(app: FastAPI, world: World) -> None:
    """The page the line list leads to, and the ARS's overdue e-mail: the declaration and its
    timeline, without the declarant's complement form; another region's is not found."""
    lyon = as_(app, ARS_LYON)
    listed = lyon.get("/ars/declarations", params={"departement": "38"}).text
    link = re.search(r'href="(/declarations/[0-9a-f-]{36})">(IAS-[0-9-]+)</a>', listed)
    assert link, listed
    page = lyon.get(link.group(1))
    assert page.status_code == 200
    assert f"Déclaration {link.group(2)}" in page.text and "=Clinique du Parc" in page.text
    assert "Ajouter un complément" not in page.text and "Envoyer le complément" not in page.text
    assert '<a class="fr-breadcrumb__link" href="/ars/declarations">Liste des déclarations</a>' in (
        page.text
    )
    assert "Mes déclarations" not in page.text
    assert 'href="/ars" aria-current="page">Tableau de bord régional' in page.text
    # Its status in the line list's words: a dossier the CPias has not acknowledged yet.
    declaration_id = link.group(1).rsplit("/", 1)[1]
    with world.intake.state.sessions.begin() as session:
        row = session.get(DeclarationRow, declaration_id)
        before, row.status = row.status, "received_by_cpias"
    try:
        shown = lyon.get(link.group(1)).text
        assert ">Pas encore prise en compte</span>" in shown and "Reçue par le CPias" not in shown
    finally:
        with world.intake.state.sessions.begin() as session:
            session.get(DeclarationRow, declaration_id).status = before
    paris = as_(app, ARS_PARIS)
    assert paris.get(link.group(1)).status_code == 404


def test_the_status_column_speaks_as_the_dashboard_does(app: FastAPI, world: World) -> None:
    """The line list's status is the declaration's, which follows its CPias dossier once
    received: a dossier not acknowledged yet is said in the dashboard's words ("pas encore
    pris en compte"), in the column, the filter and the export, and the note under the table
    says what the column shows."""
    text = html.unescape(as_(app, ARS_LYON).get("/ars/declarations").text)
    table = text.split('id="line-list"')[1].split("</table>")[0]
    assert ">Statut</th>" in table and table.count(">Transmise</p>") == 25
    assert '<option value="received_by_cpias">Pas encore prise en compte</option>' in text
    assert '<option value="acknowledged">Prise en compte</option>' in text
    assert "Reçue par le CPias" not in text
    assert (
        "Statut\u00a0: «\u00a0Envoyée\u00a0» ou «\u00a0Transmise\u00a0» tant que le CPias n’a pas "
        "reçu la déclaration, puis l’état de son dossier au CPias, celui que comptent les "
        "«\u00a0Dossiers des CPias\u00a0»"
    ) in text
    assert region.status_label("received_by_cpias") == ("Pas encore prise en compte", "new")
    assert set(region.STATUSES) == set(labels.STATUSES)
    assert region.status_label("unknown") == ("unknown", "info")


def test_the_export_holds_the_filtered_rows_of_the_region_only(app: FastAPI, world: World) -> None:
    lyon = as_(app, ARS_LYON)
    rows = _csv(lyon.get("/ars/export.csv", params={"region": "11"}))
    heading, *lines = rows
    assert heading[:3] == ["Référence", "Reçue le (heure de Paris)", "Début des signes"]
    assert "Destinataires" in heading and len(lines) == 29
    assert {line[0] for line in lines} == set(world.references["84"])
    row = dict(zip(heading, lines[0], strict=True))
    assert row["Département"] == "69" and row["Critères"] == "1° a, 2°"
    assert row["Micro-organismes"] == "Klebsiella pneumoniae" and row["Mécanismes"] == "OXA-48"
    assert row["Résistances"] == "EPC" and row["Priorité"] == "Élevée"
    assert row["Statut"] == "Transmise"
    assert (row["Cas infectés"], row["Cas colonisés"], row["Décès"]) == ("2", "3", "0")
    assert "ARS Auvergne-Rhône-Alpes" in row["Destinataires"]
    assert row["Début des signes"] == "10/11/2026"
    isere = _csv(lyon.get("/ars/export.csv", params={"departement": "38"}))
    assert len(isere) == 2
    # A name a spreadsheet would take for a formula is written as text.
    assert dict(zip(isere[0], isere[1], strict=True))["Établissement"] == "'=Clinique du Parc"
    paris = _csv(as_(app, ARS_PARIS).get("/ars/export.csv"))
    assert {line[0] for line in paris[1:]} == set(world.references["11"])


def test_a_period_intake_refuses_is_said_beside_its_field(app: FastAPI, world: World) -> None:
    """A start date after today is a well-formed date the portal passes on; intake refuses
    the period (422). The page says so beside "Reçues à partir du", not that the service is
    down, and the export gives the same page rather than a file."""
    lyon = as_(app, ARS_LYON)
    later = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    for path in ("/ars/declarations", "/ars/export.csv"):
        r = lyon.get(path, params={"since": later})
        assert r.status_code == 422, path
        assert "ne répond pas" not in r.text
        beside = re.search(r'id="filter-since-error">([^<]*)', r.text)
        assert beside and "postérieure à aujourd’hui" in html.unescape(beside.group(1)), path
        assert "Corrigez le filtre signalé" in r.text


def test_admins_choose_a_region(app: FastAPI, world: World) -> None:
    admin = as_(app, ADMIN)
    choose = admin.get("/ars")
    assert choose.status_code == 200
    assert "Choisissez une région" in choose.text and 'id="chart-title"' not in choose.text
    assert '<option value="11">Île-de-France</option>' in choose.text
    assert "Choisissez une région" in admin.get("/ars?region=99").text
    paris = admin.get("/ars?region=11")
    assert "Région Île-de-France" in paris.text and "Regroupement parisien" in paris.text
    assert "Regroupement lyonnais" not in paris.text
    assert 'href="/ars/declarations?region=11"' in paris.text
    listed = admin.get("/ars/declarations?region=11")
    assert "3 déclarations" in listed.text
    assert 'href="/ars/export.csv?region=11"' in listed.text
    assert 'type="hidden" name="region" value="11"' in listed.text
    assert admin.get("/ars/export.csv").status_code == 404  # no region chosen
    # An admin reads the line list's times on Paris's clock, named under the column's heading
    # (an ARS analyst's is their region's: Person.clock).
    assert 'Reçue le<span class="portal-clock"> (heure de Paris)</span>' in listed.text
    # The export of a region overseas is on that region's clock, whoever asks for it.
    guyane = admin.get("/ars/export.csv", params={"region": "03"})
    assert _csv(guyane)[0][1] == "Reçue le (heure de la Guyane)"
    assert "declarations-ias-region-03-" in guyane.headers["content-disposition"]


def members_of(text: str) -> list[str]:
    """The rows of a cluster page's table of cases, as text, in their order."""
    table = text.split('id="cluster-members"')[1].split("</tbody>")[0].split("<tbody>")[1]
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)
    return [re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", r))).strip() for r in rows]


def test_a_cluster_opens_from_the_dashboard_with_its_cases(app: FastAPI, world: World) -> None:
    marseille = as_(app, ARS_MARSEILLE)
    board = marseille.get("/ars")
    assert board.status_code == 200, board.text
    clusters = board.text.split('id="clusters-table"')[1].split("</table>")[0]
    href = f"/ars/regroupements/{world.interregional}"
    assert f'href="{href}">{INTERREGIONAL}</a></th>' in clusters
    assert "13 — Bouches-du-Rhône, 44 — Loire-Atlantique" in clusters  # named, either region
    page = marseille.get(href)
    assert page.status_code == 200, page.text
    text = page.text
    assert f"<h1>Regroupement «\u00a0{INTERREGIONAL}\u00a0»</h1>" in text
    assert 'href="/ars#regroupements"' in text  # back to the dashboard's clusters
    summary = re.sub(r"<[^>]+>", "", text.split('id="cluster-summary"')[1].split("</ul>")[0])
    assert "Micro-organisme et mécanisme\u00a0: Klebsiella pneumoniae OXA-48" in summary
    assert "Dossiers\u00a0: 3" in summary
    assert "13 — Bouches-du-Rhône, 44 — Loire-Atlantique (plusieurs régions)" in summary
    assert re.search(
        r"Santé publique France\u00a0: Informée le \d\d/\d\d/\d{4} à\s\d{1,2}\sh\s\d\d", summary
    )
    earlier = (dt.datetime.now(PARIS).date() - dt.timedelta(days=6)).strftime("%d/%m/%Y")
    rows = members_of(text)
    # The earliest episode first: the Nantes case, of another region, says where and when only.
    assert rows[0] == (
        f"{earlier} 44 — Loire-Atlantique CPias Pays de la Loire — Dossier hors de votre région"
    )
    assert "Clinique de Nantes" not in text and REFS["Clinique de Nantes"] not in text
    assert (
        "1 dossier hors de votre région\u00a0: seuls son département, son CPias et la date" in text
    )
    assert len(rows) == 3
    for row, serial in zip(rows[1:], "12", strict=True):
        name = f"Hôpital de Marseille {serial}"
        assert row.startswith(dt.datetime.now(PARIS).strftime("%d/%m/%Y") + " 13 — Bouches")
        assert "CPias Provence-Alpes-Côte d’Azur" in row and name in row
        assert f"FINESS {finess_in('13', serial)}" in row and row.endswith(
            f"{REFS[name]} (ouvrir la déclaration)"
        )
        # Its reference opens its declaration, as a line of the list does.
        link = re.search(rf'href="/declarations/([0-9a-f-]{{36}})">{REFS[name]}<span', text)
        assert link, name
        with world.cpias.state.sessions() as s:
            found = select(CaseRow.declaration_id).where(CaseRow.reference == REFS[name])
            assert s.scalar(found) == link[1]
    assert text.count('href="/declarations/') == 2  # none for the other region's case
    for free in FREE_TEXT:
        assert free not in text
    # An admin reads every case of it, and its links keep the region shown.
    admin = as_(app, ADMIN)
    board = admin.get("/ars?region=93")
    assert f'href="{href}?region=93">{INTERREGIONAL}</a>' in board.text
    seen = admin.get(f"{href}?region=93")
    assert seen.status_code == 200 and 'href="/ars?region=93#regroupements"' in seen.text
    assert "Clinique de Nantes" in seen.text and "Dossier hors de votre région" not in seen.text


def test_a_cluster_out_of_scope_or_unknown_is_not_found(app: FastAPI, world: World) -> None:
    lyon = as_(app, ARS_LYON)
    for path in (
        f"/ars/regroupements/{world.interregional}",  # no case of it in the region
        f"/ars/regroupements/{world.interregional}?region=93",  # whatever it asks
        "/ars/regroupements/00000000-0000-4000-8000-000000000000",
        "/ars/regroupements/pas-un-identifiant",
    ):
        r = lyon.get(path)
        assert r.status_code == 404, path
        assert "Page introuvable" in r.text and INTERREGIONAL not in r.text


@pytest.mark.parametrize("email", [DECLARANT, INVESTIGATOR])
def test_other_roles_are_refused(app: FastAPI, email: str) -> None:
    client = as_(app, email)
    cluster = "/ars/regroupements/00000000-0000-4000-8000-000000000000"
    for path in ("/ars", "/ars/declarations", "/ars/export.csv", cluster):
        r = client.get(path)
        assert r.status_code == 403 and "Accès refusé" in r.text


def test_signed_out_people_are_sent_to_sign_in(app: FastAPI) -> None:
    r = TestClient(app).get("/ars/declarations?departement=69", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2Fars%2Fdeclarations%3Fdepartement%3D69"


def test_a_service_that_does_not_answer_is_said(
    world: World, tmp_path: Path, key_file: Path
) -> None:
    app = portal(world, tmp_path, key_file, cpias_url=f"http://127.0.0.1:{free_port()}")
    with TestClient(app) as client:
        add_account(app, ARS_LYON, "ars_viewer", region="84")
        sign_in(client, ARS_LYON)
        r = client.get("/ars")
        assert r.status_code == 503
        assert "Le tableau de bord ne peut pas être affiché" in r.text
        r = client.get("/ars/regroupements/00000000-0000-4000-8000-000000000000")
        assert r.status_code == 503
        assert "Le regroupement ne peut pas être affiché" in r.text
        # The line list needs intake only.
        assert client.get("/ars/declarations").status_code == 200


# -- the pure rules ----------------------------------------------------------------------------


def test_the_region_shown() -> None:
    regions = reference().region_codes
    ars = Person("a", Role.ars_viewer, region="84")
    admin = Person("b", Role.admin)
    assert region.viewed_region(ars, "11", regions) == "84"
    assert region.viewed_region(admin, "11", regions) == "11"
    assert region.viewed_region(admin, "99", regions) is None
    assert region.viewed_region(admin, None, regions) is None


def test_the_chart_scale_and_ticks() -> None:
    assert region.nice_scale(0) == (4, 1)
    assert region.nice_scale(3) == (3, 1)
    assert region.nice_scale(7) == (8, 2)
    assert region.nice_scale(23) == (25, 5)
    assert region.nice_scale(1234) == (1500, 500)
    monday = dt.date(2026, 11, 30)
    weeks = [
        WeekFigures(
            week=monday - dt.timedelta(weeks=51 - i),
            iso_week="",
            total=i % 3,
            by_criterion={"1a": i % 3, "1b": 0, "2": 1 if i == 50 else 0, "3": 0, "4": 0},
        )
        for i in range(52)
    ]
    chart = region.weekly_chart(WeeklyFigures(region_code="84", weeks=weeks))
    assert [t.label for t in chart.y_ticks] == ["0", "1", "2"]
    # The first week, then every fourth week ending on this one; the year under the first
    # week shown of each year.
    assert len(chart.x_ticks) == 14 and chart.x_ticks[-1].label == "S49"
    assert [(t.label, t.detail) for t in chart.x_ticks[:3]] == [
        ("S50", "2025"),
        ("S01", "2026"),
        ("S05", ""),
    ]
    assert [t.detail for t in chart.x_ticks if t.detail] == ["2025", "2026"]
    # A bar for each week with declarations, lines over them; this week's, the last, is
    # partial, and marked so.
    assert len(chart.bars) == len([w for w in weeks if w.total]) and chart.total == 51
    assert weeks[-1].total == 0 and not any(b.partial for b in chart.bars)
    assert chart.current == "S49 2026" and chart.current_mark is not None
    assert chart.current_mark.y == pytest.approx(region.BOTTOM - 6)  # over an empty week
    busy = region.weekly_chart(
        WeeklyFigures(
            region_code="84", weeks=[*weeks[:-1], weeks[-1].model_copy(update={"total": 2})]
        )
    )
    assert [b.partial for b in busy.bars].count(True) == 1 and busy.bars[-1].partial
    assert busy.current_mark is not None
    assert busy.current_mark.y == pytest.approx(busy.bars[-1].y - 6)
    assert "La semaine S49 2026, la dernière, est en cours : ses nombres sont partiels" in (
        chart.description
    )
    # This week without declarations has no bar to hatch: the words say so.
    assert not chart.current_bar and busy.current_bar
    assert "(aucune déclaration pour l’instant)" in chart.description
    assert "(sa barre est hachurée)" in busy.description
    assert chart.description.endswith("Les mêmes nombres figurent dans le tableau qui suit.")
    assert chart.rows[0].label == "S49 2026" and chart.rows[-1].label == "S50 2025"
    first = chart.series[0].points.split()[0]
    band = (region.RIGHT - region.LEFT) / 52  # each week's point in the middle of its band
    assert first == f"{region.LEFT + band / 2:.1f},{region.BOTTOM:.1f}"
    assert "51 au total, au plus 2 en une semaine (S52 2025)." in chart.description
    assert "critère 2°, 1 au total, au plus 1 (S48 2026) ;" in chart.description
    assert "critère 4°, aucune." in chart.description


def test_the_filters_as_asked() -> None:
    departements = ["69", "38"]
    f = region.ListFilters.read(
        {
            "since": "01/10/2026",
            "until": "2026-11-30",
            "departement": "38",
            "pathogen": " E. coli ",
        },
        departements,
    )
    assert f.query() == {
        "since": "2026-10-01",
        "until": "2026-11-30",
        "departement": "38",
        "pathogen": "E. coli",
    }
    assert f.problems == {}
    bad = region.ListFilters.read(
        {"since": "2026-12-01", "until": "2026-11-01", "departement": "75", "status": "x"},
        departements,
    )
    assert bad.query() == {"since": "2026-12-01"}
    assert set(bad.problems) == {"until", "departement", "status"}
    assert region.page_numbers(1, 1) == [1]
    assert region.page_numbers(1, 4) == [1, 2, None, 4]
    assert region.page_numbers(5, 120) == [1, None, 4, 5, 6, None, 120]
    assert region.duration_fr(None) == "—" and region.duration_fr(5.0) == "5 h"
    assert region.duration_fr(26.5) == "26,5 h" and region.duration_fr(80) == "3,3 jours"
    assert region.number_fr(12345) == "12\u202f345"


def test_csv_cells() -> None:
    row = LineListRow(
        id="1",
        reference="IAS-2026-84-000001",
        status="closed",
        received_at=dt.datetime(2026, 11, 30, 23, 30, tzinfo=dt.UTC),
        region_code="84",
        departement="69",
        finess=None,
        establishment_name='Cabinet "Le Parc"; Lyon',
        establishment_kind="ville",
        criteria=["3"],
        priority=None,
        onset_date=None,
        detection_date=dt.date(2026, 11, 29),
        last_case_date=None,
        pathogens=[],
        resistances=["other"],
        mechanisms=[],
        cases_infected=1,
        cases_colonised=0,
        deaths=1,
        recipients=["ars-84", "spf"],
    )
    heading, line = list(region.csv_lines([row], reference()))
    assert heading.startswith("\ufeffRéférence;Reçue le (heure de Paris);")
    cells = next(csv.reader(io.StringIO(line), delimiter=";"))
    assert cells[:4] == ["IAS-2026-84-000001", "01/12/2026 00:30", "", "29/11/2026"]
    assert cells[6] == 'Cabinet "Le Parc"; Lyon'
    assert cells[-3:] == [
        "Pas encore routée",
        "Clôturée",
        "ARS Auvergne-Rhône-Alpes, Santé publique France",
    ]
    assert region.csv_line(["-1", "@x", "ok"]) == "'-1;'@x;ok\r\n"
    # A region overseas: its own clock, named in the heading (the file travels).
    reunion = row.model_copy(update={"region_code": "04", "departement": "974"})
    heading, line = list(region.csv_lines([reunion], reference(), time_zone_of("974")))
    assert heading.startswith("\ufeffRéférence;Reçue le (heure de La Réunion);")
    assert line.startswith("IAS-2026-84-000001;01/12/2026 03:30;")


def test_every_key_figure_says_its_period() -> None:
    day = dt.date(2025, 12, 8)
    breakdown = DeclarationBreakdown(
        region_code="84",
        since=day,
        until=dt.date(2026, 12, 4),
        total=1234,
        **{f"by_{k}": [] for k in ("departement", "criterion", "pathogen", "resistance")},
        **{f"by_{k}": [] for k in ("mechanism", "priority", "status")},
    )
    cases = CaseFigures(
        region_code="84",
        by_cpias=[CpiasCaseFigures(cpias="cpias-ara", open=5, new=0, overdue=0)],
        acknowledgement=AcknowledgementTimes(
            since=day, acknowledged=12, median_hours=5.0, p90_hours=26.5
        ),
    )
    cards = region.key_figures(breakdown, cases, 2)
    assert [(c.heading, c.figure) for c in cards] == [
        ("Déclarations", "1\u202f234"),
        ("Dossiers en cours", "5"),
        ("Délai médian", "5 h"),
        ("Regroupements", "2"),
    ]
    assert cards[0].detail == "reçues du 08/12/2025 au 04/12/2026"
    assert cards[1].detail == "à ce jour, quelle que soit leur date ; tous pris en compte"
    assert cards[2].detail == (
        "de la déclaration à sa prise en compte par le CPias, pour les 12 dossiers pris en "
        "compte depuis le 08/12/2025 ; 90 % en moins de 26,5 h"
    )
    assert cards[3].detail.startswith("confirmés par les CPias à ce jour, quelle que soit")


def test_an_alert_spread_beyond_its_window_says_it_was_extended() -> None:
    day = dt.date(2026, 10, 1)
    assert not region.spread_beyond_window(day, day + dt.timedelta(days=30), 30)
    assert region.spread_beyond_window(day, day + dt.timedelta(days=31), 30)


def test_an_alert_leads_to_its_declarations() -> None:
    assert region.alert_query("69", "OXA-48") == {"departement": "69", "mechanism": "OXA-48"}
    assert region.alert_query("75", "C. auris") == {
        "departement": "75",
        "pathogen": "Candida auris",
    }
