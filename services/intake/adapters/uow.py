"""Intake's unit of work: iaspipe.uow.UnitOfWork with intake's tables and repositories."""

from __future__ import annotations

from sqlalchemy.orm import Session

from iaspipe.uow import UnitOfWork
from services.intake.adapters.orm import AuditEntry, Outbox
from services.intake.adapters.repositories import (
    ComplementRepository,
    DeclarationListRepository,
    DeclarationRepository,
    FiguresRepository,
    IdempotencyRepository,
    ReferenceNumberRepository,
    TimelineRepository,
)


class SqlIntakeUnitOfWork(UnitOfWork):
    outbox_model = Outbox
    audit_model = AuditEntry

    def open_repositories(self, session: Session) -> None:
        self.declarations = DeclarationRepository(session)
        self.numbers = ReferenceNumberRepository(session)
        self.timeline = TimelineRepository(session)
        self.complements = ComplementRepository(session)
        self.idempotency = IdempotencyRepository(session)
        self.listing = DeclarationListRepository(session)
        self.figures = FiguresRepository(session)
