"""Intake's regional figures and line list over HTTP, on SQLite and PostgreSQL: counts per ISO
week and criterion, breakdowns, the filtered line list and its cursor, scope by role, audit,
the migration that files older declarations, and (PostgreSQL) the indexes the queries use."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from iaspipe.db import make_engine, upgrade
from iaspipe.principal import Caller, Principal, Role
from schemas.events import utcnow
from schemas.reference import reference
from services.intake import service
from services.intake.adapters.orm import AuditEntry, DeclarationRow, FacetRow
from services.intake.adapters.uow import SqlIntakeUnitOfWork
from services.intake.app import MIGRATIONS, create_app
from services.intake.domain.figures import Asked, LineFilters, pathogen_name, week_of
from services.intake.settings import IntakeSettings
from tests.events import route_stored
from tests.factories import declaration_in, make_declaration
from tests.query_plans import assert_indexed, selects_on
from tests.regions import FREE_TEXT, declare_at
from tests.tokens import Tokens

PARIS = ZoneInfo("Europe/Paris")
ADMIN = Caller(Principal("admin.test", Role.admin))


@pytest.fixture
def app(database_url: str, auth_settings: Any) -> FastAPI:
    settings = IntakeSettings(
        database_url=database_url, auth=auth_settings, submit_rate_limit="1000/minute"
    )
    return create_app(settings, start_workers=False)


@pytest.fixture
def client(app: FastAPI, tokens: Tokens) -> Iterator[TestClient]:
    with TestClient(app) as c:
        c.headers.update(tokens.headers("admin", subject="admin.test"))
        yield c


def this_monday() -> dt.date:
    return week_of(utcnow().astimezone(PARIS).date())


def noon(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), tzinfo=PARIS)


def ars(tokens: Tokens, region: str) -> dict[str, str]:
    return tokens.headers("ars_viewer", region=region, subject=f"ars.{region}")


def test_weeks_and_criteria_of_the_region_only(
    client: TestClient, app: FastAPI, tokens: Tokens
) -> None:
    monday = this_monday()
    declare_at(app, make_declaration(criteria=["1a", "2"]), noon(monday))
    declare_at(app, make_declaration(criteria=["1a"]), noon(monday - dt.timedelta(weeks=1)))
    declare_at(app, declaration_in("38", criteria=["2"]), noon(monday - dt.timedelta(weeks=1)))
    declare_at(app, make_declaration(), noon(monday - dt.timedelta(weeks=52)))  # too old
    declare_at(app, declaration_in("75", criteria=["1b"]), noon(monday))  # another region

    r = client.get("/v1/stats/weekly", params={"region": "84"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["region_code"] == "84"
    weeks = body["weeks"]
    assert len(weeks) == 52
    assert weeks[-1]["week"] == monday.isoformat()
    assert weeks[0]["week"] == (monday - dt.timedelta(weeks=51)).isoformat()
    year, number, _ = monday.isocalendar()
    assert weeks[-1]["iso_week"] == f"{year}-W{number:02d}"
    assert weeks[-1]["total"] == 1
    assert weeks[-1]["by_criterion"] == {"1a": 1, "1b": 0, "2": 1, "3": 0, "4": 0}
    assert weeks[-2]["total"] == 2 and weeks[-2]["by_criterion"]["2"] == 1
    assert sum(w["total"] for w in weeks) == 3
    short = client.get("/v1/stats/weekly", params={"region": "84", "weeks": 2}).json()["weeks"]
    assert [w["total"] for w in short] == [2, 1]
    everywhere = client.get("/v1/stats/weekly").json()
    assert everywhere["region_code"] is None
    assert everywhere["weeks"][-1]["by_criterion"]["1b"] == 1
    # One département of the region: its weeks only.
    isere = client.get("/v1/stats/weekly", params={"region": "84", "departement": "38"}).json()
    assert isere["departement"] == "38"
    assert [w["total"] for w in isere["weeks"][-2:]] == [1, 0]
    assert isere["weeks"][-2]["by_criterion"]["2"] == 1
    # A département outside the caller's scope counts nothing.
    paris = client.get(
        "/v1/stats/weekly",
        params={"departement": "75"},
        headers=ars(tokens, "84"),
    ).json()
    assert sum(w["total"] for w in paris["weeks"]) == 0


def test_a_declaration_counts_on_its_departements_day(client: TestClient, app: FastAPI) -> None:
    """Sunday 23:30 UTC is Monday in Paris; 21:00 UTC is Monday 01:00 in La Réunion."""
    monday = this_monday()
    sunday_night = dt.datetime.combine(monday - dt.timedelta(days=1), dt.time(23, 30), dt.UTC)
    declare_at(app, make_declaration(), sunday_night)
    reunion = dt.datetime.combine(monday - dt.timedelta(days=1), dt.time(21, 0), dt.UTC)
    declare_at(app, declaration_in("974", establishment__kind="ES"), reunion)
    with app.state.sessions() as s:
        days = {r.departement: (r.received_on, r.week) for r in s.scalars(select(DeclarationRow))}
    assert days == {"69": (monday, monday), "974": (monday, monday)}
    assert client.get("/v1/stats/weekly", params={"region": "84"}).json()["weeks"][-1]["total"] == 1


def test_breakdown_by_departement_organism_resistance_mechanism_priority_and_status(
    client: TestClient, app: FastAPI
) -> None:
    today = utcnow().astimezone(PARIS).date()
    kpc = [{"species": "K. pneumoniae KPC-3", "resistance": ["cpe"], "mechanism": None}]
    vre = [{"species": "Enterococcus faecium", "resistance": ["gre"], "mechanism": "vanA"}]
    a = declare_at(app, make_declaration(), noon(today))  # Klebsiella pneumoniae OXA-48
    declare_at(app, make_declaration(infection__pathogens=kpc), noon(today))
    declare_at(app, declaration_in("38", infection__pathogens=vre), noon(today))
    declare_at(app, declaration_in("75"), noon(today))
    route_stored(app.state.sessions, a)

    r = client.get("/v1/stats/breakdown", params={"region": "84"})
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["total"] == 3 and b["until"] == today.isoformat()
    # By default the weeks of the weekly chart: from the Monday 51 weeks before this one.
    assert b["since"] == (week_of(today) - dt.timedelta(weeks=51)).isoformat()
    tally = {k: {t["key"]: t["count"] for t in v} for k, v in b.items() if k.startswith("by_")}
    assert tally["by_departement"] == {"69": 2, "38": 1}
    assert tally["by_pathogen"] == {"Klebsiella pneumoniae": 2, "Enterococcus faecium": 1}
    assert tally["by_resistance"] == {"cpe": 2, "gre": 1}
    assert tally["by_mechanism"] == {"OXA-48": 1, "KPC": 1, "vanA": 1}
    assert tally["by_criterion"] == {"1a": 3, "2": 3}
    assert tally["by_priority"] == {"": 2, "high": 1}  # two are not routed yet
    assert tally["by_status"] == {"submitted": 2, "routed": 1}
    # Most frequent first, and `top` cuts the lists.
    assert [t["key"] for t in b["by_departement"]] == ["69", "38"]
    top = client.get("/v1/stats/breakdown", params={"region": "84", "top": 1}).json()
    assert top["by_pathogen"] == [{"key": "Klebsiella pneumoniae", "count": 2}]
    # A period without them; a period upside down.
    past = client.get(
        "/v1/stats/breakdown",
        params={"region": "84", "since": "2020-01-01", "until": "2020-12-31"},
    ).json()
    assert past["total"] == 0 and past["by_pathogen"] == []
    upside = client.get(
        "/v1/stats/breakdown", params={"since": "2026-02-01", "until": "2026-01-01"}
    )
    assert upside.status_code == 422 and upside.json()["errors"][0]["path"] == "since"


@pytest.mark.parametrize("path", ["/v1/stats/breakdown", "/v1/line-list"])
def test_a_period_reversed_or_before_2000_is_a_422_naming_its_field(
    client: TestClient, path: str
) -> None:
    def problems(**params: str) -> list[tuple[str, str]]:
        r = client.get(path, params={"region": "84", **params})
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        return [(e["path"], e["rule"]) for e in r.json()["errors"]]

    assert problems(since="2026-03-02", until="2026-03-01") == [("since", "period_reversed")]
    # Beyond 2100: not a date of this domain.
    assert problems(until="9999-12-31") == [("until", "less_than_equal")]
    # Without an end date, the period ends today: a start after it says so.
    later = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    ahead = client.get(path, params={"region": "84", "since": later})
    assert ahead.status_code == 422
    assert ahead.json()["errors"][0]["message"] == "La date de début est postérieure à aujourd’hui."
    # The day before `until` by 52 weeks would not exist: refused, not a 500
    assert problems(until="0001-01-01") == [("until", "date_too_early")]
    assert problems(since="1999-12-31", until="0001-01-01") == [
        ("since", "date_too_early"),
        ("until", "date_too_early"),
    ]
    ok = client.get(path, params={"region": "84", "since": "2000-01-01", "until": "2000-12-31"})
    assert ok.status_code == 200, ok.text


def test_the_line_list_filters_pages_and_holds_no_free_text(
    client: TestClient, app: FastAPI
) -> None:
    today = utcnow().astimezone(PARIS).date()
    vre = [{"species": "Enterococcus faecium", "resistance": ["gre"], "mechanism": "vanA"}]
    ids = [
        declare_at(app, make_declaration(), noon(today) - dt.timedelta(hours=i)) for i in range(5)
    ]
    grenoble = declare_at(
        app,
        declaration_in("38", criteria=["1a"], infection__pathogens=vre),
        noon(today) - dt.timedelta(hours=10),
    )
    declare_at(app, declaration_in("75"), noon(today))
    route_stored(app.state.sessions, ids[0])

    page = client.get("/v1/line-list", params={"region": "84", "limit": 2}).json()
    assert page["total"] == 6 and page["region_code"] == "84"
    assert [i["id"] for i in page["items"]] == ids[:2]  # newest first
    row = page["items"][0]
    assert row["reference"].startswith("IAS-") and row["departement"] == "69"
    assert row["finess"] == "690781810" and row["establishment_name"] == "CHU Exemple"
    assert row["establishment_kind"] == "ES" and row["criteria"] == ["1a", "2"]
    assert row["pathogens"] == ["Klebsiella pneumoniae"] and row["resistances"] == ["cpe"]
    assert row["mechanisms"] == ["OXA-48"] and row["priority"] == "high"
    assert (row["cases_infected"], row["cases_colonised"], row["deaths"]) == (2, 3, 0)
    assert row["onset_date"] == "2026-11-10" and row["detection_date"] == "2026-11-12"
    assert "ars-84" in row["recipients"] and row["status"] == "routed"
    listed = json.dumps(page, ensure_ascii=False)
    for text_ in FREE_TEXT:
        assert text_ not in listed

    second = client.get("/v1/line-list", params={"region": "84", "limit": 2, "offset": 2}).json()
    assert [i["id"] for i in second["items"]] == ids[2:4]

    def only(**filters: str) -> list[str]:
        r = client.get("/v1/line-list", params={"region": "84", **filters})
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert only(departement="38") == [grenoble]
    assert only(criterion="2") == ids
    assert only(pathogen="Enterococcus faecium") == [grenoble]
    assert only(mechanism="OXA-48") == ids and only(mechanism="KPC") == []
    assert only(resistance="gre") == [grenoble] and only(resistance="cpe") == ids
    assert only(resistance="mrsa") == []
    assert client.get("/v1/line-list", params={"resistance": "vanA"}).status_code == 422
    assert only(departement="69", mechanism="OXA-48", priority="high") == [ids[0]]
    assert only(priority="high") == [ids[0]]
    assert only(status="submitted") == [*ids[1:], grenoble]
    assert only(since="2020-01-01", until="2020-12-31") == []
    assert only(departement="75") == []  # not in the region asked
    assert client.get("/v1/line-list", params={"criterion": "9"}).status_code == 422
    # Corsica's codes in any case, as declarations take them; a code that is none is refused.
    corsica = declare_at(app, declaration_in("2A"), noon(today))
    in_corsica = client.get("/v1/line-list", params={"region": "94", "departement": "2a"})
    assert [i["id"] for i in in_corsica.json()["items"]] == [corsica]
    weekly = client.get("/v1/stats/weekly", params={"region": "94", "departement": "2a"})
    assert (
        weekly.status_code == 200
        and weekly.json()
        == client.get("/v1/stats/weekly", params={"region": "94", "departement": "2A"}).json()
    )
    for wrong in ("2c", "2", "ab"):
        r = client.get("/v1/line-list", params={"region": "94", "departement": wrong})
        assert r.status_code == 422, wrong


def test_the_cursor_continues_whatever_arrives_meanwhile(client: TestClient, app: FastAPI) -> None:
    start = noon(utcnow().astimezone(PARIS).date()) - dt.timedelta(hours=12)
    ids = [declare_at(app, make_declaration(), start - dt.timedelta(minutes=i)) for i in range(5)]
    first = client.get("/v1/line-list", params={"limit": 2, "count": "false"}).json()
    assert first["total"] is None and first["next_cursor"]
    declare_at(app, make_declaration(), start + dt.timedelta(minutes=1))  # a newer one
    seen = [i["id"] for i in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = client.get("/v1/line-list", params={"limit": 2, "cursor": cursor}).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
    assert seen == ids
    # Not one this service wrote: unreadable, or holding a NUL where the declaration id
    # stands (it reached PostgreSQL: a 500).
    forged = base64.urlsafe_b64encode(b"2026-01-01T00:00:00+00:00|\x00abc").decode()
    for cursor in ("pas-un-curseur", forged):
        bad = client.get("/v1/line-list", params={"cursor": cursor})
        assert bad.status_code == 422 and bad.json()["errors"][0]["path"] == "cursor"


@pytest.mark.parametrize("path", ["/v1/stats/weekly", "/v1/stats/breakdown", "/v1/line-list"])
def test_scope_by_role(client: TestClient, app: FastAPI, tokens: Tokens, path: str) -> None:
    today = noon(utcnow().astimezone(PARIS).date())
    declare_at(app, make_declaration(), today)
    declare_at(app, declaration_in("75"), today)
    declare_at(app, declaration_in("75"), today)

    def total(headers: dict[str, str], **params: str) -> tuple[str | None, int]:
        r = client.get(path, params=params, headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        if "weeks" in body:
            return body["region_code"], sum(w["total"] for w in body["weeks"])
        return body["region_code"], body["total"]

    # An ARS viewer gets its own region, whatever it asks.
    assert total(ars(tokens, "84")) == ("84", 1)
    assert total(ars(tokens, "84"), region="11") == ("84", 1)
    assert total(ars(tokens, "11")) == ("11", 2)
    # An admin the region asked, or every one.
    assert total(tokens.headers("admin"), region="11") == ("11", 2)
    assert total(tokens.headers("admin")) == (None, 3)
    # An investigator its CPias's départements, whatever region it asks.
    investigator = tokens.headers("cpias_investigator", cpias="cpias-ara")
    assert total(investigator) == (None, 1)
    assert total(investigator, region="11") == ("11", 0)
    declarant = tokens.headers("declarant", finess="690781810")
    assert client.get(path, headers=declarant).status_code == 403
    assert client.get(path, headers={"Authorization": ""}).status_code == 401


def test_reads_are_audited(client: TestClient, app: FastAPI, tokens: Tokens) -> None:
    headers = ars(tokens, "84")
    for path in ("/v1/stats/weekly", "/v1/stats/breakdown", "/v1/line-list"):
        assert client.get(path, params={"region": "11"}, headers=headers).status_code == 200
    with app.state.sessions() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.subject == "ars.84")).all()
    assert [(e.action, e.object_type, e.object_id, e.role) for e in entries] == [
        ("read:figures", "declaration", "84", "ars_viewer"),
        ("read:figures", "declaration", "84", "ars_viewer"),
        ("list", "declaration", "84", "ars_viewer"),
    ]


@pytest.mark.parametrize(
    ("written", "counted"),
    [
        ("K. pneumoniae OXA-48", "Klebsiella pneumoniae"),
        ("SARM", "Staphylococcus aureus"),
        ("Candida auris (clade I)", "Candida auris"),
        # A Latin binomial beside a common name, on either side of the parentheses.
        ("Gale (Sarcoptes scabiei)", "Sarcoptes scabiei"),
        ("Sarcoptes scabiei (gale)", "Sarcoptes scabiei"),
        ("gale (sarcoptes  scabiei)", "Sarcoptes scabiei"),
        # Common names of agents without a binomial to go by.
        ("Gale", "Sarcoptes scabiei"),
        ("Grippe A", "Virus influenza A"),
        ("Virus influenza A", "Virus influenza A"),
        ("grippe  B", "Virus influenza B"),
        ("COVID-19", "SARS-CoV-2"),
        ("sars-cov-2", "SARS-CoV-2"),
        ("Cas groupés de grippe A (Virus influenza A)", "Virus influenza A"),
        # Nothing to go by: as written, spaces tidied.
        ("Norovirus  (GII.4)", "Norovirus (GII.4)"),
        ("Rotavirus", "Rotavirus"),
    ],
)
def test_the_name_an_organism_is_counted_under(written: str, counted: str) -> None:
    assert pathogen_name(written) == counted


def test_a_submission_over_http_is_filed_with_its_facets(client: TestClient, app: FastAPI) -> None:
    """On PostgreSQL this is the single-statement path (adapters/submissions.py)."""
    pathogens = [
        {"species": "Klebsiella pneumoniae", "resistance": ["cpe"], "mechanism": "OXA-48 + NDM-1"},
        {"species": "SARM", "resistance": ["mrsa"], "mechanism": None},
        {"species": "Candida auris (clade I)", "resistance": [], "mechanism": None},
    ]
    for _ in range(3):
        body = make_declaration(infection__pathogens=pathogens)
        assert client.post("/v1/declarations", json=body).status_code == 201
    with app.state.sessions() as s:
        facets = s.execute(select(FacetRow.kind, FacetRow.value, FacetRow.week)).all()
        days = s.execute(select(DeclarationRow.received_on, DeclarationRow.week)).all()
    today = utcnow().astimezone(PARIS).date()
    assert set(days) == {(today, week_of(today))}
    assert {(k, v) for k, v, _ in facets} == {
        ("criterion", "1a"),
        ("criterion", "2"),
        ("pathogen", "Klebsiella pneumoniae"),
        ("pathogen", "Staphylococcus aureus"),  # written SARM
        ("pathogen", "Candida auris"),  # a family of the cluster rule, not a mechanism
        ("resistance", "cpe"),
        ("resistance", "mrsa"),
        ("mechanism", "OXA-48"),
        ("mechanism", "NDM"),
        ("mechanism", "MRSA"),
    }
    assert len(facets) == 30
    b = client.get("/v1/stats/breakdown", params={"region": "84"}).json()
    assert {t["key"]: t["count"] for t in b["by_mechanism"]} == {"OXA-48": 3, "NDM": 3, "MRSA": 3}


def declarations_table_of_0005() -> sa.TableClause:
    json_columns = ("body", "recipients", "routing_decision")
    return sa.table(
        "declarations",
        *(
            sa.column(c, sa.JSON() if c in json_columns else None)
            for c in (
                "id",
                "reference",
                "region_code",
                "year",
                "sequence",
                "departement",
                "finess",
                "status",
                "received_at",
                "event_id",
                "submitted_by",
                "last_published_at",
                "publish_count",
                *json_columns,
            )
        ),
    )


def row_of_0005(
    i: int, at: dt.datetime, body: dict[str, Any], decision: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "id": f"{i:05d}",
        "reference": f"IAS-2026-84-{i:06d}",
        "region_code": "84",
        "year": 2026,
        "sequence": i,
        "departement": "69",
        "finess": "690781810",
        "status": "routed",
        "body": body,
        "received_at": at,
        "event_id": f"e-{i}",
        "submitted_by": "x",
        "recipients": [],
        "last_published_at": at,
        "publish_count": 1,
        "routing_decision": decision,
    }


def test_the_migration_files_declarations_stored_before_it(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine, MIGRATIONS, "0005")
    old = declarations_table_of_0005()
    at = dt.datetime(2026, 11, 22, 23, 30, tzinfo=dt.UTC)  # Monday 23 in Paris
    rows = [
        row_of_0005(i, at, make_declaration(), {"priority": "high"} if i % 2 else None)
        for i in range(1, 1203)  # more than one batch
    ]
    with engine.begin() as conn:
        conn.execute(sa.insert(old), rows)
    upgrade(engine, MIGRATIONS)
    with engine.connect() as conn:
        days = conn.execute(
            select(DeclarationRow.received_on, DeclarationRow.week, DeclarationRow.priority)
        ).all()
        facets = conn.execute(select(FacetRow.kind, FacetRow.value, FacetRow.week)).all()
    engine.dispose()
    monday = dt.date(2026, 11, 23)
    assert {(d, w) for d, w, _ in days} == {(monday, monday)}
    assert sorted({p for _, _, p in days}, key=str) == [None, "high"]
    assert len(facets) == 1202 * 5  # 1a, 2, the organism, cpe, OXA-48: once each
    assert {(k, v) for k, v, _ in facets} >= {("mechanism", "OXA-48"), ("criterion", "2")}


def test_on_postgresql_the_figures_use_their_indexes(pg_url: str) -> None:
    """30,000 declarations over three years and every region; each query of the figures
    and of the line list reads an index of the region, never the whole table."""
    engine = make_engine(pg_url)
    upgrade(engine, MIGRATIONS)
    with engine.begin() as conn:
        conn.execute(text(BULK_DECLARATIONS))
        conn.execute(text(BULK_FACETS))
        conn.execute(text("ANALYZE declarations; ANALYZE declaration_facets"))
    sessions = sa.orm.sessionmaker(engine)
    ref = reference()
    ars_caller = Caller(Principal("ars", Role.ars_viewer, region="84"))
    uow = SqlIntakeUnitOfWork(sessions)
    with selects_on(engine, "declaration") as statements:
        service.weekly_figures(uow, caller=ars_caller, ref=ref, region=None, weeks=52)
        service.declaration_breakdown(uow, caller=ars_caller, ref=ref, asked=Asked(), top=30)
        for filters in (
            LineFilters(),
            LineFilters(departement="38", criterion="2", pathogen="Klebsiella pneumoniae"),
        ):
            service.line_list(
                uow, caller=ars_caller, ref=ref, asked=Asked(), filters=filters, limit=50
            )
    assert len(statements) >= 12
    assert_indexed(engine, statements, "ix_declaration")
    engine.dispose()


# Every region, three years back from today, at noon UTC.
BULK_DECLARATIONS = """
INSERT INTO declarations (id, reference, region_code, year, sequence, departement, finess,
    status, body, received_at, event_id, submitted_by, recipients, last_published_at,
    publish_count, received_on, week, priority)
