"""The reconciler: every few seconds, publish again what the CPias (or an awaited recipient,
INTAKE_AWAITED_RECIPIENT_KINDS) has not confirmed in time, and forget idempotency keys past
their retention."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

from services.intake import service
from services.intake.ports import IntakeUnitOfWork
from services.intake.settings import IntakeSettings


class Reconciler:
    def __init__(self, settings: IntakeSettings, uow_factory: Callable[[], IntakeUnitOfWork]):
        self.settings = settings
        self.uow_factory = uow_factory

    def run_once(self) -> int:
        """One pass; returns how many declarations were published again."""
        s = self.settings
        republished = service.republish_unconfirmed(
            self.uow_factory(),
            older_than=dt.timedelta(seconds=s.reconcile_after_seconds),
            awaited_kinds=s.awaited_recipient_kinds,
        )
        service.purge_idempotency_keys(
            self.uow_factory(), older_than=dt.timedelta(hours=s.idempotency_retention_hours)
        )
        return republished

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.run_once()
            stop.wait(self.settings.reconcile_every_seconds)
