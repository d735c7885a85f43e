"""The notifier against a real SMTP server process (aiosmtpd on 127.0.0.1): an outage of
30 seconds loses nothing and sends nothing twice, a redelivered request sends nothing more,
and reminders and overdue warnings arrive at the right times on a clock the test moves."""

from __future__ import annotations

import asyncio
import time
import types
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaProducer
from sqlalchemy import select, update

from iaspipe import db
from iaspipe.kafka import handle_alone
from iaspipe.principal import Caller, Principal, Role
from schemas import topics
from schemas.events import NotificationKind, decode, notification_envelope
from schemas.reference import reference
from services.cpias import service as cpias_service
from services.cpias.adapters.orm import Outbox as CpiasOutbox
from services.cpias.adapters.uow import SqlCpiasUnitOfWork
from services.cpias.app import MIGRATIONS as CPIAS_MIGRATIONS
from services.cpias.deadlines import DeadlineWatch
from services.cpias.domain.workflow import Status
from services.cpias.settings import CpiasSettings
from services.notifier import service as notifier_service
from services.notifier.adapters.mail import SmtpSender
from services.notifier.adapters.orm import MessageRow
from services.notifier.adapters.templates import JinjaRenderer
from services.notifier.adapters.uow import SqlNotifierUnitOfWork
from services.notifier.app import MIGRATIONS as NOTIFIER_MIGRATIONS
from services.notifier.app import create_app
from services.notifier.consumer import RequestConsumer
from services.notifier.dispatch import Dispatcher
from services.notifier.settings import AddressBookSeed, NotifierSettings, SmtpSettings
from tests.conftest import Broker
from tests.events import routed_to_cpias, submitted
from tests.factories import declaration_in, make_declaration
from tests.notifications import (
    ADDRESS_BOOK,
    T0,
    Clock,
    Inbox,
    SmtpServer,
    notification_request,
)
from tests.pipeline import eventually

OUTAGE_SECONDS = 30


def smtp_settings(port: int, timeout: float = SmtpSettings().timeout_seconds) -> SmtpSettings:
    """The server in the test process may answer slowly on a loaded machine: the default
    timeout, so that a slow reply is not taken for a lost one (see the test of that)."""
    return SmtpSettings(host="127.0.0.1", port=port, starttls=False, timeout_seconds=timeout)


def test_smtp_down_30_seconds_then_back_sends_every_message_exactly_once(
    broker: Broker, tmp_path: Path, auth_settings: Any
) -> None:
    server = SmtpServer()  # its port is free: nothing listens there yet
    settings = NotifierSettings(
        database_url=f"sqlite:///{tmp_path}/notifier.db",
        kafka_bootstrap_servers=[broker.bootstrap],
        auth=auth_settings,
        sender="smtp",
        smtp=smtp_settings(server.port),
        address_book=ADDRESS_BOOK,
        retry_base_seconds=0.5,
        retry_max_seconds=3,
        dispatch_every_seconds=0.2,
    )
    requests = [notification_request(kind) for kind in NotificationKind]
    requests.append(notification_request(NotificationKind.new_case, reference="IAS-2026-84-000002"))
    events = [notification_envelope(r) for r in requests]
    app = create_app(settings)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    try:
        with TestClient(app) as client:
            down_since = time.monotonic()
            for event, request in zip(events, requests, strict=True):
                key = request.declaration_id.encode()
                producer.send(topics.NOTIFICATIONS, key=key, value=event.to_bytes())
            producer.flush()

            def rows() -> list[MessageRow]:
                with app.state.sessions() as s:
                    return list(s.scalars(select(MessageRow)))

            eventually(lambda: len(rows()) == len(requests), timeout=30, what="requests stored")
            eventually(
                lambda: any(r.attempts >= 2 for r in rows()), timeout=20, what="retries under way"
            )
            time.sleep(max(OUTAGE_SECONDS - (time.monotonic() - down_since), 0))
            assert server.inbox.messages == []
            assert {r.status for r in rows()} == {"pending"}
            metrics = client.get("/metrics").text
            assert f"notifier_messages_pending {float(len(requests))}" in metrics
            assert 'notifier_messages_failed_total{error="transient"' in metrics

            server.start()  # the mail server is back
            eventually(
                lambda: len(server.inbox.messages) == len(requests),
                timeout=15,
                what="every message delivered",
            )
            # The server has a message before the notifier has recorded its sending.
            eventually(
                lambda: {r.status for r in rows()} == {"sent"},
                timeout=10,
                what="every message recorded as sent",
            )
            back = {r.message_id: r for r in rows()}
            assert sorted(server.inbox.message_ids()) == sorted(
                f"<{message_id}@signalement-ias.invalid>" for message_id in back
            )

            # The same requests delivered again (a producer retry, a relay that crashed
            # before marking them published): nothing more is sent.
            def duplicates() -> float:
                text = client.get("/metrics").text
                line = next(x for x in text.splitlines() if x.startswith("notifier_duplicate_"))
                return float(line.split()[1])

            seen_before = duplicates()  # the counter belongs to the process
            for event, request in zip(events, requests, strict=True):
                key = request.declaration_id.encode()
                producer.send(topics.NOTIFICATIONS, key=key, value=event.to_bytes())
            producer.flush()
            eventually(
                lambda: duplicates() == seen_before + len(requests),
                timeout=20,
                what="duplicates recognised",
            )
            time.sleep(2)  # time for a wrong second sending to show
            assert len(server.inbox.messages) == len(requests)
            assert len(rows()) == len(requests)
    finally:
        producer.close()
        server.stop()


