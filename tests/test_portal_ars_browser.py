"""The regional dashboard in Debian's Chromium on the real stack (broker, intake, router, cpias
and the portal as processes), with two regions seeded through intake: a year of declarations
of Auvergne-Rhône-Alpes and of Île-de-France (bench/synthetic.py, stored by intake's own
submission code, then published, routed and opened as cases by the running services), and
declarations of the day sent over HTTP. An ARS analyst of each region sees the chart and its
table, the alert, the cluster (and opens its page), filters the line list (with the mouse,
with the keyboard only, without JavaScript) and downloads the CSV; never the other region's.
Every page is checked by axe-core and kept as a screenshot under .artifacts/screenshots/
(prefix "ars")."""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import sessionmaker

from bench.synthetic import Generator
from iaspipe.db import make_engine
from schemas.events import utcnow
from schemas.reference import reference
from schemas.validation import check_declaration
from services.cpias.domain.workflow import Status
from tests.browser import Visit, clear_screenshots, eventually
from tests.conftest import Broker
from tests.factories import finess_in, make_declaration
from tests.pipeline import Pipeline
from tests.regions import FREE_TEXT, declare_at, move
from tests.test_portal_browser import PASSWORD, add_user

pytestmark = pytest.mark.e2e

LYON = "analyste@ars-ara.example"
PARIS = "analyste@ars-idf.example"
ADMIN = "admin@sante.example"
REFERENCE = re.compile(r"IAS-\d{4}-\d{2}-\d{6}")


def history(region_code: str, seed: int, background: int, outbreaks: int) -> list[Any]:
    """A year of a region's declarations, a few of them with criteria 1° b, 3° or 4°, each
    one that intake's rules accept."""
    today = utcnow().date()
    year = Generator(seed, region_code, start=today - dt.timedelta(days=364))
    out = []
    for i, s in enumerate(year.year(background=background, outbreaks=outbreaks, days=350)):
        body = copy.deepcopy(s.declaration)
        if i % 9 == 4:
            body["criteria"] = [*body["criteria"], "1b"]
        elif i % 13 == 6:
            body["criteria"] = [*body["criteria"], "3"]
            body["infection"]["deaths"] = 1
            body["infection"]["cases_infected"] = max(1, body["infection"]["cases_infected"])
            body["infection"]["sites"] = ["bacteraemia"]
        _, problems = check_declaration(body, ref=reference(), today=today)
        out.append((s.declaration if problems else body, s.received_at))
    return out


def of_the_day(departement: str, serial: str, **overrides: Any) -> dict[str, Any]:
    day = (utcnow() - dt.timedelta(days=2)).date().isoformat()
    return make_declaration(
        establishment__departement=departement,
        establishment__finess=finess_in(departement, serial),
        infection__onset_date=day,
        infection__detection_date=day,
        **overrides,
    )


class Seeded:
    def __init__(self) -> None:
        self.references: dict[str, set[str]] = {"84": set(), "11": set()}
        self.marseille = ""  # the reference of the Marseille case the Rhône cluster holds


