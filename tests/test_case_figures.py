"""CPias's regional figures over HTTP, on SQLite and PostgreSQL: open, new and overdue cases by
CPias, the time from submission to acknowledgement (median, 90th percentile), scope by role,
audit; clusters and alerts narrowed to a region for admins; (PostgreSQL) the indexes used."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from iaspipe.db import make_engine, upgrade
from iaspipe.principal import Caller, Principal, Role
from schemas.events import utcnow
from services.cpias import figures
from services.cpias.adapters.orm import AuditEntry
from services.cpias.adapters.uow import SqlCpiasUnitOfWork
from services.cpias.app import MIGRATIONS
from services.cpias.domain.workflow import Status
from tests.factories import declaration_in, finess_in, make_declaration
from tests.query_plans import assert_indexed, selects_on
from tests.regions import move, open_case
from tests.tokens import Tokens


def test_open_new_and_overdue_cases_by_cpias(
    cpias_app: Any, cpias_client: TestClient, tokens: Tokens
) -> None:
    now = utcnow()
    long_ago = now - dt.timedelta(days=10)
    app = cpias_app
    late = open_case(app, make_declaration(), received=long_ago, opened=long_ago)  # overdue
    open_case(app, declaration_in("38"), received=now, opened=now)  # new, on time
    acked = open_case(app, make_declaration(), received=long_ago, opened=long_ago)
    move(app, acked, (Status.acknowledged, long_ago + dt.timedelta(hours=2)))
    closed = open_case(app, make_declaration(), received=long_ago, opened=long_ago)
    move(
        app,
        closed,
        (Status.acknowledged, long_ago + dt.timedelta(hours=1)),
        (Status.investigating, long_ago + dt.timedelta(hours=2)),
        (Status.monitoring, long_ago + dt.timedelta(hours=3)),
        (Status.closed, long_ago + dt.timedelta(hours=4)),
    )
    open_case(app, declaration_in("75"), received=long_ago, opened=long_ago)  # Paris: overdue
    assert late

    ars = tokens.headers("ars_viewer", region="84", subject="ars.84")
    r = cpias_client.get("/v1/stats/cases", headers=ars)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["region_code"] == "84"
    assert body["by_cpias"] == [{"cpias": "cpias-ara", "open": 3, "new": 2, "overdue": 1}]
    everywhere = cpias_client.get("/v1/stats/cases", headers=tokens.headers("admin")).json()
    assert everywhere["region_code"] is None
    assert [c["cpias"] for c in everywhere["by_cpias"]] == ["cpias-ara", "cpias-idf"]
    assert everywhere["by_cpias"][1] == {"cpias": "cpias-idf", "open": 1, "new": 1, "overdue": 1}


def test_time_from_submission_to_acknowledgement(
    cpias_app: Any, cpias_client: TestClient, tokens: Tokens
) -> None:
    """Ten cases acknowledged 1 to 10 hours after their submission: the median is the 5th
    (nearest rank), the 90th percentile the 9th."""
    # 01:00 UTC: the last acknowledgement (10 days and 10 hours on) stays on its day, whatever
    # the hour the test runs at
    start = (utcnow() - dt.timedelta(days=30)).replace(hour=1, minute=0, second=0, microsecond=0)
    cpias_client.headers.update(tokens.headers("admin"))
    for hours in (7, 3, 10, 1, 5, 2, 9, 4, 8, 6):
        received = start + dt.timedelta(days=hours)
        cid = open_case(
            cpias_app,
            make_declaration(),
            received=received,
            opened=received + dt.timedelta(minutes=5),
        )
        move(cpias_app, cid, (Status.acknowledged, received + dt.timedelta(hours=hours)))
    old = open_case(
        cpias_app,
        make_declaration(),
        received=start - dt.timedelta(days=400),
        opened=start - dt.timedelta(days=400),
    )
    move(cpias_app, old, (Status.acknowledged, start - dt.timedelta(days=399)))  # too old
    ack = cpias_client.get("/v1/stats/cases", params={"region": "84"}).json()["acknowledgement"]
    assert ack["acknowledged"] == 10
    assert (ack["median_hours"], ack["p90_hours"]) == (5.0, 9.0)
    recent = cpias_client.get(
        "/v1/stats/cases",
        params={"region": "84", "since": (start + dt.timedelta(days=6)).date().isoformat()},
    ).json()["acknowledgement"]
    assert recent["acknowledged"] == 5 and recent["median_hours"] == 8.0
    nothing = cpias_client.get("/v1/stats/cases", params={"region": "11"}).json()
    assert nothing["acknowledgement"] == {
        "since": nothing["acknowledgement"]["since"],
        "acknowledged": 0,
        "median_hours": None,
        "p90_hours": None,
    }
    assert nothing["by_cpias"] == []
    # A day outside the domain's dates is refused, naming the parameter.
    for day in ("0001-01-01", "9999-12-31"):
        out = cpias_client.get("/v1/stats/cases", params={"region": "84", "since": day})
        assert out.status_code == 422 and out.json()["errors"][0]["path"] == "since"


def test_acknowledgements_are_counted_from_the_regions_own_midnight(
    cpias_app: Any, cpias_client: TestClient, tokens: Tokens
) -> None:
    """`since` is a day as the region lives it, as intake's figures count days: a case
    acknowledged at 00:30 in Lyon on Monday (Sunday 23:30 UTC) is Monday's, one acknowledged
    at 21:00 in Guadeloupe on Sunday (Monday 01:00 UTC) is Sunday's."""
    cpias_client.headers.update(tokens.headers("admin"))
    monday = dt.date(2026, 3, 2)
    acknowledged = {
        "69": dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC),  # Monday 00:30 in Paris
        "974": dt.datetime(2026, 3, 1, 22, 0, tzinfo=dt.UTC),  # Monday 02:00 in La Réunion
        "971": dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC),  # Sunday 21:00 in Guadeloupe
    }
    for departement, at in acknowledged.items():
        received = at - dt.timedelta(hours=2)
        cid = open_case(cpias_app, declaration_in(departement), received=received, opened=received)
        move(cpias_app, cid, (Status.acknowledged, at))
    counted = {}
    for region in ("84", "04", "01"):
        r = cpias_client.get(
            "/v1/stats/cases", params={"region": region, "since": monday.isoformat()}
        )
        counted[region] = r.json()["acknowledgement"]["acknowledged"]
    assert counted == {"84": 1, "04": 1, "01": 0}


