"""The unit of work: one use case, one database transaction, one commit.

Entering opens a session and begins its transaction, then builds the service's repositories
on that session (`open_repositories`, defined by each service's own unit of work). While the
use case runs it may `publish` events (outbox rows) and record `audit` entries; `commit()`
writes them with the change and commits once. Leaving the block without `commit()` rolls
everything back, so an error anywhere leaves nothing half-written.

A unique-key violation at commit becomes `CommitConflict`: the caller decides what it means
(another copy of the same event won, two retries of one submission raced...).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, ClassVar, Protocol, Self

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from iaspipe.audit import AuditLog, RefusedAttempt, audit_values
from iaspipe.outbox import outbox_values
from iaspipe.principal import Caller
from schemas.events import Envelope


class CommitConflict(Exception):
    """The transaction broke a unique constraint: nothing was written."""


class Transaction(Protocol):
    """What every use case may ask of its unit of work, whatever the service."""

    @property
    def audit_log(self) -> AuditLog: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def publish(self, topic: str, key: str, event: Envelope) -> None: ...

    def publish_raw(
        self, topic: str, key: str, event_id: str, event_type: str, value: bytes
    ) -> None: ...

    def audit(
        self,
        caller: Caller,
        action: str,
        object_type: str,
        object_id: str,
        *,
        outcome: str = "done",
        reason: str | None = None,
    ) -> None: ...

    def audit_refused(self, attempt: RefusedAttempt) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


class UnitOfWork:
    """Base of each service's unit of work (see the module docstring)."""

    outbox_model: ClassVar[type[Any] | None]
    audit_model: ClassVar[type[Any]]

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._events: list[dict[str, Any]] = []
        self._audits: list[dict[str, Any]] = []
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("the unit of work is used outside its `with` block")
        return self._session

    def open_repositories(self, session: Session) -> None:
        """Build the service's repositories on the session (overridden by each service)."""

    def __enter__(self) -> Self:
        self._session = self._sessions()
        self._session.begin()
        self._events, self._audits = [], []
        self.audit_log = AuditLog(self._session, self.audit_model)
        self.open_repositories(self._session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        try:
            if session.in_transaction():
                session.rollback()
        finally:
            session.close()
        if isinstance(exc, IntegrityError):
            raise CommitConflict(_first_line(exc)) from exc

    def publish(self, topic: str, key: str, event: Envelope) -> None:
        """Announce a change: the event is written to the outbox with it, and published by
        the relay only after the commit."""
        self.publish_raw(topic, key, str(event.event_id), event.event_type, event.to_bytes())

    def publish_raw(
        self, topic: str, key: str, event_id: str, event_type: str, value: bytes
    ) -> None:
        """`publish` for an event already encoded (the submission's hot path)."""
        self._events.append(outbox_values(topic, key, event_id, event_type, value))

    def audit(
        self,
        caller: Caller,
        action: str,
        object_type: str,
        object_id: str,
        *,
        outcome: str = "done",
        reason: str | None = None,
    ) -> None:
        """Record who did (or read, or was refused) what, in this transaction."""
        self._audits.append(
            audit_values(
                caller.subject,
                caller.principal.role.value,
                action,
                object_type,
                object_id,
                caller.address,
                outcome=outcome,
                reason=reason,
            )
        )

    def audit_refused(self, attempt: RefusedAttempt) -> None:
        """Record an attempt refused to someone who may not be known, in this transaction."""
        a = attempt
        self._audits.append(
            audit_values(
                a.subject,
                a.role,
                a.action,
                a.object_type,
                a.object_id,
                a.address,
                outcome="refused",
                reason=a.reason,
            )
        )

    def commit(self) -> None:
        session = self.session
        try:
            if self._events:
                if self.outbox_model is None:
                    raise RuntimeError("this service has no outbox: it publishes nothing")
                session.execute(insert(self.outbox_model), self._events)
            if self._audits:
                session.execute(insert(self.audit_model), self._audits)
            session.commit()
        except IntegrityError as exc:
            session.rollback()
            raise CommitConflict(_first_line(exc)) from exc
        finally:
            self._events, self._audits = [], []

    def rollback(self) -> None:
        self.session.rollback()
        self._events, self._audits = [], []


def _first_line(exc: IntegrityError) -> str:
    text = str(exc.orig) if exc.orig is not None else ""
    return text.splitlines()[0] if text else "unique constraint"
