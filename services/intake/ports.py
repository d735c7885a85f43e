"""What intake's use cases need from the outside world, as Protocols. The adapters
(services/intake/adapters/) provide them; the entry points wire them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Protocol

from iaspipe.uow import Transaction
from schemas.answers import ComplementView, DeclarationPage, LineListRow, TimelineEntry
from services.intake.domain.figures import LineFilters, Period, Window
from services.intake.domain.policy import ReadScope
from services.intake.domain.records import (
    DeclarationRecord,
    HeldComplement,
    RecipientState,
    StoredAnswer,
    TimelineItem,
)
from services.intake.domain.submission import NewDeclaration


class Declarations(Protocol):
    def add(self, record: DeclarationRecord) -> None: ...

    def add_facets(self, new: NewDeclaration) -> None:
        """File a new declaration under its facets (domain/figures.py)."""

    def get(self, declaration_id: str, *, for_update: bool = False) -> DeclarationRecord | None:
        """The record; `for_update`: its row locked until the commit (PostgreSQL)."""

    def get_many(
        self, declaration_ids: Collection[str], *, for_update: bool = False
    ) -> dict[str, DeclarationRecord]:
        """The records of those of the ids intake holds, by id; `for_update`: their rows
        locked until the commit, in the order of their ids."""

    def save_progress(self, *records: DeclarationRecord) -> None:
        """Write each record's status, recipients, CPias confirmation, routing decision and
        priority (one statement for them all)."""

    def note_recipients(self, states: Collection[RecipientState]) -> None:
        """Add the recipients not yet known (in two statements for them all); a state with
        `confirmed_at` confirms its recipient, unless it already had."""

    def unconfirmed(
        self, *, published_before: dt.datetime, limit: int, awaited_kinds: Collection[str] = ()
    ) -> list[DeclarationRecord]:
        """Declarations the CPias, or a recipient of one of `awaited_kinds`, has not
        confirmed, last published before the given time, with no copy still waiting in the
        outbox; oldest first."""

    def mark_republished(self, declaration_ids: list[str], at: dt.datetime) -> None: ...


class ReferenceNumbers(Protocol):
    def next(self, region_code: str, year: int) -> int:
        """The next sequence number of the region's year."""


class Timeline(Protocol):
    def add(self, *items: TimelineItem) -> None:
        """Add the entries (one statement for them all)."""

    def known(self, event_ids: Collection[str]) -> set[str]:
        """Those of the event ids already in a timeline."""

    def of(self, declaration_id: str) -> list[TimelineEntry]: ...


class Complements(Protocol):
    def add(
        self,
        complement_id: str,
        declaration_id: str,
        body: dict[str, object],
        at: dt.datetime,
        *,
        held: bool = False,
    ) -> None:
        """Store a complement; `held` until its declaration's routing decision is back."""

    def release_held(
        self, declaration_ids: Collection[str], at: dt.datetime
    ) -> list[HeldComplement]:
        """The held complements of these declarations, oldest first, no longer held (published
        at `at`)."""

    def held_of_decided(self, limit: int) -> list[str]:
        """The declarations whose routing decision came back and that still hold a complement
        held for it: none, unless a release was missed."""

    def confirm(
        self, at: dt.datetime, *, ids: Collection[str] = (), declarations: Collection[str] = ()
    ) -> None:
        """The CPias attached these complements (by id), or every complement of these
        declarations."""

    def unconfirmed(self, *, published_before: dt.datetime, limit: int) -> list[HeldComplement]:
        """Complements published before `published_before`, not confirmed, not waiting in the
        outbox; oldest first."""

    def mark_republished(self, complement_ids: Collection[str], at: dt.datetime) -> None: ...

    def get(self, complement_id: str) -> tuple[dict[str, object], dt.datetime] | None:
        """(body, received at) of a complement, if stored."""

    def of(self, declaration_id: str) -> list[ComplementView]: ...


class IdempotencyKeys(Protocol):
    """Keys are looked up within their sender's scope (domain.submission.key_scope)."""

    def get(self, scope: str, key: str) -> StoredAnswer | None: ...

    def add(self, scope: str, key: str, answer: StoredAnswer, at: dt.datetime) -> None: ...

    def purge(self, before: dt.datetime) -> int: ...


class IntakeUnitOfWork(Transaction, Protocol):
    @property
    def declarations(self) -> Declarations: ...

    @property
    def numbers(self) -> ReferenceNumbers: ...

    @property
    def timeline(self) -> Timeline: ...

    @property
    def complements(self) -> Complements: ...

    @property
    def idempotency(self) -> IdempotencyKeys: ...

    @property
    def listing(self) -> DeclarationListing: ...

    @property
    def figures(self) -> Figures: ...


class DeclarationListing(Protocol):
    def page(self, scope: ReadScope, *, limit: int, offset: int) -> DeclarationPage:
        """Declarations within the scope, newest first, and how many there are."""


class Figures(Protocol):
    """The regional figures (domain/figures.py), within a read scope."""

    def weekly(
        self, scope: ReadScope, first_week: dt.date
    ) -> tuple[dict[dt.date, int], dict[tuple[dt.date, str], int]]:
        """Declarations per week, and per (week, criterion), from `first_week` on."""

    def total(self, scope: ReadScope, period: Period) -> int: ...

    def by_column(
        self, scope: ReadScope, period: Period, column: str, top: int
    ) -> list[tuple[str | None, int]]:
        """Declarations by `departement`, `priority` or `status`, most first."""

    def by_facet(
        self, scope: ReadScope, period: Period, kind: str, top: int
    ) -> list[tuple[str | None, int]]:
        """Declarations by the values of one kind of facet, most first."""

    def line_list(
        self, scope: ReadScope, period: Period, filters: LineFilters, window: Window
    ) -> tuple[list[LineListRow], int | None]:
        """A page of the matching declarations, newest first, and how many match (None
        unless `window.count`)."""


class Submissions(Protocol):
    """The write path of a submission, the hottest path of the product: one unit of work that
    stores a new declaration with its timeline entry, outbox row, audit row and idempotency
    key, and commits once (on PostgreSQL, in a single statement: one round trip)."""

    async def add(self, new: NewDeclaration) -> str:
        """Store everything and return the declaration's reference; KeyTaken when its
        idempotency key is already stored (nothing is written then)."""

    async def answer(self, scope: str, key: str) -> StoredAnswer | None:
        """The answer stored under an idempotency key of a sender's scope, if any."""
