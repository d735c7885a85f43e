"""What the notifier's use cases need from the outside world, as Protocols. The adapters
(services/notifier/adapters/) provide them; the entry points wire them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from iaspipe.uow import Transaction
from schemas.events import NotificationRequested
from schemas.notifications import Audience, NonUrgent, NotificationView
from services.notifier.domain.address_book import ArsEntry, CpiasEntry
from services.notifier.domain.content import Facts
from services.notifier.domain.messages import Message
from services.notifier.domain.policy import DeclarationScope


class Requests(Protocol):
    def exists(self, event_id: str) -> bool: ...

    def known(self, event_ids: Collection[str]) -> set[str]:
        """Those of the event ids whose request is stored."""

    def add(
        self, requests: Sequence[tuple[str, NotificationRequested, bool]], *, at: dt.datetime
    ) -> None:
        """Store each (event id, request, whether it awaits the digest), received `at`, in
        one statement."""

    def get_many(self, event_ids: Collection[str]) -> dict[str, NotificationRequested]:
        """The stored requests among `event_ids`, by event id (one query)."""

    def awaiting_digest(self) -> list[tuple[str, NotificationRequested]]:
        """(event id, request) of the requests waiting for their CPias's digest, oldest heard
        first."""

    def attach_to_digest(self, event_ids: list[str], digest_id: str) -> None: ...

    def of_digest(self, digest_id: str) -> list[NotificationRequested]: ...

    def scope_of(self, declaration_id: str) -> DeclarationScope | None:
        """Who may read the messages about a declaration; None when none was requested."""


class Messages(Protocol):
    def exists(self, message_id: str) -> bool: ...

    def add(self, *messages: Message) -> None:
        """Store the messages (one statement for them all)."""

    def claim_due(self, now: dt.datetime, until: dt.datetime, limit: int) -> list[Message]:
        """Pending messages due at `now` and claimed by nobody, oldest first, claimed until
        `until` (on PostgreSQL, rows another sender is claiming are skipped)."""

    def mark_sent(self, message_id: str, at: dt.datetime) -> bool:
        """Record the sending; False if it was no longer pending."""

    def mark_retry(
        self, message_id: str, *, attempts: int, next_attempt_at: dt.datetime, error: str
    ) -> None: ...

    def mark_failed(self, message_id: str, *, attempts: int, error: str) -> None: ...

    def release(self, message_ids: list[str], next_attempt_at: dt.datetime) -> None:
        """Give claimed messages back, due again at `next_attempt_at`."""

    def readdress(
        self,
        audience: Audience,
        *,
        where: tuple[str, str],
        to: str,
        since: dt.datetime,
        now: dt.datetime,
    ) -> int:
        """The messages to `audience` left without an address since `since`, about requests
        of one CPias or region (`where`: ("cpias", id) or ("region_code", code)), given `to`
        and due now; how many."""

    def of_declaration(self, declaration_id: str) -> list[NotificationView]:
        """Every message about a declaration, the digests that list it included."""

    def pending_summary(self) -> tuple[int, dt.datetime | None]:
        """How many messages are pending, and when the oldest was created."""


class AddressBook(Protocol):
    def cpias(self, cpias: str) -> CpiasEntry | None: ...

    def ars(self, region_code: str) -> ArsEntry | None: ...

    def all_cpias(self) -> dict[str, CpiasEntry]: ...

    def all_ars(self) -> dict[str, ArsEntry]: ...

    def put_cpias(
        self, cpias: str, address: str, non_urgent: NonUrgent, *, at: dt.datetime, by: str
    ) -> None: ...

    def put_ars(self, region_code: str, address: str, *, at: dt.datetime, by: str) -> None: ...

    def seed_cpias(self, cpias: str, address: str, non_urgent: NonUrgent, at: dt.datetime) -> None:
        """Add an entry unless one exists (an admin's edit is never overwritten)."""

    def seed_ars(self, region_code: str, address: str, at: dt.datetime) -> None: ...


class NotifierUnitOfWork(Transaction, Protocol):
    @property
    def requests(self) -> Requests: ...

    @property
    def messages(self) -> Messages: ...

    @property
    def book(self) -> AddressBook: ...


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


class Renderer(Protocol):
    def render(self, facts: Facts) -> Rendered:
        """The message in French, plain text and HTML, from the templates of its kind."""


@dataclass(frozen=True)
class Mail:
    """One e-mail ready to go; `message_id` becomes its Message-ID header."""

    message_id: str
    kind: str
    to: str
    rendered: Rendered


class Sender(Protocol):
    def send(self, mail: Mail) -> None:
        """Hand the mail over. Raises TransientSendError (try again later) or
        PermanentSendError (refused for good); returns once the server has taken it."""

    def close(self) -> None:
        """Drop any open connection (between passes)."""
