"""The notifier without a broker or a mail server: requests, messages, digests, retries,
claims, the address book and the message list, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from schemas.events import NotificationKind, Priority
from schemas.reference import reference
from services.notifier import service
from services.notifier.adapters.orm import AuditEntry, MessageRow
from services.notifier.adapters.templates import JinjaRenderer
from services.notifier.adapters.uow import SqlNotifierUnitOfWork
from services.notifier.app import create_app
from services.notifier.dispatch import Dispatcher
from services.notifier.settings import NotifierSettings
from tests.notifications import ADDRESS_BOOK, T0, Clock, RecordingSender, notification_request
from tests.tokens import Tokens


@dataclass
class Notifier:
    app: Any
    client: TestClient
    sender: RecordingSender
    clock: Clock
    dispatcher: Dispatcher
    tokens: Tokens

    def uow(self) -> SqlNotifierUnitOfWork:
        return SqlNotifierUnitOfWork(self.app.state.sessions)

    def accept(
        self, request: Any, event_id: str | None = None, opened_at: dt.datetime | None = None
    ) -> bool:
        """Hear of `request` now; the change that called for it was made `opened_at` (by
        default now, as when nothing holds the request up on its way)."""
        from schemas.events import notification_event_id

        event_id = event_id or str(notification_event_id(request.declaration_id, request.kind))
        request = request.model_copy(update={"requested_at": opened_at or self.clock()})
        return service.accept_request(
            self.uow(),
            event_id,
            request,
            audiences=self.app.state.settings.audiences,
            now=self.clock(),
        )

    def dispatch(self) -> int:
        return self.dispatcher.run_once()

    def rows(self) -> list[MessageRow]:
        with self.app.state.sessions() as s:
            return list(s.scalars(select(MessageRow).order_by(MessageRow.created_at)))


def make_notifier(
    database_url: str, auth_settings: Any, tokens: Tokens, **overrides: Any
) -> Iterator[Notifier]:
    values: dict[str, Any] = {
        "address_book": ADDRESS_BOOK,
        "retry_base_seconds": 10,
        "retry_max_seconds": 60,
    }
    settings = NotifierSettings(
        database_url=database_url, auth=auth_settings, **(values | overrides)
    )
    sender = RecordingSender()
    app = create_app(settings, start_workers=False, sender=sender)
    clock = Clock()
    with TestClient(app) as client:
        dispatcher = Dispatcher(
            settings,
            partial(SqlNotifierUnitOfWork, app.state.sessions),
            sender=sender,
            renderer=JinjaRenderer(),
            ref=reference(),
            clock=clock,
        )
        yield Notifier(app, client, sender, clock, dispatcher, tokens)


@pytest.fixture
def notifier(database_url: str, auth_settings: Any, tokens: Tokens) -> Iterator[Notifier]:
    yield from make_notifier(database_url, auth_settings, tokens)


@pytest.fixture
def lite(tmp_path: Any, auth_settings: Any, tokens: Tokens) -> Iterator[Notifier]:
    yield from make_notifier(f"sqlite:///{tmp_path}/n.db", auth_settings, tokens)


def test_a_request_received_twice_is_stored_once_and_sent_once(notifier: Notifier) -> None:
    request = notification_request(NotificationKind.new_case)
    assert notifier.accept(request) is True
    assert notifier.accept(request) is False
    assert notifier.dispatch() == 1
    assert notifier.accept(request) is False
    assert notifier.dispatch() == 0
    [mail] = notifier.sender.sent
    [row] = notifier.rows()
    assert (mail.message_id, mail.to) == (row.message_id, "equipe@cpias-ara.example")
    assert (row.status, row.sent_at, row.attempts) == ("sent", T0, 1)


def test_a_poll_of_requests_is_stored_in_one_transaction_each_once(notifier: Notifier) -> None:
    """The consumer's batch (service.accept_requests): a copy within the poll and a request
    stored by an earlier poll are passed over; the others, of several CPias and regions, get
    their messages."""
    from schemas.events import notification_event_id

    def item(request: Any) -> tuple[str, Any]:
        return str(notification_event_id(request.declaration_id, request.kind)), request

    earlier = notification_request(NotificationKind.new_case)
    assert notifier.accept(earlier) is True
    lyon = notification_request(NotificationKind.receipt)
    rennes = notification_request(cpias="cpias-bre", region_code="53")
    paris_overdue = notification_request(
        NotificationKind.ack_overdue, cpias="cpias-idf", region_code="11"
    )
    poll = [item(lyon), item(earlier), item(rennes), item(lyon), item(paris_overdue)]
    stored = service.accept_requests(
        notifier.uow(), poll, audiences=notifier.app.state.settings.audiences, now=T0
    )
    assert stored == 3
    assert (
        service.accept_requests(
            notifier.uow(), poll, audiences=notifier.app.state.settings.audiences, now=T0
        )
        == 0
    )
    rows = notifier.rows()
    assert len(rows) == 4  # earlier, lyon's receipt, rennes (no address), paris's warning
    assert sorted(r.status for r in rows).count("no_address") == 1
    assert notifier.dispatch() == 3
    assert sorted(m.kind for m in notifier.sender.sent) == ["ack_overdue", "new_case", "receipt"]


def test_each_kind_goes_to_its_audience_from_the_address_book(lite: Notifier) -> None:
    kinds = {
        NotificationKind.receipt: "claire.martin@chu.example",
        NotificationKind.case_closed: "claire.martin@chu.example",
        NotificationKind.new_case: "equipe@cpias-ara.example",
        NotificationKind.ack_reminder: "equipe@cpias-ara.example",
        NotificationKind.ack_overdue: "alerte@ars-ara.example",
    }
    for kind in kinds:
        lite.accept(notification_request(kind))
    # Brittany has no address in the book: recorded, never sent. Nor is a declarant's
    # address that would name a second recipient.
    lite.accept(notification_request(cpias="cpias-bre", region_code="53"))
    lite.accept(
        notification_request(NotificationKind.receipt, declarant_email="postmaster,claire@chu.fr")
    )
    assert lite.dispatch() == 5
    assert sorted((m.kind, m.to) for m in lite.sender.sent) == sorted(
        (k.value, to) for k, to in kinds.items()
    )
    assert [r.status for r in lite.rows()].count("no_address") == 2


def test_an_address_set_late_receives_the_messages_that_waited_for_one(notifier: Notifier) -> None:
    """Brittany's team has no address when an urgent case arrives: the alert is kept as
    "no_address". The admin sets the address: the alerts of the last 72 hours go to it, not
    older ones, not another CPias's, and not twice."""
    from iaspipe.principal import Caller, Principal, Role
    from schemas.notifications import ArsAddressIn, CpiasAddressIn

    admin = Caller(Principal(subject="admin@ars.example", role=Role.admin), "127.0.0.1")

    def set_address(kind: str, key: str, address: str) -> int:
        """How many waiting messages the change sent to the address, as its answer says."""
        if kind == "cpias":
            setter: Any = partial(service.set_cpias_address, body=CpiasAddressIn(address=address))
        else:
            setter = partial(service.set_ars_address, body=ArsAddressIn(address=address))
        view = setter(notifier.uow(), key, caller=admin, ref=reference(), now=notifier.clock())
        return cast(int, view.readdressed)

    old = notification_request(cpias="cpias-bre", region_code="53")
    notifier.accept(old)
    notifier.clock.advance(hours=73)
    urgent = notification_request(cpias="cpias-bre", region_code="53")
    overdue = notification_request(
        NotificationKind.ack_overdue, cpias="cpias-bre", region_code="53"
    )
    elsewhere = notification_request(cpias="cpias-pdl", region_code="52")
    for request in (urgent, overdue, elsewhere):
        notifier.accept(request)
    assert notifier.dispatch() == 0
    assert [r.status for r in notifier.rows()].count("no_address") == 4

    assert set_address("cpias", "cpias-bre", "equipe@cpias-bre.example") == 1
    assert notifier.dispatch() == 1
    [alert] = notifier.sender.sent
    assert (alert.kind, alert.to) == ("new_case", "equipe@cpias-bre.example")
    assert set_address("ars", "53", "alerte@ars-bretagne.example") == 1
    assert notifier.dispatch() == 1
    assert notifier.sender.sent[-1].kind == "ack_overdue"
    assert notifier.sender.sent[-1].to == "alerte@ars-bretagne.example"
    # The older alert and the other CPias's keep waiting; setting an address again sends
    # nothing twice.
    assert set_address("cpias", "cpias-bre", "autre@cpias-bre.example") == 0
    assert notifier.dispatch() == 0
    assert [r.status for r in notifier.rows()].count("no_address") == 2