# -- reminders and overdue warnings on a clock the test moves ------------------------------


class Stack:
    """The CPias service's deadline watch and the notifier's dispatcher on one clock, the
    outbox rows of the one carried to the other as the relay and the consumer would."""

    def __init__(
        self, tmp: Path, smtp_port: int, *, smtp_timeout: float = SmtpSettings().timeout_seconds
    ) -> None:
        self.clock = Clock()
        cpias_engine = db.make_engine(f"sqlite:///{tmp}/cpias.db")
        db.upgrade(cpias_engine, CPIAS_MIGRATIONS)
        self.cpias = partial(SqlCpiasUnitOfWork, db_sessions(cpias_engine))
        notifier_engine = db.make_engine(f"sqlite:///{tmp}/notifier.db")
        db.upgrade(notifier_engine, NOTIFIER_MIGRATIONS)
        self.notifier_sessions = db_sessions(notifier_engine)
        self.notifier = partial(SqlNotifierUnitOfWork, self.notifier_sessions)
        book = AddressBookSeed.model_validate(ADDRESS_BOOK)
        notifier_service.seed_address_book(
            self.notifier(), cpias=book.cpias, ars=book.ars, ref=reference()
        )
        settings = NotifierSettings(smtp=smtp_settings(smtp_port, smtp_timeout), sender="smtp")
        self.watch = DeadlineWatch(CpiasSettings(), self.cpias, clock=self.clock)
        self.consumer = RequestConsumer(settings, self.notifier, clock=self.clock)
        self.dispatcher = Dispatcher(
            settings,
            self.notifier,
            sender=SmtpSender(settings.smtp, settings.from_address),
            renderer=JinjaRenderer(),
            ref=reference(),
            clock=self.clock,
        )
        self.engines = (cpias_engine, notifier_engine)

    def open_case(self, body: dict[str, Any]) -> str:
        env, routed = decode(routed_to_cpias(submitted(body)))
        cpias_service.receive_routed(
            self.cpias(),
            str(env.event_id),
            routed,  # type: ignore[arg-type]
            ack_hours=CpiasSettings().ack_hours,
            now=self.clock(),
        )
        with self.cpias() as uow:
            case = uow.cases.find(declaration_id=routed.declaration_id)  # type: ignore[attr-defined]
        assert case is not None
        return str(case.id)

    def acknowledge(self, case_id: str) -> None:
        caller = Caller(Principal("inv.ara", Role.cpias_investigator, cpias="cpias-ara"))
        cpias_service.transition(
            self.cpias(),
            case_id,
            to=Status.acknowledged,
            caller=caller,
            reason=None,
            outcome=None,
            now=self.clock(),
        )

    def carry(self) -> None:
        """What the cpias relay published, handed to the notifier's consumer."""
        with self.cpias() as uow:
            rows = uow.session.scalars(
                select(CpiasOutbox).where(
                    CpiasOutbox.topic == topics.NOTIFICATIONS, CpiasOutbox.published_at.is_(None)
                )
            ).all()
            for row in rows:
                record = types.SimpleNamespace(
                    value=row.value, topic=row.topic, partition=0, offset=row.id
                )
                handle_alone(self.consumer, record)
            uow.session.execute(
                update(CpiasOutbox)
                .where(CpiasOutbox.id.in_([r.id for r in rows]))
                .values(published_at=self.clock())
            )
            uow.commit()

    def at(self, **after_t0: float) -> None:
        """Move the clock to T0 + delta, then run one pass of each."""
        self.clock.now = T0
        self.clock.advance(**after_t0)
        self.watch.run_once()
        self.carry()
        self.dispatcher.run_once()

    def sent_at(self) -> dict[tuple[str, str], Any]:
        with self.notifier_sessions() as s:
            return {
                (r.kind, r.to_address or ""): r.sent_at
                for r in s.scalars(select(MessageRow).where(MessageRow.status == "sent"))
            }


