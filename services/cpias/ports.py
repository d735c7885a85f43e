"""What the CPias use cases need from the outside world, as Protocols. The adapters
(services/cpias/adapters/) provide them; the entry points wire them."""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from iaspipe.uow import Transaction
from schemas.answers import HistoryEntry, LinkView, NoteView
from services.cpias.domain.cases import Case


class Cases(Protocol):
    def add(self, case: Case) -> None: ...

    def save(self, case: Case) -> None:
        """Write every field of a case read from this repository."""

    def get(self, case_id: str) -> Case | None: ...

    def find(
        self,
        *,
        case_id: str | None = None,
        declaration_id: str | None = None,
        reference: str | None = None,
    ) -> Case | None: ...

    def page(
        self,
        *,
        filters: dict[str, Any],
        scope: dict[str, Any],
        overdue: bool | None,
        now: dt.datetime,
        limit: int,
        offset: int,
    ) -> tuple[list[Case], int]:
        """Cases within the caller's scope that match every filter (both column -> value),
        urgent first then oldest; and the count of all matches."""

    def open_counts(self, now: dt.datetime) -> list[tuple[str, str, str, str, int, int]]:
        """(cpias, region, priority, status, open cases, overdue among them)."""


class ProcessedEvents(Protocol):
    def seen(self, event_id: str) -> bool: ...

    def add(self, event_id: str, at: dt.datetime) -> None: ...


class History(Protocol):
    def add(
        self,
        case_id: str,
        at: dt.datetime,
        actor: str,
        action: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        reason: str | None = None,
    ) -> None: ...

    def of(self, case_id: str) -> list[HistoryEntry]: ...


class Notes(Protocol):
    def add(self, case_id: str, kind: str, text: str, author: str, at: dt.datetime) -> NoteView: ...

    def of(self, case_id: str) -> list[NoteView]: ...


class Links(Protocol):
    def exists(self, case_a: str, case_b: str) -> bool: ...

    def add(
        self, case_a: str, case_b: str, kind: str, reason: str | None, by: str, at: dt.datetime
    ) -> None: ...

    def of(self, case_id: str) -> list[LinkView]: ...


class DeadlineNotices(Protocol):
    def due(
        self, *, now: dt.datetime, remind_before: dict[str, float], limit: int
    ) -> list[tuple[Case, str]]:
        """New cases that call for a notice not requested yet: a reminder ("ack_reminder")
        when the deadline is within `remind_before[priority]` hours and not passed; a
        warning ("ack_overdue") once it has passed."""

    def add(self, case_id: str, kind: str, at: dt.datetime) -> None: ...


class CpiasUnitOfWork(Transaction, Protocol):
    @property
    def cases(self) -> Cases: ...

    @property
    def processed(self) -> ProcessedEvents: ...

    @property
    def history(self) -> History: ...

    @property
    def notes(self) -> Notes: ...

    @property
    def links(self) -> Links: ...

    @property
    def deadlines(self) -> DeadlineNotices: ...
