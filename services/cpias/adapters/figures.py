"""The queries of the regional figures of cases (services/cpias/figures.py), on the indexes
of the region (ix_cases_region_status, ix_cases_region_acknowledged): grouped and ranked in
SQL, never every case loaded."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy import case as when
from sqlalchemy.orm import Session

from iaspipe.db import seconds_between
from services.cpias.adapters.orm import CaseRow
from services.cpias.domain.workflow import Status


class CaseFiguresRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    @staticmethod
    def _scoped(scope: dict[str, Any]) -> list[Any]:
        return [getattr(CaseRow, column) == value for column, value in scope.items()]

    def open_by_cpias(
        self, scope: dict[str, Any], now: dt.datetime
    ) -> list[tuple[str, int, int, int]]:
        """(CPias, open, new, overdue) of the cases not closed, by CPias."""
        new = CaseRow.status == Status.new.value
        rows = self.session.execute(
            select(
                CaseRow.cpias,
                func.count(),
                func.sum(when((new, 1), else_=0)),
                func.sum(when((and_(new, CaseRow.ack_due_at < now), 1), else_=0)),
            )
            .where(*self._scoped(scope), CaseRow.status != Status.closed.value)
            .group_by(CaseRow.cpias)
            .order_by(CaseRow.cpias)
        ).all()
        return [(r[0], int(r[1]), int(r[2] or 0), int(r[3] or 0)) for r in rows]

    def acknowledgement_seconds(
        self, scope: dict[str, Any], since: dt.datetime, percentiles: tuple[float, ...]
    ) -> tuple[int, list[float | None]]:
        """How many cases were acknowledged since `since`, and the nearest-rank percentiles of
        their time from submission to acknowledgement, in seconds."""
        where = [*self._scoped(scope), CaseRow.acknowledged_at >= since]
        count = int(
            self.session.scalar(select(func.count()).select_from(CaseRow).where(*where)) or 0
        )
        seconds = seconds_between(CaseRow.received_at, CaseRow.acknowledged_at)
        ranked: list[float | None] = []
        for p in percentiles:
            if not count:
                ranked.append(None)
                continue
            rank = max(1, math.ceil(p * count))
            value = self.session.scalar(
                select(seconds).where(*where).order_by(seconds).offset(rank - 1).limit(1)
            )
            ranked.append(None if value is None else float(value))
        return count, ranked
