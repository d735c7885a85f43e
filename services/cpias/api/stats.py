"""The regional figures of cases (the ARS dashboard, docs/ars.md): one thin route."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query

from iaspipe.http.auth import CallerDep
from schemas.answers import CaseFigures
from schemas.declaration import EARLIEST, LATEST_PLAN
from services.cpias import figures
from services.cpias.api.deps import UowDep
from services.cpias.api.routes import ERRORS, Region

router = APIRouter(prefix="/v1", tags=["regional figures"], responses=ERRORS)


@router.get(
    "/stats/cases",
    response_model=CaseFigures,
    summary="Open, new and overdue cases by CPias; time from submission to acknowledgement",
)
def case_figures(
    uow: UowDep,
    caller: CallerDep,
    region: Region = None,
    since: Annotated[
        dt.date | None,
        Query(
            ge=EARLIEST,
            le=LATEST_PLAN,
            description="Acknowledged from this day on (default: 52 weeks ago)",
        ),
    ] = None,
) -> CaseFigures:
    return figures.case_figures(uow, caller=caller, region=region, since=since)