def test_scope_by_role_and_audit(cpias_app: Any, cpias_client: TestClient, tokens: Tokens) -> None:
    now = utcnow()
    open_case(cpias_app, make_declaration(), received=now, opened=now)
    open_case(cpias_app, declaration_in("75"), received=now, opened=now)

    def cpias_of(headers: dict[str, str], **params: str) -> tuple[str | None, list[str]]:
        r = cpias_client.get("/v1/stats/cases", params=params, headers=headers)
        assert r.status_code == 200, r.text
        return r.json()["region_code"], [c["cpias"] for c in r.json()["by_cpias"]]

    ars = tokens.headers("ars_viewer", region="84", subject="ars.84")
    assert cpias_of(ars, region="11") == ("84", ["cpias-ara"])  # its own, whatever it asks
    assert cpias_of(tokens.headers("admin"), region="11") == ("11", ["cpias-idf"])
    investigator = tokens.headers("cpias_investigator", cpias="cpias-idf")
    assert cpias_of(investigator, region="84") == (None, ["cpias-idf"])
    declarant = tokens.headers("declarant", finess="690781810")
    assert cpias_client.get("/v1/stats/cases", headers=declarant).status_code == 403
    assert cpias_client.get("/v1/stats/cases", headers={"Authorization": ""}).status_code == 401
    with cpias_app.state.sessions() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.subject == "ars.84")).all()
    assert [(e.action, e.object_type, e.object_id) for e in entries] == [
        ("read:figures", "case", "84")
    ]