def db_sessions(engine: Any) -> Any:
    from sqlalchemy.orm import sessionmaker

    return sessionmaker(engine, expire_on_commit=False)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def test_reminders_and_overdue_warnings_arrive_at_the_right_times(
    tmp_path: Path, smtp: SmtpServer
) -> None:
    stack = Stack(tmp_path, smtp.port)
    urgent_paris = stack.open_case(make_declaration("candida_auris_paris_device"))  # 4 hours
    stack.open_case(declaration_in("69"))  # high priority: 24 hours, no reminder
    urgent_lyon = stack.open_case(
        declaration_in("69", criteria=["1a", "2", "3"], infection__deaths=1)
    )
    stack.at(seconds=0)
    assert sorted(m["To"] for m in smtp.inbox.messages) == [
        "equipe@cpias-ara.example",
        "equipe@cpias-ara.example",
        "equipe@cpias-idf.example",
    ]
    stack.acknowledge(urgent_lyon)

    def inbox_after(**delta: float) -> list[tuple[str, str]]:
        stack.at(**delta)
        return [(str(m["To"]), str(m["Subject"]).split()[0]) for m in smtp.inbox.messages[3:]]

    assert inbox_after(hours=2, minutes=59, seconds=59) == []
    reminder = [("equipe@cpias-idf.example", "[RAPPEL]")]
    assert inbox_after(hours=3) == reminder  # one hour before the deadline
    assert inbox_after(hours=3, minutes=30) == reminder  # never twice
    assert inbox_after(hours=4) == reminder  # the deadline itself is not passed yet
    overdue = [("alerte@ars-idf.example", "[DÉLAI")]
    assert inbox_after(hours=4, seconds=1) == reminder + overdue
    assert inbox_after(hours=23, minutes=59) == reminder + overdue
    assert inbox_after(hours=24, seconds=1) == [
        *reminder,
        *overdue,
        ("alerte@ars-ara.example", "[DÉLAI"),  # the high-priority case, 24 hours on
    ]
    assert inbox_after(hours=48) == reminder + overdue + [("alerte@ars-ara.example", "[DÉLAI")]
    sent = stack.sent_at()
    assert sent[("ack_reminder", "equipe@cpias-idf.example")] == T0.replace(hour=12)
    assert sent[("ack_overdue", "alerte@ars-idf.example")] == T0.replace(hour=13, second=1)
    # The team's alert and reminder link to the case (its queue); the ARS's warning to the
    # declaration's page, which the ARS may open.
    paris_case = [m for m in smtp.inbox.messages if urgent_paris in m.get_body().get_content()]
    assert [str(m["Subject"]).split()[0] for m in paris_case] == ["[URGENT]", "[RAPPEL]"]
    [warning] = smtp.inbox.to("alerte@ars-idf.example")
    assert "/declarations/" in warning.get_body().get_content()
    for engine in stack.engines:
        engine.dispose()