def test_overdue_warnings_can_go_to_the_cpias_team_too(
    tmp_path: Any, auth_settings: Any, tokens: Tokens
) -> None:
    # Kinds not named keep their audience; an empty list sends a kind to nobody.
    audiences = {NotificationKind.ack_overdue: ["ars", "cpias"], NotificationKind.receipt: []}
    for n in make_notifier(
        f"sqlite:///{tmp_path}/a.db", auth_settings, tokens, audiences=audiences
    ):
        n.accept(notification_request(NotificationKind.ack_overdue))
        n.accept(notification_request(NotificationKind.receipt))  # no audience: no message
        n.accept(notification_request(NotificationKind.case_closed))
        assert n.dispatch() == 3
        assert sorted(m.to for m in n.sender.sent) == [
            "alerte@ars-ara.example",
            "claire.martin@chu.example",
            "equipe@cpias-ara.example",
        ]


def paris(hour: int, minute: int = 0, day: int = 23) -> dt.datetime:
    """An instant given on the Paris clock (UTC+1 in November)."""
    return dt.datetime(2026, 11, day, hour - 1, minute, tzinfo=dt.UTC)


def test_non_urgent_new_cases_wait_for_the_daily_digest_at_its_hour(notifier: Notifier) -> None:
    n = notifier  # cpias-idf asked for a digest; the digest hour is 08:00 on its clock
    n.clock.now = paris(6)
    idf = {"cpias": "cpias-idf", "region_code": "11"}
    urgent = notification_request(priority=Priority.urgent, **idf)
    first = notification_request(priority=Priority.high, reference="IAS-2026-11-000001", **idf)
    second = notification_request(priority=Priority.normal, reference="IAS-2026-11-000002", **idf)
    for request in (urgent, first, second):
        n.accept(request)
    assert n.dispatch() == 1  # the urgent one, at once
    n.clock.now = paris(7, 59)
    assert n.dispatch() == 0
    n.clock.now = paris(8)
    assert n.dispatch() == 1
    digest = n.sender.sent[-1]
    assert digest.kind == "digest" and digest.to == "equipe@cpias-idf.example"
    text = digest.rendered.text
    assert "IAS-2026-11-000001" in text and "IAS-2026-11-000002" in text
    assert text.count("http://127.0.0.1:8000/cases/") == 2
    # One digest a day: a case arriving after today's waits for tomorrow's.
    n.clock.now = paris(9)
    n.accept(notification_request(priority=Priority.high, reference="IAS-2026-11-000003", **idf))
    assert n.dispatch() == 0
    n.clock.now = paris(8, day=24)
    assert n.dispatch() == 1
    assert "IAS-2026-11-000003" in n.sender.sent[-1].rendered.text
    assert "IAS-2026-11-000001" not in n.sender.sent[-1].rendered.text
    # The digest shows among the messages of each declaration it lists.
    listed = n.client.get(
        "/v1/notifications",
        params={"declaration_id": first.declaration_id},
        headers=n.tokens.headers("admin"),
    ).json()["items"]
    assert [(i["kind"], i["status"], i["to"]) for i in listed] == [
        ("digest", "sent", "equipe@cpias-idf.example")
    ]