def seed(p: Pipeline) -> Seeded:
    intake = sessionmaker(make_engine(f"sqlite:///{p.tmp}/intake.db"), expire_on_commit=False)
    received: dict[str, dt.datetime] = {}
    for region_code, seed_, background, outbreaks in (("84", 84, 110, 4), ("11", 11, 40, 1)):
        for body, at in history(region_code, seed_, background, outbreaks):
            received[declare_at(intake, body, at)] = at
    today = []
    for serial in "123":
        today.append(("84", of_the_day("69", serial)))
        today.append(("11", of_the_day("75", serial, establishment__name="Hôpital Paris Exemple")))
    vre = [{"species": "Enterococcus faecium", "resistance": ["gre"], "mechanism": "vanA"}]
    today.append(("84", of_the_day("38", "7", criteria=["1a"], infection__pathogens=vre)))
    # An OXA-48 case of Marseille (Provence-Alpes-Côte d’Azur), for the Rhône cluster.
    today.append(("93", of_the_day("13", "1", establishment__name="Hôpital de Marseille")))
    ids: dict[str, list[str]] = {"84": [], "11": [], "93": []}
    seeded = Seeded()
    for region_code, body in today:
        r = p.post("intake", "/v1/declarations", json=body)
        assert r.status_code == 201, r.text
        ids[region_code].append(r.json()["id"])
        if region_code == "93":
            seeded.marseille = r.json()["reference"]

    total = p.get("intake", "/v1/declarations", params={"limit": 1}).json()["total"]

    def all_opened() -> bool:
        return p.get("cpias", "/v1/cases", params={"limit": 1}).json()["total"] == total

    eventually(all_opened, timeout=120, what="a case for every declaration")

    def case_of(declaration_id: str) -> str:
        found = p.get("cpias", "/v1/cases", params={"declaration_id": declaration_id})
        return str(found.json()["items"][0]["id"])

    # A confirmed cluster in each region: two of the day's OXA-48 cases, suggested together;
    # the Marseille case joins the Rhône's.
    for region_code, name in (("84", "Cas groupés OXA-48 du Rhône"), ("11", "OXA-48 à Paris")):
        case = [case_of(d) for d in ids[region_code][:2]]
        r = p.post(
            "cpias",
            f"/v1/cases/{case[0]}/cluster-suggestions/{case[1]}",
            json={"decision": "confirm", "name": name},
        )
        assert r.status_code == 200, r.text
        if region_code == "84":
            cluster = r.json()["cluster"]["id"]
            joined = {"case_id": case_of(ids["93"][0])}
            r = p.post("cpias", f"/v1/clusters/{cluster}/members", json=joined)
            assert r.status_code == 201, r.text
    # The CPias acknowledged two thirds of the year's cases, 1 to 40 hours after their
    # submission; the others wait still.
    cpias = sessionmaker(make_engine(f"sqlite:///{p.tmp}/cpias.db"), expire_on_commit=False)
    cases = p.get("cpias", "/v1/cases", params={"limit": 500, "status": "new"}).json()["items"]
    for i, c in enumerate(c for c in cases if c["declaration_id"] in received):
        if i % 3:
            at = received[c["declaration_id"]] + dt.timedelta(hours=1 + (i * 7) % 40)
            move(cpias, c["id"], (Status.acknowledged, at))
    for region_code in seeded.references:
        page = p.get("intake", "/v1/line-list", params={"region": region_code, "limit": 1000})
        seeded.references[region_code] = {i["reference"] for i in page.json()["items"]}
    return seeded


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    broker = Broker()
    p = Pipeline(broker, tmp_path_factory.mktemp("ars-stack"))
    try:
        p.start("intake", "router", "cpias")
        p.start("portal")
        add_user(p, LYON, "--role", "ars_viewer", "--region", "84", "--name", "Inès Morel")
        add_user(p, PARIS, "--role", "ars_viewer", "--region", "11", "--name", "Paul Durand")
        add_user(p, ADMIN, "--role", "admin", "--name", "Administration nationale")
        p.seeded = seed(p)  # type: ignore[attr-defined]
        yield p
    finally:
        p.stop_all()
        broker.stop()
        log = p.log_text("portal")
        for text in (PASSWORD, *FREE_TEXT):
            assert text not in log


def references_on(text: str) -> set[str]:
    return set(REFERENCE.findall(text))


def read_csv(raw: bytes) -> list[dict[str, str]]:
    assert raw.startswith("\ufeff".encode()), raw[:20]
    text = raw.decode("utf-8-sig")
    for free in FREE_TEXT:
        assert free not in text
    return list(csv.DictReader(io.StringIO(text), delimiter=";"))


