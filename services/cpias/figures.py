"""The regional figures of cases, for the ARS dashboard (docs/ars.md): open, new and overdue
cases by CPias, and the time from submission to acknowledgement. Scoped like the queue
(policy.figures_scope); each read is audited."""

from __future__ import annotations

import datetime as dt

from iaspipe.principal import Caller
from schemas.answers import AcknowledgementTimes, CaseFigures, CpiasCaseFigures
from schemas.events import utcnow
from schemas.reference import reference, region_time_zone
from services.cpias.domain import policy
from services.cpias.ports import CpiasUnitOfWork

PERCENTILES = (0.5, 0.9)
DEFAULT_SPAN = dt.timedelta(days=364)


def case_figures(
    uow: CpiasUnitOfWork,
    *,
    caller: Caller,
    region: str | None,
    since: dt.date | None,
    now: dt.datetime | None = None,
) -> CaseFigures:
    """The open cases of the caller's scope by CPias now, and the median and 90th percentile
    of the time from submission to acknowledgement of the cases acknowledged since `since`
    (the last 52 weeks by default)."""
    now = now or utcnow()
    scope = policy.figures_scope(caller.principal, region)
    # Days as the region lives them, as intake's figures count them (its first département's
    # clock; Paris's for all regions): the dashboard's Monday starts at that Monday's midnight.
    zone = region_time_zone(reference(), scope.get("region_code"))
    start = since or (now.astimezone(zone) - DEFAULT_SPAN).date()
    with uow:
        by_cpias = uow.figures.open_by_cpias(scope, now)
        count, (median, p90) = uow.figures.acknowledgement_seconds(
            scope, dt.datetime.combine(start, dt.time(), zone), PERCENTILES
        )
        uow.audit(caller, "read:figures", "case", scope.get("region_code") or "*")
        uow.commit()
    return CaseFigures(
        region_code=scope.get("region_code"),
        by_cpias=[
            CpiasCaseFigures(cpias=c, open=n, new=new, overdue=overdue)
            for c, n, new, overdue in by_cpias
        ],
        acknowledgement=AcknowledgementTimes(
            since=start,
            acknowledged=count,
            median_hours=_hours(median),
            p90_hours=_hours(p90),
        ),
    )


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 1)