def test_a_case_opened_before_the_digest_but_heard_after_it_is_sent_at_once(
    notifier: Notifier,
) -> None:
    """Cases go into the digest of the day they were opened, not the day the notifier heard
    of them: one opened at 07:30 and heard at 08:00:05, after that day's digest went, is sent
    on its own at once, not in tomorrow's digest past its deadline."""
    n = notifier
    idf = {"cpias": "cpias-idf", "region_code": "11"}
    n.clock.now = paris(7)
    n.accept(notification_request(priority=Priority.normal, reference="IAS-2026-11-000020", **idf))
    n.clock.now = paris(8)
    assert n.dispatch() == 1 and n.sender.sent[-1].kind == "digest"
    n.clock.now = paris(8) + dt.timedelta(seconds=5)
    late = notification_request(priority=Priority.high, reference="IAS-2026-11-000021", **idf)
    n.accept(late, opened_at=paris(7, 30))
    assert n.dispatch() == 1
    alone = n.sender.sent[-1]
    assert alone.kind == "new_case" and alone.to == "equipe@cpias-idf.example"
    assert "IAS-2026-11-000021" in alone.rendered.text
    n.clock.now = paris(8, day=24)
    assert n.dispatch() == 0  # nothing left for tomorrow's
    # Heard late but opened after the hour: tomorrow's digest, as any case opened then.
    n.clock.now = paris(9, day=24)
    n.accept(
        notification_request(priority=Priority.normal, reference="IAS-2026-11-000022", **idf),
        opened_at=paris(8, 30, day=24),
    )
    assert n.dispatch() == 0