SELECT lpad(n::text, 36, '0'), 'IAS-2026-' || r.region || '-' || lpad(n::text, 6, '0'),
    r.region, 2026, n, r.dep, NULL, (ARRAY['routed', 'acknowledged', 'closed'])[1 + n % 3],
    '{"criteria": ["1a"], "establishment": {"name": "X", "kind": "ES"}, "infection": {}}',
    d::timestamptz + interval '12 hours', 'e' || n, 's', '[]', now(), 1, d,
    date_trunc('week', d)::date,
    (ARRAY['urgent', 'high', 'normal'])[1 + n % 3]
FROM generate_series(1, 30000) AS n
CROSS JOIN LATERAL (SELECT current_date - (n % 1095) AS d) AS day
CROSS JOIN LATERAL (
    SELECT (ARRAY['84','11','93','76','75','44','53','52','32','28','27','24','94'])[1 + n % 13]
        AS region,
           (ARRAY['69','75','13','31','33','44','35','49','59','76','21','45','2A'])[1 + n % 13]
        AS dep
) AS r
"""
BULK_FACETS = """
INSERT INTO declaration_facets (declaration_id, kind, value, region_code, departement,
    received_on, week)
SELECT id, k.kind, k.value, region_code, departement, received_on, week
FROM declarations
CROSS JOIN (VALUES ('criterion', '1a'), ('criterion', '2'),
                   ('pathogen', 'Klebsiella pneumoniae'), ('resistance', 'cpe')) AS k(kind, value)
