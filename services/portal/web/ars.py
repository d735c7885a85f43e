"""The regional dashboard (docs/ars.md): an ARS viewer's region (admins choose one), its line
list with filters, and its CSV export. Each route gathers through the API client and renders;
the services confine every answer to the person's scope."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse

from iaspipe.errors import Forbidden
from schemas.reference import region_time_zone
from services.portal import dashboard
from services.portal.domain import region as ars
from services.portal.domain.accounts import Person
from services.portal.domain.answers import ReadRefused, ServiceUnavailable
from services.portal.domain.casework import is_uuid
from services.portal.web.deps import PersonDep, Portal, PortalDep, error_page, redirect, render

router = APIRouter(prefix="/ars")

PAGE_SIZE = 25
Region = Annotated[str | None, Query(max_length=2, description="Admins: the region shown")]
Page = Annotated[int, Query(ge=1, le=100_000)]


def region_watcher(person: PersonDep) -> Person:
    """ARS viewers and admins (Person.watches_region); anyone else 403."""
    if not person.watches_region:
        raise Forbidden(f"role {person.role.value} reads no regional figures")
    return person


WatcherDep = Annotated[Person, Depends(region_watcher)]


def _context(portal: Portal, person: Person, asked: str | None, page: str) -> dict[str, Any]:
    shown = ars.viewed_region(person, asked, portal.ref.region_codes)
    names = ars.region_names(portal.ref)
    region_params = {"region": shown} if person.is_admin and shown else {}
    return {
        "ars": ars,
        "shown": shown,
        "region_name": names.get(shown or "", shown),
        "regions": names,
        "departements": ars.departements_of(shown, portal.ref),
        # A cluster's cases may be of other regions: their départements named all the same.
        "all_departements": ars.departement_names(portal.ref),
        "section": page,
        # Links of the section keep an admin's region; an ARS viewer's is its own.
        "region_params": region_params,
        "region_query": urlencode(region_params),
    }


def _list_context(
    request: Request, portal: Portal, person: Person, asked: str | None
) -> dict[str, Any]:
    """The line list's context: the region, and the filters as asked with their choices."""
    context = _context(portal, person, asked, "declarations")
    filters = ars.ListFilters.read(request.query_params, context["departements"])
    return {
        **context,
        "filters": filters,
        **ars.filter_options(
            [filters.pathogen] if filters.pathogen else [],
            [filters.mechanism] if filters.mechanism else [],
        ),
    }


def _unavailable(request: Request, portal: Portal, context: dict[str, Any]) -> Response:
    return render(
        request, portal, "ars_declarations.html", {**context, "listed": None}, status_code=503
    )


def _refused(
    request: Request, portal: Portal, context: dict[str, Any], refusal: ReadRefused
) -> Response:
    """Filters intake refused (a start date after today...): said beside their fields."""
    refused = {**context, "filters": context["filters"].refused(refusal.problems)}
    return render(
        request, portal, "ars_declarations.html", {**refused, "listed": None}, status_code=422
    )


@router.get("", summary="The regional dashboard: figures, cases, clusters, alerts")
def overview(
    request: Request,
    portal: PortalDep,
    person: WatcherDep,
    region: Region = None,
    departement: Annotated[
        str | None, Query(max_length=3, description="The weekly chart of one département")
    ] = None,
) -> Response:
    context = _context(portal, person, region, "overview")
    shown = context["shown"]
    if shown is None:
        return render(request, portal, "ars.html", context)
    # A département of another region (or none) shows the whole region's chart.
    place = departement if departement in context["departements"] else None
    context["chart_departement"] = place
    try:
        board = dashboard.region_dashboard(portal.region, portal.minter, person, shown, place)
    except (ServiceUnavailable, ReadRefused):  # nothing the person typed: the service's fault
        return render(request, portal, "ars.html", {**context, "board": None}, status_code=503)
    chart = ars.weekly_chart(board.weekly, context["departements"].get(place or ""))
    return render(request, portal, "ars.html", {**context, "board": board, "chart": chart})


@router.get("/declarations", summary="The region's line list, filtered, a page at a time")
def declarations(
    request: Request,
    portal: PortalDep,
    person: WatcherDep,
    region: Region = None,
    page: Page = 1,
) -> Response:
    context = _list_context(request, portal, person, region)
    shown, filters = context["shown"], context["filters"]
    if shown is None:
        return render(request, portal, "ars_declarations.html", context)
    try:
        listed = dashboard.line_list(
            portal.region,
            portal.minter,
            person,
            shown,
            filters,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
    except ReadRefused as refusal:
        return _refused(request, portal, context, refusal)
    except ServiceUnavailable:
        return _unavailable(request, portal, context)
    total = listed.page.total or 0
    last = max(1, -(-total // PAGE_SIZE))
    if page > last:  # a page past the last (the list shrank, a link typed): the last one
        query = _query(context["region_params"], {**filters.query(), "page": str(last)})
        return redirect(f"{request.url.path}?{query}")
    return render(
        request,
        portal,
        "ars_declarations.html",
        {
            **context,
            **ars.filter_options(listed.pathogens, listed.mechanisms),
            "listed": listed,
            "page": page,
            "pages": max(1, -(-total // PAGE_SIZE)),
            "query": _query(context["region_params"], filters.query()),
        },
    )


@router.get("/regroupements/{cluster_id}", summary="A confirmed cluster: what it is, and its cases")
def cluster(
    request: Request,
    portal: PortalDep,
    person: WatcherDep,
    cluster_id: str,
    region: Region = None,
) -> Response:
    if not is_uuid(cluster_id):  # no cluster has such an id: cpias is not asked
        return error_page(request, portal, 404)
    context = _context(portal, person, region, "cluster")
    try:
        found = dashboard.cluster(portal.region, portal.minter, person, cluster_id)
    except ServiceUnavailable:
        return render(
            request, portal, "ars_cluster.html", {**context, "cluster": None}, status_code=503
        )
    if found is None:
        return error_page(request, portal, 404)
    return render(request, portal, "ars_cluster.html", {**context, "cluster": found})


@router.get("/export.csv", summary="The region's line list, filtered, as CSV (UTF-8, ';')")
def export_csv(
    request: Request, portal: PortalDep, person: WatcherDep, region: Region = None
) -> Response:
    context = _list_context(request, portal, person, region)
    shown, filters = context["shown"], context["filters"]
    if shown is None:
        return render(request, portal, "ars_declarations.html", context, status_code=404)
    try:
        lines = dashboard.export(
            portal.region, portal.minter, person, shown, filters, ref=portal.ref
        )
    except ReadRefused as refusal:
        return _refused(request, portal, context, refusal)
    except ServiceUnavailable:
        return _unavailable(request, portal, context)
    today = dt.datetime.now(region_time_zone(portal.ref, shown)).date().isoformat()
    name = f"declarations-ias-region-{shown}-{today}.csv"
    return StreamingResponse(
        _chunks(lines),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _chunks(lines: Iterable[str], size: int = 500) -> Iterator[bytes]:
    """Lines sent a few hundred at a time."""
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= size:
            yield "".join(batch).encode()
            batch = []
    if batch:
        yield "".join(batch).encode()


def _query(region_params: dict[str, str], filters: dict[str, str]) -> str:
    """The query string of the pages' links: the region (admins) and the filters."""
    return urlencode({**region_params, **filters})