def test_a_redelivered_request_sends_nothing_more(tmp_path: Path, smtp: SmtpServer) -> None:
    stack = Stack(tmp_path, smtp.port)
    request = notification_request(NotificationKind.ack_overdue)
    event = notification_envelope(request)
    for offset in range(3):
        handle_alone(
            stack.consumer,
            types.SimpleNamespace(
                value=event.to_bytes(), topic=topics.NOTIFICATIONS, partition=0, offset=offset
            ),
        )
        stack.dispatcher.run_once()
    assert [m["To"] for m in smtp.inbox.messages] == ["alerte@ars-ara.example"]
    message_id = str(uuid.uuid5(event.event_id, "message:ars"))
    assert smtp.inbox.message_ids() == [f"<{message_id}@signalement-ias.invalid>"]
    for engine in stack.engines:
        engine.dispose()


def test_an_address_the_server_cannot_take_fails_alone_and_holds_nothing_back(
    tmp_path: Path,
) -> None:
    """A declarant's address in another alphabet, to a server without SMTPUTF8: that
    receipt fails for good, and the urgent case queued behind it goes at once."""
    server = SmtpServer(utf8=False).start()
    try:
        stack = Stack(tmp_path, server.port)
        receipt = notification_request(
            NotificationKind.receipt, declarant_email="josé.martin@chu.example"
        )
        urgent = notification_request(NotificationKind.new_case, reference="IAS-2026-84-000002")
        for offset, request in enumerate((receipt, urgent)):
            handle_alone(
                stack.consumer,
                types.SimpleNamespace(
                    value=notification_envelope(request).to_bytes(),
                    topic=topics.NOTIFICATIONS,
                    partition=0,
                    offset=offset,
                ),
            )
        stack.dispatcher.run_once()
        assert [m["To"] for m in server.inbox.messages] == ["equipe@cpias-ara.example"]
        with stack.notifier_sessions() as s:
            status = {r.kind: r.status for r in s.scalars(select(MessageRow))}
        assert status == {"receipt": "failed", "new_case": "sent"}
        for engine in stack.engines:
            engine.dispose()
    finally:
        server.stop()


class SlowFirstReply(Inbox):
    """Takes every message, but answers the first one after the client has stopped
    waiting: the server has it, the client cannot know."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        if len(self.messages) == 1:
            await asyncio.sleep(1.5)
        return answer


def test_a_reply_lost_after_the_server_took_the_message_sends_it_again_with_its_message_id(
    tmp_path: Path,
) -> None:
    """SMTP's own limit (RFC 1047): when the answer to the message's data never arrives
    (the connection cut, or SMTP__TIMEOUT_SECONDS passed), the server may have taken it.
    The notifier cannot know, so it sends it again rather than risk losing it; the copy
    carries the same Message-ID, by which the receiving side recognises it."""
    server = SmtpServer(inbox=SlowFirstReply()).start()
    try:
        stack = Stack(tmp_path, server.port, smtp_timeout=0.5)
        request = notification_request(NotificationKind.ack_overdue)
        record = types.SimpleNamespace(
            value=notification_envelope(request).to_bytes(),
            topic=topics.NOTIFICATIONS,
            partition=0,
            offset=0,
        )
        handle_alone(stack.consumer, record)

        assert stack.dispatcher.run_once() == 0  # no answer in time: not recorded as sent
        with stack.notifier_sessions() as s:
            [row] = s.scalars(select(MessageRow))
        assert (row.status, row.attempts) == ("pending", 1)
        assert len(server.inbox.messages) == 1

        stack.clock.advance(seconds=NotifierSettings().retry_base_seconds)
        assert stack.dispatcher.run_once() == 1
        with stack.notifier_sessions() as s:
            [row] = s.scalars(select(MessageRow))
        assert (row.status, row.attempts) == ("sent", 2)
        expected = f"<{row.message_id}@signalement-ias.invalid>"
        assert server.inbox.message_ids() == [expected, expected]
        for engine in stack.engines:
            engine.dispose()
    finally:
        server.stop()