def test_a_case_after_the_digest_hour_waits_for_tomorrows_digest_on_a_quiet_day(
    notifier: Notifier,
) -> None:
    """No case waited at 08:00: the first one at 14:00 does not make a digest of its own."""
    n = notifier
    idf = {"cpias": "cpias-idf", "region_code": "11"}
    n.clock.now = paris(14)
    n.accept(notification_request(priority=Priority.high, reference="IAS-2026-11-000011", **idf))
    assert n.dispatch() == 0
    n.clock.now = paris(15)
    n.accept(notification_request(priority=Priority.normal, reference="IAS-2026-11-000012", **idf))
    assert n.dispatch() == 0
    n.clock.now = paris(7, 59, day=24)
    assert n.dispatch() == 0
    n.clock.now = paris(8, day=24)
    assert n.dispatch() == 1
    text = n.sender.sent[-1].rendered.text
    assert "IAS-2026-11-000011" in text and "IAS-2026-11-000012" in text
    assert [m.kind for m in n.sender.sent] == ["digest"]


def test_a_transient_failure_is_retried_with_backoff_and_a_refusal_is_given_up(
    lite: Notifier,
) -> None:
    n = lite
    for kind in (NotificationKind.new_case, NotificationKind.receipt):
        n.accept(notification_request(kind))
    n.sender.failures = ["down"]  # the server cannot be reached: the whole batch waits
    assert n.dispatch() == 0
    # The one tried counts an attempt; the rest of the batch was not even tried.
    assert sorted((r.status, r.attempts) for r in n.rows()) == [("pending", 0), ("pending", 1)]
    assert all(r.next_attempt_at == T0 + dt.timedelta(seconds=10) for r in n.rows())
    n.clock.advance(seconds=9)
    assert n.dispatch() == 0 and n.sender.sent == []
    n.clock.advance(seconds=1)
    n.sender.failures = ["down"]
    assert n.dispatch() == 0  # second failure: twice the delay
    assert all(r.next_attempt_at == n.clock.now + dt.timedelta(seconds=20) for r in n.rows())
    n.clock.advance(seconds=20)
    assert n.dispatch() == 2
    assert [r.status for r in n.rows()] == ["sent", "sent"]
    # A mailbox the server refuses for good is recorded as failed, not retried forever.
    n.accept(notification_request(NotificationKind.ack_overdue))
    n.sender.failures = ["refuse"]
    assert n.dispatch() == 0
    n.clock.advance(hours=1)
    assert n.dispatch() == 0
    assert n.rows()[-1].status == "failed" and n.rows()[-1].last_error


def test_a_claimed_message_is_left_to_its_sender_until_the_claim_expires(lite: Notifier) -> None:
    lite.accept(notification_request())
    now = lite.clock.now
    with lite.uow() as uow:
        claimed = uow.messages.claim_due(now, now + dt.timedelta(minutes=5), 10)
        uow.commit()
    assert len(claimed) == 1
    assert lite.dispatch() == 0  # another sender leaves it alone
    lite.clock.advance(minutes=5)  # its sender died without recording anything
    assert lite.dispatch() == 1