def test_clusters_and_alerts_narrowed_to_a_region_for_admins_only(
    cpias_app: Any, cpias_client: TestClient, tokens: Tokens
) -> None:
    """Three OXA-48 episodes in the Rhône and three in Paris: a threshold alert and a
    confirmed cluster in each region."""
    now = utcnow()
    ids: dict[str, list[str]] = {"69": [], "75": []}
    for dep in ids:
        for serial in "123":
            body = make_declaration(
                establishment__departement=dep,
                establishment__finess=finess_in(dep, serial),
                infection__onset_date=now.date().isoformat(),
                infection__detection_date=now.date().isoformat(),
            )
            ids[dep].append(open_case(cpias_app, body, received=now, opened=now))
        a, b = ids[dep][:2]
        r = cpias_client.post(
            f"/v1/cases/{a}/cluster-suggestions/{b}",
            json={"decision": "confirm"},
            headers=tokens.headers("admin"),
        )
        assert r.status_code == 200, r.text

    def regions(path: str, headers: dict[str, str], **params: str) -> list[list[str] | str]:
        r = cpias_client.get(path, params=params, headers=headers)
        assert r.status_code == 200, r.text
        return [i.get("regions") or i["region_code"] for i in r.json()["items"]]

    admin = tokens.headers("admin")
    ars = tokens.headers("ars_viewer", region="84")
    assert sorted(map(str, regions("/v1/clusters", admin))) == ["['11']", "['84']"]
    assert regions("/v1/clusters", admin, region="11") == [["11"]]
    assert regions("/v1/clusters", ars, region="11") == [["84"]]
    assert sorted(map(str, regions("/v1/alerts", admin))) == ["11", "84"]
    assert regions("/v1/alerts", admin, region="84") == ["84"]
    assert regions("/v1/alerts", ars, region="11") == ["84"]


def test_on_postgresql_the_figures_use_their_indexes(pg_url: str) -> None:
    """30,000 cases of every region: the figures read the region's indexes only."""
    engine = make_engine(pg_url)
    upgrade(engine, MIGRATIONS)
    with engine.begin() as conn:
        conn.execute(text(BULK_CASES))
        conn.execute(text("ANALYZE cases"))
    ars = Caller(Principal("ars", Role.ars_viewer, region="84"))
    with selects_on(engine, "FROM cases") as statements:
        answer = figures.case_figures(
            SqlCpiasUnitOfWork(sa.orm.sessionmaker(engine)), caller=ars, region=None, since=None
        )
    assert answer.acknowledgement.acknowledged > 0 and answer.by_cpias
    assert len(statements) == 4
    assert_indexed(engine, statements, "ix_cases_region_")
    engine.dispose()


BULK_CASES = """
INSERT INTO cases (id, declaration_id, reference, cpias, region_code, priority, priority_rank,
    status, opened_at, ack_due_at, acknowledged_at, complement_received, declaration,
    complements, routing, received_at)
SELECT lpad(n::text, 36, '0'), 'd' || n, 'IAS-2026-00-' || lpad(n::text, 6, '0'),
    'cpias-' || (n % 13), (ARRAY['84','11','93','76','75','44','53','52','32','28','27','24',
    '94'])[1 + n % 13], 'high', 1,
    (ARRAY['new', 'acknowledged', 'closed', 'closed', 'closed'])[1 + n % 5],
    now() - (n % 1000) * interval '1 day',
    now() - (n % 1000) * interval '1 day' + interval '1 day',
    CASE WHEN n % 5 = 0 THEN NULL
         ELSE now() - (n % 1000) * interval '1 day' + interval '5 hours' END,
    false, '{}', '[]', '{}', now() - (n % 1000) * interval '1 day'
FROM generate_series(1, 30000) AS n
"""
