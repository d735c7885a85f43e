"""The deadline watch: every few seconds, request the reminders and overdue warnings that
have become due (notices.request_deadline_notices). Its clock can be replaced (tests)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

from schemas.events import utcnow
from services.cpias import notices
from services.cpias.ports import CpiasUnitOfWork
from services.cpias.settings import CpiasSettings


class DeadlineWatch:
    def __init__(
        self,
        settings: CpiasSettings,
        uow_factory: Callable[[], CpiasUnitOfWork],
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.uow_factory = uow_factory
        self.clock = clock

    def run_once(self) -> int:
        """One pass; returns how many notices were requested."""
        return notices.request_deadline_notices(
            self.uow_factory(), remind_before=self.settings.remind_before_hours, now=self.clock()
        )

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.run_once()
            stop.wait(self.settings.deadline_watch_every_seconds)