def test_an_ars_analyst_reads_its_region(browser: Any, stack: Pipeline) -> None:
    clear_screenshots("ars-")
    base, seeded = stack.url("portal"), stack.seeded  # type: ignore[attr-defined]
    v = Visit(browser, "ars-analyste")
    page = v.page
    v.sign_in(base, LYON, PASSWORD)
    assert page.url == f"{base}/ars"
    assert "Région Auvergne-Rhône-Alpes" in page.inner_text("#region-shown")
    chart = page.locator("svg[role='img']")
    assert chart.is_visible()
    assert "Déclarations par semaine et par critère" in (
        chart.locator("title").text_content() or ""
    )
    # A line per criterion met at least once: none for criterion 4, which no declaration meets.
    assert page.locator("polyline.portal-chart__line").count() == 4
    assert page.locator("polyline.portal-chart__line--c4").count() == 0
    assert "(0)\u00a0: aucune, pas de courbe" in page.inner_text("#chart-caption")
    alerts = page.inner_text("#threshold-alerts")
    assert "OXA-48" in alerts and "jours atteint, alerte levée le " in alerts
    assert "Cas groupés OXA-48 du Rhône" in page.inner_text("#clusters-table")
    main = page.inner_text("main")
    assert "OXA-48 à Paris" not in main and "Île-de-France" not in main
    assert "CPias Auvergne-Rhône-Alpes" in page.inner_text("#cases-table")
    v.look("tableau-de-bord")

    page.click("summary:has-text('Voir les nombres du graphique')")
    assert page.locator("#weekly-table tbody tr").count() == 52
    v.look("tableau-des-semaines")

    page.click("#ars-sections a:has-text('Liste des déclarations')")
    assert page.url == f"{base}/ars/declarations"
    shown = references_on(page.inner_text("#line-list"))
    assert len(shown) == 25 and shown <= seeded.references["84"]
    v.look("liste")
    page.select_option("#filter-departement", "38")
    page.select_option("#filter-criterion", "1a")
    page.click("button:has-text('Filtrer')")
    assert "departement=38" in page.url
    rows = page.locator("#line-list tbody tr")
    assert rows.count() >= 1
    for i in range(rows.count()):
        assert rows.nth(i).locator("td").nth(3).inner_text() == "38"
    v.look("liste-isere")

    with page.expect_download() as download:
        page.click("#export")
    path = download.value.path()
    assert download.value.suggested_filename.startswith("declarations-ias-region-84-")
    lines = read_csv(Path(path).read_bytes())
    assert {line["Département"] for line in lines} == {"38"}
    total = int(re.sub(r"\D", "", page.inner_text("#results").split("déclaration")[0]))
    assert len(lines) == total
    assert {line["Référence"] for line in lines} <= seeded.references["84"]

    # Asking for another region changes nothing: the page, the list and the export stay 84's.
    page.goto(f"{base}/ars?region=11")
    assert "Région Auvergne-Rhône-Alpes" in page.inner_text("#region-shown")
    assert "OXA-48 à Paris" not in page.inner_text("main")
    page.goto(f"{base}/ars/declarations?region=11")
    assert references_on(page.inner_text("#line-list")) <= seeded.references["84"]
    everything = read_csv(v.context.request.get(f"{base}/ars/export.csv?region=11").body())
    assert {line["Référence"] for line in everything} == seeded.references["84"]
    v.close()


def test_an_analyst_opens_a_cluster_from_the_dashboard(browser: Any, stack: Pipeline) -> None:
    base, seeded = stack.url("portal"), stack.seeded  # type: ignore[attr-defined]
    v = Visit(browser, "ars-regroupement")
    page = v.page
    v.sign_in(base, LYON, PASSWORD)
    assert page.url == f"{base}/ars"
    page.click("#clusters-table a:has-text('Cas groupés OXA-48 du Rhône')")
    assert re.fullmatch(rf"{re.escape(base)}/ars/regroupements/[0-9a-f-]{{36}}", page.url)
    assert page.inner_text("main h1") == "Regroupement «\u00a0Cas groupés OXA-48 du Rhône\u00a0»"
    summary = page.inner_text("#cluster-summary")
    assert "Dossiers\u00a0: 3" in summary and "(plusieurs régions)" in summary
    assert page.locator("#cluster-members tbody tr").count() == 3
    members = page.inner_text("#cluster-members")
    # The two Rhône cases with their reference and establishment; the Marseille one, of
    # another region, says only where and when.
    listed = references_on(members)
    assert len(listed) == 2 and listed <= seeded.references["84"]
    assert "Dossier hors de votre région" in members and "CPias Provence-Alpes" in members
    main = page.inner_text("main")
    assert seeded.marseille not in main and "Hôpital de Marseille" not in main
    for free in FREE_TEXT:
        assert free not in main
    v.look("regroupement")
    page.click("main a:has-text('Retour aux regroupements confirmés')")
    assert page.url == f"{base}/ars#regroupements"
    v.close()


