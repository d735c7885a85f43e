"""Helpers for the notification tests: a real SMTP server (aiosmtpd) on 127.0.0.1, requests
built the way intake and cpias build them, a sender that records, a clock one can move."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import threading
import uuid
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from cli.broker import free_port
from schemas.events import (
    NotificationKind,
    NotificationRequested,
    NotifiedEstablishment,
    Obligation,
    Priority,
)
from services.notifier.domain.messages import PermanentSendError, TransientSendError
from services.notifier.ports import Mail

T0 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)  # 10:00 in Paris


class Inbox:
    """What the SMTP server received, parsed; the handler aiosmtpd calls."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            self._messages.append(parsed)
        return "250 OK"

    @property
    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return list(self._messages)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    def message_ids(self) -> list[str]:
        return [str(m["Message-ID"]) for m in self.messages]


class SmtpServer:
    """aiosmtpd in a thread of the test process; stop() and start() again on the same port
    make a mail server outage."""

    def __init__(
        self, port: int | None = None, *, utf8: bool = True, inbox: Inbox | None = None
    ) -> None:
        self.port = port or free_port()
        self.inbox = inbox or Inbox()
        self.utf8 = utf8  # whether it offers SMTPUTF8 (addresses in other alphabets)
        self._controller: Controller | None = None

    def start(self) -> SmtpServer:
        self._controller = Controller(
            self.inbox, hostname="127.0.0.1", port=self.port, enable_SMTPUTF8=self.utf8
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def body_text(message: EmailMessage) -> str:
    """The plain text and the HTML of a message, and its subject."""
    parts = [str(message["Subject"])]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            parts.append(part.get_content())
    return "\n".join(parts)


def notification_request(
    kind: NotificationKind = NotificationKind.new_case,
    *,
    declaration_id: str | None = None,
    priority: Priority = Priority.urgent,
    cpias: str = "cpias-ara",
    region_code: str = "84",
    at: dt.datetime = T0,
    **overrides: Any,
) -> NotificationRequested:
    """A request as the services build it: a Lyon establishment, a case for the CPias
    kinds, the declarant's address and obligations for the receipt."""
    values: dict[str, Any] = {
        "kind": kind,
        "declaration_id": declaration_id or str(uuid.uuid4()),
        "reference": "IAS-2026-84-000001",
        "priority": priority,
        "region_code": region_code,
        "cpias": cpias,
        "establishment": NotifiedEstablishment(
            name="CHU Exemple", finess="690781810", departement="69"
        ),
        "requested_at": at,
        "submitted_by": "declarant-test",
    }
    if kind in (NotificationKind.receipt, NotificationKind.case_closed):
        values["declarant_email"] = "claire.martin@chu.example"
    else:
        values |= {"case_id": str(uuid.uuid4()), "deadline": at + dt.timedelta(hours=4)}
    if kind is NotificationKind.receipt:
        values["recipients"] = ["ars-84", "spf", "cpias-ara"]
        values["obligations"] = [
            Obligation(
                rule="materiovigilance_ansm",
                owed_to="ansm",
                article="L5212-2",
                message="Déclarer l'incident à l'ANSM.",
                message_en="Report the incident to the ANSM.",
            )
        ]
    if kind is NotificationKind.case_closed:
        values["outcome"] = "controlled"
    return NotificationRequested(**(values | overrides))


ADDRESS_BOOK = {
    "cpias": {
        "cpias-ara": {"address": "equipe@cpias-ara.example", "non_urgent": "immediate"},
        "cpias-idf": {"address": "equipe@cpias-idf.example", "non_urgent": "digest"},
    },
    "ars": {"84": "alerte@ars-ara.example", "11": "alerte@ars-idf.example"},
}


@dataclass
class Clock:
    """A clock the test moves by hand."""

    now: dt.datetime = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


@dataclass
class RecordingSender:
    """Records what it is given; fails as scripted first ("down", "refuse", "defer")."""

    failures: list[str] = field(default_factory=list)
    sent: list[Mail] = field(default_factory=list)

    def send(self, mail: Mail) -> None:
        if self.failures:
            failure = self.failures.pop(0)
            if failure == "refuse":
                raise PermanentSendError("recipient refused ([550])")
            raise TransientSendError(failure, unavailable=failure == "down")
        self.sent.append(mail)

    def close(self) -> None:
        pass