def test_the_address_book_is_admins_only_and_every_edit_is_audited(lite: Notifier) -> None:
    client, tokens = lite.client, lite.tokens
    admin = tokens.headers("admin", subject="admin.ars")
    book = client.get("/v1/address-book", headers=admin).json()
    ara = next(c for c in book["cpias"] if c["cpias"] == "cpias-ara")
    assert (ara["address"], ara["non_urgent"], ara["updated_by"]) == (
        "equipe@cpias-ara.example",
        "immediate",
        "settings",
    )
    assert len(book["cpias"]) == 17 and len(book["ars"]) == 18
    bre = next(c for c in book["cpias"] if c["cpias"] == "cpias-bre")
    assert bre["address"] is None
    r = client.put(
        "/v1/address-book/cpias/cpias-bre",
        json={"address": "signalement@cpias-bretagne.example", "non_urgent": "digest"},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["address"], r.json()["updated_by"], r.json()["readdressed"]) == (
        "signalement@cpias-bretagne.example",
        "admin.ars",
        0,
    )
    # The count answers a change; the book's listing has no such field.
    listed = client.get("/v1/address-book", headers=admin).json()
    assert all("readdressed" not in e for e in listed["cpias"] + listed["ars"])
    assert client.put(
        "/v1/address-book/ars/53", json={"address": "veille@ars-bretagne.example"}, headers=admin
    ).json()["address"] == ("veille@ars-bretagne.example")
    for role, scope in (
        ("declarant", {"finess": "690781810"}),
        ("cpias_investigator", {"cpias": "cpias-bre"}),
        ("ars_viewer", {"region": "53"}),
    ):
        headers = tokens.headers(role, **scope)
        assert client.get("/v1/address-book", headers=headers).status_code == 403
        assert (
            client.put(
                "/v1/address-book/ars/53", json={"address": "x@y.example"}, headers=headers
            ).status_code
            == 403
        )
    bad = client.put(
        "/v1/address-book/ars/53",
        json={"address": "a@b.example\r\nBcc: c@d.example"},
        headers=admin,
    )
    assert bad.status_code == 422
    for hidden in ("a\x00b@c.example", "a\x1b@c.example", "a\x7f@c.example"):
        r = client.put("/v1/address-book/ars/53", json={"address": hidden}, headers=admin)
        assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "control_character"
    unknown = client.put("/v1/address-book/ars/99", json={"address": "a@b.example"}, headers=admin)
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["path"] == "region_code"
    with lite.app.state.sessions() as s:
        edits = [
            (a.subject, a.object_type, a.object_id)
            for a in s.scalars(select(AuditEntry).where(AuditEntry.action == "address_book:update"))
        ]
    assert edits == [("admin.ars", "cpias", "cpias-bre"), ("admin.ars", "ars", "53")]
    # The next new case of Brittany goes to its new address.
    lite.accept(notification_request(cpias="cpias-bre", region_code="53"))
    lite.dispatch()
    assert lite.sender.sent[-1].to == "signalement@cpias-bretagne.example"


def test_a_restart_never_overwrites_an_admins_edit_with_the_settings(
    tmp_path: Any, auth_settings: Any, tokens: Tokens
) -> None:
    url = f"sqlite:///{tmp_path}/n.db"
    for n in make_notifier(url, auth_settings, tokens):
        n.client.put(
            "/v1/address-book/cpias/cpias-ara",
            json={"address": "nouvelle@cpias-ara.example"},
            headers=tokens.headers("admin"),
        )
    for n in make_notifier(url, auth_settings, tokens):
        with n.uow() as uow:
            entry = uow.book.cpias("cpias-ara")
        assert entry is not None and entry.address == "nouvelle@cpias-ara.example"


def test_an_unknown_cpias_in_the_settings_refuses_the_start(
    tmp_path: Any, auth_settings: Any, tokens: Tokens
) -> None:
    book = {"cpias": {"cpias-atlantide": {"address": "a@b.example"}}}
    with pytest.raises(ValueError, match="cpias-atlantide"):
        for _ in make_notifier(
            f"sqlite:///{tmp_path}/n.db", auth_settings, tokens, address_book=book
        ):
            pass


