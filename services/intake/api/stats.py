"""Intake's regional figures and line list (the ARS dashboard, docs/ars.md): thin routes, each
one use case. Scoped by role: an ARS viewer gets its own region whatever it asks, an admin
the region asked (every region without one), an investigator its CPias's départements; a
declarant 403."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import AfterValidator

from iaspipe.http.auth import CallerDep
from iaspipe.http.paging import Offset
from schemas.answers import DeclarationBreakdown, LineListPage, WeeklyFigures
from schemas.declaration import LATEST_PLAN, Criterion, Resistance
from services.intake import service
from services.intake.api.deps import ReferenceDep, UowDep
from services.intake.api.routes import ERRORS
from services.intake.domain.figures import VALUE_LENGTH, Asked, LineFilters

router = APIRouter(
    prefix="/v1",
    tags=["regional figures"],
    responses={k: v for k, v in ERRORS.items() if k in (401, 403, 422)},
)

Region = Annotated[
    str | None,
    Query(
        pattern="^[0-9]{2}$",
        description="INSEE code of the region (admins; an ARS viewer always gets its own)",
    ),
]

# A département as declarations take it: any case ("2a" is Corse-du-Sud, as "2A").
Departement = Annotated[
    str | None,
    Query(
        pattern="^([0-9]{2,3}|2[ABab])$",
        description="One département of the region (within the caller's scope); any case",
    ),
    AfterValidator(lambda code: code.upper() if code else code),
]


async def asked(
    region: Region = None,
    since: Annotated[
        dt.date | None,
        Query(le=LATEST_PLAN, description="First day received (default: 52 weeks ago)"),
    ] = None,
    until: Annotated[
        dt.date | None, Query(le=LATEST_PLAN, description="Last day received (default: today)")
    ] = None,
) -> Asked:
    return Asked(region, since, until)


AskedDep = Annotated[Asked, Depends(asked)]


@router.get(
    "/stats/weekly",
    response_model=WeeklyFigures,
    summary="Declarations per ISO week and criterion, the last `weeks` weeks",
)
def weekly(
    uow: UowDep,
    ref: ReferenceDep,
    caller: CallerDep,
    region: Region = None,
    weeks: Annotated[int, Query(ge=1, le=260)] = 52,
    departement: Departement = None,
) -> WeeklyFigures:
    return service.weekly_figures(
        uow, caller=caller, ref=ref, region=region, weeks=weeks, departement=departement
    )


@router.get(
    "/stats/breakdown",
    response_model=DeclarationBreakdown,
    summary="Declarations of a period by département, criterion, micro-organism, resistance, "
    "mechanism, priority and status",
)
def breakdown(
    uow: UowDep,
    ref: ReferenceDep,
    caller: CallerDep,
    asked: AskedDep,
    top: Annotated[int, Query(ge=1, le=200, description="Longest list")] = 30,
) -> DeclarationBreakdown:
    return service.declaration_breakdown(uow, caller=caller, ref=ref, asked=asked, top=top)


@router.get(
    "/line-list",
    response_model=LineListPage,
    summary="The line list of a region's declarations, newest first, filtered (no free text)",
)
def line_list(
    uow: UowDep,
    ref: ReferenceDep,
    caller: CallerDep,
    asked: AskedDep,
    departement: Departement = None,
    criterion: Criterion | None = None,
    priority: Annotated[str | None, Query(pattern="^(urgent|high|normal)$")] = None,
    status: Annotated[
        str | None,
        Query(
            pattern="^(submitted|routed|received_by_cpias|acknowledged|investigating|"
            "monitoring|closed)$"
        ),
    ] = None,
    pathogen: Annotated[
        str | None, Query(max_length=VALUE_LENGTH, description="As counted (by_pathogen)")
    ] = None,
    mechanism: Annotated[
        str | None,
        Query(max_length=VALUE_LENGTH, description="A mechanism family, as counted (by_mechanism)"),
    ] = None,
    resistance: Annotated[
        Resistance | None, Query(description="A resistance ticked, as counted (by_resistance)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Offset = 0,
    cursor: Annotated[
        str | None, Query(max_length=300, description="The previous page's next_cursor")
    ] = None,
    count: Annotated[bool, Query(description="Count the matching declarations")] = True,
) -> LineListPage:
    filters: dict[str, Any] = {
        "departement": departement,
        "criterion": criterion.value if criterion else None,
        "priority": priority,
        "status": status,
        "pathogen": pathogen,
        "mechanism": mechanism,
        "resistance": resistance.value if resistance else None,
    }
    return service.line_list(
        uow,
        caller=caller,
        ref=ref,
        asked=asked,
        filters=LineFilters(**filters),
        limit=limit,
        offset=offset,
        cursor=cursor,
        count=count,
    )
