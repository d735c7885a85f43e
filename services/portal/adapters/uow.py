"""The portal's unit of work: iaspipe.uow.UnitOfWork with the portal's tables. The portal
publishes no events: it has no outbox."""

from __future__ import annotations

from sqlalchemy.orm import Session

from iaspipe.uow import UnitOfWork
from services.portal.adapters.orm import AuditEntry
from services.portal.adapters.repositories import (
    AccountRepository,
    DraftRepository,
    LoginAttemptRepository,
    LoginRequestRepository,
    PeopleRepository,
    SessionRepository,
)


class SqlPortalUnitOfWork(UnitOfWork):
    audit_model = AuditEntry

    def open_repositories(self, session: Session) -> None:
        self.accounts = AccountRepository(session)
        self.attempts = LoginAttemptRepository(session)
        self.sessions = SessionRepository(session)
        self.drafts = DraftRepository(session)
        self.logins = LoginRequestRepository(session)
        self.people = PeopleRepository(session)
