"""The regional dashboard's use cases (docs/ars.md): gather a region's figures, a page of its
line list, or its whole export, from intake and cpias, with the signed-in person's token.
The services confine every answer to the person's scope: an ARS viewer never gets another
region's declarations or cases, whatever the portal asks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from schemas.answers import (
    CaseFigures,
    ClusterPage,
    ClusterView,
    DeclarationBreakdown,
    LineListPage,
    ThresholdAlerts,
    WeeklyFigures,
)
from schemas.reference import ReferenceData, region_time_zone
from services.portal.domain.accounts import Person
from services.portal.domain.region import LinePage, ListFilters, csv_lines
from services.portal.ports import RegionApi, TokenMinter

WEEKS = 52
EXPORT_PAGE = 1000


@dataclass(frozen=True)
class Dashboard:
    """What the dashboard shows of a region."""

    weekly: WeeklyFigures
    breakdown: DeclarationBreakdown
    cases: CaseFigures
    clusters: ClusterPage
    alerts: ThresholdAlerts


def region_dashboard(
    api: RegionApi,
    minter: TokenMinter,
    person: Person,
    region: str,
    departement: str | None = None,
) -> Dashboard:
    """The last 52 weeks per week and criterion (of the region, or of one of its
    départements), the breakdowns, the cases by CPias, the confirmed clusters and the current
    threshold alerts of the region."""
    token = minter.mint(person)
    weekly = api.weekly(token, region=region, weeks=WEEKS, departement=departement)
    # The breakdowns and the acknowledgement times cover the weeks of the chart: from the
    # Monday of its first week, so that every section of the page speaks of one period.
    since = weekly.weeks[0].week.isoformat()
    return Dashboard(
        weekly=weekly,
        breakdown=api.breakdown(token, region=region, since=since, top=10),
        cases=api.case_figures(token, region=region, since=since),
        clusters=api.clusters(token, region=region, limit=20),
        alerts=api.alerts(token, region=region),
    )


def cluster(
    api: RegionApi, minter: TokenMinter, person: Person, cluster_id: str
) -> ClusterView | None:
    """A confirmed cluster and its cases, the earliest episode first (cpias's order); None
    when it is absent or holds no case of the person's scope. Cases outside the scope say
    only where and when (cpias leaves out their reference and establishment)."""
    return api.cluster(minter.mint(person), cluster_id)


@dataclass(frozen=True)
class LineList:
    """A page of the line list, and the micro-organisms and mechanism families one may filter
    on (those of the period asked)."""

    page: LineListPage
    pathogens: list[str]
    mechanisms: list[str]


def line_list(
    api: RegionApi,
    minter: TokenMinter,
    person: Person,
    region: str,
    filters: ListFilters,
    *,
    limit: int,
    offset: int,
) -> LineList:
    token = minter.mint(person)
    asked = filters.query()
    page = api.line_list(token, region=region, filters=asked, page=LinePage(limit, offset))
    counted = api.breakdown(token, region=region, since=filters.since, until=filters.until, top=200)
    return LineList(
        page,
        sorted({t.key for t in counted.by_pathogen} | {filters.pathogen} - {""}),
        sorted({t.key for t in counted.by_mechanism} | {filters.mechanism} - {""}),
    )


def export(
    api: RegionApi,
    minter: TokenMinter,
    person: Person,
    region: str,
    filters: ListFilters,
    *,
    ref: ReferenceData,
) -> Iterator[str]:
    """The line list with its filters, every page, as CSV lines (domain/region.py). The first
    page is asked before anything is sent, so a service that does not answer is a 503 page
    rather than an empty file; later pages follow the cursor, so declarations arriving
    meanwhile neither shift nor repeat rows."""
    first = api.line_list(
        minter.mint(person),
        region=region,
        filters=filters.query(),
        page=LinePage(EXPORT_PAGE, count=False),
    )

    def rows() -> Iterator[LineListPage]:
        page = first
        yield page
        while page.next_cursor:
            page = api.line_list(
                minter.mint(person),
                region=region,
                filters=filters.query(),
                page=LinePage(EXPORT_PAGE, cursor=page.next_cursor, count=False),
            )
            yield page

    zone = region_time_zone(ref, region)
    return csv_lines((row for page in rows() for row in page.items), ref, zone)