def test_the_messages_of_a_declaration_are_listed_for_whoever_may_read_it(
    notifier: Notifier,
) -> None:
    n = notifier
    declaration_id = notification_request().declaration_id
    for kind in (NotificationKind.receipt, NotificationKind.new_case):
        n.accept(notification_request(kind, declaration_id=declaration_id))
    n.dispatch()

    def listed(role: str, **scope: str) -> list[tuple[str, str | None, str]]:
        r = n.client.get(
            "/v1/notifications",
            params={"declaration_id": declaration_id},
            headers=n.tokens.headers(role, subject=f"{role}.reader", **scope),
        )
        assert r.status_code == 200, r.text
        return sorted(((i["kind"], i["to"], i["status"]) for i in r.json()["items"]), key=str)

    everything = [
        ("new_case", "equipe@cpias-ara.example", "sent"),
        ("receipt", "claire.martin@chu.example", "sent"),
    ]
    # The declarant sees that the CPias team was told, not the team's address.
    assert listed("declarant", finess="690781810") == [
        ("new_case", None, "sent"),
        ("receipt", "claire.martin@chu.example", "sent"),
    ]
    assert listed("cpias_investigator", cpias="cpias-ara") == everything
    assert listed("ars_viewer", region="84") == everything
    assert listed("admin") == everything
    assert listed("declarant", finess="750100125") == []
    assert listed("cpias_investigator", cpias="cpias-idf") == []
    assert listed("ars_viewer", region="11") == []
    item = n.client.get(
        "/v1/notifications",
        params={"declaration_id": declaration_id},
        headers=n.tokens.headers("admin"),
    ).json()["items"][0]
    assert item["sent_at"] == "2026-11-23T09:00:00Z" and item["attempts"] == 1
    with n.app.state.sessions() as s:
        reads = s.scalars(select(AuditEntry).where(AuditEntry.object_id == declaration_id)).all()
    assert len(reads) == 8  # every read audited
    # The reads from another scope are refusals, as a 404 is in the other services.
    refused = sorted(r.subject for r in reads if (r.outcome, r.reason) == ("refused", "not_found"))
    assert refused == ["ars_viewer.reader", "cpias_investigator.reader", "declarant.reader"]
    assert {r.outcome for r in reads if r.subject == "admin.reader"} == {"done"}
    # An id the notifier knows nothing of is a read of nothing (a declaration whose receipt
    # is not asked for yet), not a refusal.
    unknown = str(uuid.uuid4())
    n.client.get(
        "/v1/notifications",
        params={"declaration_id": unknown},
        headers=n.tokens.headers("declarant", finess="690781810"),
    )
    with n.app.state.sessions() as s:
        [entry] = s.scalars(select(AuditEntry).where(AuditEntry.object_id == unknown)).all()
    assert entry.outcome == "done"


def test_a_community_declaration_is_listed_to_the_person_who_sent_it(lite: Notifier) -> None:
    request = notification_request(
        NotificationKind.receipt,
        establishment={"name": "Cabinet infirmier", "finess": None, "departement": "69"},
        submitted_by="ide.liberale",
    )
    lite.accept(request)

    def count(subject: str) -> int:
        headers = lite.tokens.headers("declarant", finess="690781810", subject=subject)
        return len(
            lite.client.get(
                "/v1/notifications",
                params={"declaration_id": request.declaration_id},
                headers=headers,
            ).json()["items"]
        )

    assert (count("ide.liberale"), count("someone.else")) == (1, 0)


def test_pending_messages_show_in_the_metrics(lite: Notifier) -> None:
    lite.accept(notification_request(at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)))
    with lite.uow() as uow:  # created ten minutes ago, by the clock of the request
        uow.session.execute(
            MessageRow.__table__.update().values(
                created_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
            )
        )
        uow.commit()
    metrics = lite.client.get("/metrics").text
    assert "notifier_messages_pending 1.0" in metrics
    age = next(
        float(line.split()[1])
        for line in metrics.splitlines()
        if line.startswith("notifier_oldest_pending_age_seconds")
    )
    assert 595 < age < 700
    lite.clock.now = dt.datetime.now(dt.UTC)
    lite.dispatch()
    metrics = lite.client.get("/metrics").text
    assert "notifier_messages_pending 0.0" in metrics
    assert 'notifier_messages_sent_total{kind="new_case"}' in metrics