"""


def test_c_auris_filed_as_a_mechanism_before_is_removed(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine, MIGRATIONS, "0005")
    at = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
    auris = [{"species": "Candida auris", "resistance": [], "mechanism": None}]
    body = make_declaration(infection__pathogens=auris)
    with engine.begin() as conn:
        conn.execute(sa.insert(declarations_table_of_0005()), [row_of_0005(1, at, body, None)])
    upgrade(engine, MIGRATIONS, "0006_regional_figures")
    day = dt.date(2026, 11, 23)
    with engine.begin() as conn:  # as revision 0006 filed it
        conn.execute(
            sa.insert(FacetRow.__table__),
            {
                "declaration_id": "00001",
                "kind": "mechanism",
                "value": "C. auris",
                "region_code": "84",
                "departement": "69",
                "received_on": day,
                "week": day,
            },
        )
    upgrade(engine, MIGRATIONS)
    with engine.connect() as conn:
        left = conn.execute(select(FacetRow.kind, FacetRow.value)).all()
    engine.dispose()
    assert ("mechanism", "C. auris") not in left
    assert sorted(left) == [("criterion", "1a"), ("criterion", "2"), ("pathogen", "Candida auris")]


def test_today_is_the_regions_own_and_for_all_regions_the_latest_reached() -> None:
    """Sunday 6 December 2026, 22:00 UTC: 23:00 in Paris, Monday 02:00 in La Réunion, 18:00
    in Guadeloupe. All regions together count up to the Monday La Réunion has reached."""
    from services.intake.domain.figures import region_today

    ref = reference()
    now = dt.datetime(2026, 12, 6, 22, 0, tzinfo=dt.UTC)
    sunday, monday = dt.date(2026, 12, 6), dt.date(2026, 12, 7)
    assert region_today("84", ref, now) == sunday
    assert region_today("04", ref, now) == monday
    assert region_today("01", ref, now) == sunday
    assert region_today(None, ref, now) == monday
