"""The CPias unit of work: iaspipe.uow.UnitOfWork with the CPias tables and repositories."""

from __future__ import annotations

from sqlalchemy.orm import Session

from iaspipe.uow import UnitOfWork
from services.cpias.adapters.figures import CaseFiguresRepository
from services.cpias.adapters.orm import AuditEntry, Outbox
from services.cpias.adapters.repositories import (
    AlertRepository,
    CaseRepository,
    ClusterRepository,
    DeadlineNoticeRepository,
    EpisodeRepository,
    HistoryRepository,
    LinkRepository,
    NoteRepository,
    ProcessedEventRepository,
)


class SqlCpiasUnitOfWork(UnitOfWork):
    outbox_model = Outbox
    audit_model = AuditEntry

    def open_repositories(self, session: Session) -> None:
        self.cases = CaseRepository(session)
        self.processed = ProcessedEventRepository(session)
        self.history = HistoryRepository(session)
        self.notes = NoteRepository(session)
        self.links = LinkRepository(session)
        self.episodes = EpisodeRepository(session)
        self.clusters = ClusterRepository(session)
        self.alerts = AlertRepository(session)
        self.deadlines = DeadlineNoticeRepository(session)
        self.figures = CaseFiguresRepository(session)
