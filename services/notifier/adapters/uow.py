"""The notifier's unit of work: iaspipe.uow.UnitOfWork with its tables and repositories. It
publishes nothing, so it has no outbox."""

from __future__ import annotations

from sqlalchemy.orm import Session

from iaspipe.uow import UnitOfWork
from services.notifier.adapters.orm import AuditEntry
from services.notifier.adapters.repositories import (
    AddressBookRepository,
    MessageRepository,
    RequestRepository,
)


class SqlNotifierUnitOfWork(UnitOfWork):
    outbox_model = None
    audit_model = AuditEntry

    def open_repositories(self, session: Session) -> None:
        self.requests = RequestRepository(session)
        self.messages = MessageRepository(session)
        self.book = AddressBookRepository(session)
