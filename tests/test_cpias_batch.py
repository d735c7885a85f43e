"""Cases opened a poll at a time (services/cpias/service.py, receive_batch) on SQLite and
PostgreSQL: one unit of work for many events does what one unit of work per event did, in
the same order (cases, history, links and their reasons, episode keys, threshold alerts,
outbox), with duplicates and complements inside a batch and across batches."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bench.clusters import routed
from bench.synthetic import Generator
from iaspipe.db import make_engine, upgrade
from schemas import topics
from schemas.declaration import Complement
from schemas.events import CaseStatusChanged, DeclarationRouted, Milestone, decode
from services.cpias import service
from services.cpias.adapters.orm import CaseRow, LinkRow, Outbox, ThresholdAlertRow
from services.cpias.adapters.uow import SqlCpiasUnitOfWork
from services.cpias.app import MIGRATIONS
from services.cpias.domain.clusters import ClusterRules
from services.cpias.settings import CpiasSettings

ACK = CpiasSettings().ack_hours
T0 = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)
Events = list[tuple[str, DeclarationRouted]]


@pytest.fixture
def databases(database_url: str, tmp_path: Any) -> Iterator[tuple[sessionmaker[Session], ...]]:
    """Two empty CPias databases: the test's (SQLite or PostgreSQL) and a SQLite file."""
    engines = [make_engine(database_url), make_engine(f"sqlite:///{tmp_path}/other.db")]
    for engine in engines:
        upgrade(engine, MIGRATIONS)
    yield tuple(sessionmaker(e, expire_on_commit=False) for e in engines)
    for engine in engines:
        engine.dispose()


def complement(event: DeclarationRouted) -> tuple[str, DeclarationRouted]:
    text = Complement(cause_analysis="Cause", action_plan=[{"action": "Plan"}])  # type: ignore[list-item]
    later = event.model_copy(update={"kind": "complement", "complement": text})
    return str(uuid.uuid5(uuid.UUID(event.declaration_id), "complement")), later