def test_the_filters_with_the_keyboard_only(browser: Any, stack: Pipeline) -> None:
    base, seeded = stack.url("portal"), stack.seeded  # type: ignore[attr-defined]
    v = Visit(browser, "ars-clavier")
    page, keys = v.page, v.page.keyboard
    v.sign_in_with_keys(base, LYON, PASSWORD)
    assert page.url == f"{base}/ars"
    v.tab_to("#ars-sections a[href='/ars/declarations']")
    v.submit_with("Enter")
    assert page.url == f"{base}/ars/declarations"
    since = utcnow().date() - dt.timedelta(days=120)
    v.tab_to("#filter-since")
    keys.type(since.strftime("%d%m%Y"))
    assert page.input_value("#filter-since") == since.isoformat()
    v.tab_to("#filter-priority")
    keys.press("ArrowDown")
    keys.press("ArrowDown")  # "Élevée"
    assert page.input_value("#filter-priority") == "high"
    v.tab_to("#filter-criterion")
    keys.type("2")  # the select jumps to "2° — cas groupés"
    assert page.input_value("#filter-criterion") == "2"
    v.look("filtres-saisis")
    v.tab_to("#filters button[type='submit']")
    v.submit_with("Enter")
    assert f"since={since.isoformat()}" in page.url and "criterion=2" in page.url
    assert "priority=high" in page.url
    # The filtered list opens at its heading, which says how many it holds.
    page.wait_for_function("document.activeElement.id === 'results'", timeout=5000)
    assert "correspondant aux filtres" in page.inner_text("#results")
    listed = references_on(page.inner_text("main"))
    assert listed and listed <= seeded.references["84"]
    v.look("filtres-appliques")
    if page.locator(".fr-pagination__link--next[href]").count():
        v.tab_to(".fr-pagination__link--next[href]")
        v.submit_with("Enter")
        assert "page=2" in page.url and "criterion=2" in page.url
        page.wait_for_function("document.activeElement.id === 'results'", timeout=5000)
        v.look("page-2")
    v.tab_to("#export")
    with page.expect_download() as download:
        keys.press("Enter")
    lines = read_csv(Path(download.value.path()).read_bytes())
    assert lines and all("2°" in line["Critères"] for line in lines)
    assert all(line["Priorité"] == "Élevée" for line in lines)
    v.close()


def test_a_paris_analyst_sees_paris_only(browser: Any, stack: Pipeline) -> None:
    base, seeded = stack.url("portal"), stack.seeded  # type: ignore[attr-defined]
    v = Visit(browser, "ars-paris")
    page = v.page
    v.sign_in(base, PARIS, PASSWORD)
    assert "Région Île-de-France" in page.inner_text("#region-shown")
    assert "OXA-48 à Paris" in page.inner_text("#clusters-table")
    assert "Cas groupés OXA-48 du Rhône" not in page.inner_text("main")
    assert "Rhône" not in page.inner_text("#by-departement")
    v.look("tableau-de-bord")
    page.click("#ars-sections a:has-text('Liste des déclarations')")
    assert references_on(page.inner_text("#line-list")) <= seeded.references["11"]
    v.look("liste")
    lines = read_csv(v.context.request.get(f"{base}/ars/export.csv").body())
    assert {line["Référence"] for line in lines} == seeded.references["11"]
    v.close()


def test_an_admin_chooses_the_region(browser: Any, stack: Pipeline) -> None:
    base = stack.url("portal")
    v = Visit(browser, "ars-admin")
    page = v.page
    v.sign_in(base, ADMIN, PASSWORD)
    page.goto(f"{base}/ars")
    assert "Choisissez une région" in page.inner_text("main")
    v.look("choix-de-la-region")
    page.select_option("#region", "11")
    page.click("button:has-text('Afficher la région')")
    assert page.url == f"{base}/ars?region=11"
    assert "OXA-48 à Paris" in page.inner_text("#clusters-table")
    v.look("ile-de-france")
    page.click("#ars-sections a:has-text('Liste des déclarations')")
    assert page.url == f"{base}/ars/declarations?region=11"
    v.look("liste-ile-de-france")
    v.close()


def test_without_javascript(browser: Any, stack: Pipeline) -> None:
    base, seeded = stack.url("portal"), stack.seeded  # type: ignore[attr-defined]
    v = Visit(browser, "ars-sans-js", javascript=False)
    page = v.page
    v.sign_in(base, LYON, PASSWORD)
    assert page.locator("svg[role='img']").is_visible()
    page.click("summary:has-text('Voir les nombres du graphique')")
    assert page.locator("#weekly-table").is_visible()
    v.look("tableau-de-bord")
    page.click("#by-pathogen a >> nth=0")
    assert "pathogen=" in page.url
    pathogen = page.input_value("#filter-pathogen")
    assert pathogen
    assert references_on(page.inner_text("#line-list")) <= seeded.references["84"]
    v.look("liste-par-micro-organisme")
    v.close()
