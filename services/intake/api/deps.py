"""What intake's routes receive from the app: settings, reference data, a unit of work."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

import limits
import limits.aio.storage
import limits.aio.strategies
import limits.storage
from fastapi import Depends, Request

from iaspipe.errors import RateLimited
from iaspipe.principal import Caller
from schemas.reference import ReferenceData
from services.intake.adapters.uow import SqlIntakeUnitOfWork
from services.intake.domain.submission import key_scope
from services.intake.ports import IntakeUnitOfWork, Submissions
from services.intake.settings import IntakeSettings

# Dependencies are coroutines: FastAPI would run plain functions in a worker thread.


async def get_uow(request: Request) -> SqlIntakeUnitOfWork:
    return SqlIntakeUnitOfWork(request.app.state.sessions)


@dataclass(frozen=True)
class Desk:
    """What a submission needs from the app, built once at start: one dependency for the
    hottest route."""

    submissions: Submissions
    reference: ReferenceData
    settings: IntakeSettings
    limiter: limits.aio.strategies.RateLimiter
    limit: limits.RateLimitItem

    @classmethod
    def build(cls, submissions: Submissions, ref: ReferenceData, settings: IntakeSettings) -> Desk:
        # async+memory:// counts in this process only; async+redis://host:6379 shares the
        # counts between every intake process (docs/security.md, "Rate limit").
        storage = limits.storage.storage_from_string(settings.rate_limit_storage)
        if not isinstance(storage, limits.aio.storage.Storage):
            raise ValueError("INTAKE_RATE_LIMIT_STORAGE must name an async storage (async+...)")
        return cls(
            submissions,
            ref,
            settings,
            # The sliding-window counter: smooth like a moving window, without the moving
            # window's expiry pass through a worker thread after every hit.
            limits.aio.strategies.SlidingWindowCounterRateLimiter(storage),
            limits.parse(settings.submit_rate_limit),
        )

    async def check_rate(self, caller: Caller) -> None:
        """Submissions per establishment (per token subject for a sender without one):
        RateLimited says when to come back."""
        scope = key_scope(caller)
        if not await self.limiter.hit(self.limit, scope):
            stats = await self.limiter.get_window_stats(self.limit, scope)
            raise RateLimited(max(1, int(stats.reset_time - time.time()) + 1))


async def get_desk(request: Request) -> Desk:
    return request.app.state.desk  # type: ignore[no-any-return]


async def get_settings(request: Request) -> IntakeSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_reference(request: Request) -> ReferenceData:
    return request.app.state.reference  # type: ignore[no-any-return]


UowDep = Annotated[IntakeUnitOfWork, Depends(get_uow)]
DeskDep = Annotated[Desk, Depends(get_desk)]
SettingsDep = Annotated[IntakeSettings, Depends(get_settings)]
ReferenceDep = Annotated[ReferenceData, Depends(get_reference)]