def year_of_events() -> Events:
    """A region's year (planted outbreaks: suggestions and threshold alerts), with copies
    delivered again (next to the first and much later) and complements (right after the
    initial event and much later)."""
    year = Generator(11).year(background=150, outbreaks=8)
    events: Events = []
    for n, s in enumerate(year, start=1):
        event = routed(s, n)
        events.append((str(uuid.uuid5(event.source_event_id, "routed")), event))
        if n % 9 == 0:
            events.append(events[-1])  # the same event again, at once
        if n % 13 == 0:
            events.append(complement(event))
        if n % 17 == 0:
            events.append(events[n // 2])  # a copy of an earlier one
        if n % 19 == 0:
            events.append(complement(routed(year[n // 3], n // 3 + 1)))
    return events


def receive(sessions: sessionmaker[Session], events: Events, size: int) -> list[bool]:
    done: list[bool] = []
    for i in range(0, len(events), size):
        done += service.receive_batch(
            SqlCpiasUnitOfWork(sessions),
            events[i : i + size],
            ack_hours=ACK,
            now=T0,
            clusters=ClusterRules(),
        )
    return done


def everything(sessions: sessionmaker[Session]) -> dict[str, Any]:
    """What the CPias holds, case ids (random) replaced by the references."""
    with sessions() as s:
        refs = {r[0]: r[1] for r in s.execute(select(CaseRow.id, CaseRow.reference))}
        alerts = sorted(
            (a.mechanism_family, a.departement, a.episodes, a.first_date, a.last_date, a.expires_on)
            for a in s.scalars(select(ThresholdAlertRow))
        )
        outbox = [
            (o.topic, o.key, o.headers) for o in s.scalars(select(Outbox).order_by(Outbox.id))
        ]
        links = sorted(
            link_seen_from_the_first_reference(refs[x.case_id], refs[x.other_case_id], x)
            for x in s.scalars(select(LinkRow))
        )
    cases: dict[str, Any] = {}
    uow = SqlCpiasUnitOfWork(sessions)
    with uow:
        for case_id, reference in refs.items():
            case = uow.cases.get(case_id)
            assert case is not None
            cases[reference] = {
                "case": (case.declaration_id, case.status, case.complements, case.ack_due_at),
                "history": [
                    (
                        h.action,
                        h.before,
                        {k: v for k, v in (h.after or {}).items() if k != "case_id"},
                    )
                    for h in uow.history.of(case_id)
                ],
                "episodes": [
                    (e.organism, e.mechanism_family, e.episode_date)
                    for e in uow.episodes.of(case_id)
                ],
            }
    return {"cases": cases, "alerts": alerts, "outbox": outbox, "links": links}


def link_seen_from_the_first_reference(a: str, b: str, link: LinkRow) -> tuple[Any, ...]:
    """A link stored as (case a, case b) in the order of their random ids, as seen from
    the case of the smaller reference (its basis names their départements in that order)."""
    basis = dict(link.basis or {})
    if a > b:
        a, b = b, a
        basis["departements"] = basis.get("departements", [])[::-1]
    return (a, b, link.kind, link.status, link.reason, str(sorted(basis.items())))


def test_a_batch_does_what_one_event_at_a_time_did(
    databases: tuple[sessionmaker[Session], ...],
) -> None:
    batched, one_by_one = databases
    events = year_of_events()
    done = receive(batched, events, 37)
    assert done == receive(one_by_one, events, 1)
    assert done.count(False) > 10  # copies, inside one batch and across batches
    got, expected = everything(batched), everything(one_by_one)
    assert len(got["cases"]) == len({e.declaration_id for _, e in events})
    assert got["alerts"] and got["links"]
    assert any(len(c["case"][2]) for c in got["cases"].values())  # complements
    assert all(c["history"][0][0] == "opened" for c in got["cases"].values())
    assert got == expected


def test_a_case_opened_in_a_batch_is_seen_by_the_next_ones_of_the_batch(
    databases: tuple[sessionmaker[Session], ...],
) -> None:
    sessions, _ = databases
    year = Generator(11).year(background=0, outbreaks=3)
    events = [(str(uuid.uuid4()), routed(s, n)) for n, s in enumerate(year, start=1)]
    assert receive(sessions, events, len(events)) == [True] * len(events)
    held = everything(sessions)
    assert len(held["links"]) >= 2 and held["alerts"]


def test_a_complement_delivered_again_is_confirmed_again_under_the_same_event_id(
    databases: tuple[sessionmaker[Session], ...],
) -> None:
    """Intake publishes a complement again until it hears "complement_received" naming it: a
    copy of a complement already attached says it again, under the first one's event id, so
    that intake's timeline keeps one entry."""
    sessions, _ = databases
    (year,) = Generator(11).year(background=1, outbreaks=0)[:1]
    initial = routed(year, 1)
    sent = uuid.uuid4()  # the DeclarationComplemented's event id: the complement's id
    event_id, later = complement(initial)
    later = later.model_copy(update={"source_event_id": sent})
    first = [(str(uuid.uuid4()), initial), (event_id, later)]
    assert receive(sessions, first, 2) == [True, True]
    assert receive(sessions, [(event_id, later)], 1) == [False]

    with sessions() as s:
        said = [
            decode(o.value)
            for o in s.scalars(select(Outbox).order_by(Outbox.id))
            if o.topic == topics.STATUS
        ]
    confirmations = [
        (env.event_id, event.complement_id)
        for env, event in said
        if isinstance(event, CaseStatusChanged) and event.milestone is Milestone.complement_received
    ]
    assert len(confirmations) == 2
    assert confirmations[0] == confirmations[1]
    assert confirmations[0][1] == str(sent)
    with SqlCpiasUnitOfWork(sessions) as uow:  # attached once
        case = uow.cases.of_declarations({initial.declaration_id})[initial.declaration_id]
    assert len(case.complements) == 1


def test_the_same_complement_sent_twice_under_two_ids_is_confirmed_under_each(
    databases: tuple[sessionmaker[Session], ...],
) -> None:
    """Two complements with the same text (the declarant sent it twice, with two keys) are
    two ids in intake: the text is attached once, each id is confirmed, so intake stops
    publishing both."""
    sessions, _ = databases
    (year,) = Generator(12).year(background=1, outbreaks=0)[:1]
    initial = routed(year, 1)
    first_id, second_id = uuid.uuid4(), uuid.uuid4()
    _, first = complement(initial)
    first = first.model_copy(update={"source_event_id": first_id})
    second = first.model_copy(update={"source_event_id": second_id})
    events = [(str(uuid.uuid4()), initial), (str(uuid.uuid4()), first)]
    assert receive(sessions, events, 2) == [True, True]
    receive(sessions, [(str(uuid.uuid4()), second)], 1)

    with sessions() as s:
        said = [decode(o.value)[1] for o in s.scalars(select(Outbox)) if o.topic == topics.STATUS]
    confirmed = {
        e.complement_id
        for e in said
        if isinstance(e, CaseStatusChanged) and e.milestone is Milestone.complement_received
    }
    assert confirmed == {str(first_id), str(second_id)}
    with SqlCpiasUnitOfWork(sessions) as uow:
        case = uow.cases.of_declarations({initial.declaration_id})[initial.declaration_id]
    assert len(case.complements) == 1
