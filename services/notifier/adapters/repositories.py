"""The notifier's repositories: every query of the service lives here. They never commit;
the unit of work (adapters/uow.py) does."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import Session

from iaspipe.db import from_row, insert_ignoring_conflict, locks_rows, present, values_of
from schemas.events import NotificationRequested
from schemas.notifications import Audience, MessageStatus, NonUrgent, NotificationView
from services.notifier.adapters.orm import ArsAddressRow, CpiasAddressRow, MessageRow, RequestRow
from services.notifier.domain.address_book import ArsEntry, CpiasEntry
from services.notifier.domain.messages import Message
from services.notifier.domain.policy import DeclarationScope

PENDING = MessageStatus.pending.value


class RequestRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def exists(self, event_id: str) -> bool:
        return self.session.get(RequestRow, event_id) is not None

    def known(self, event_ids: Collection[str]) -> set[str]:
        return present(self.session, RequestRow.event_id, event_ids)

    def add(
        self, requests: Sequence[tuple[str, NotificationRequested, bool]], *, at: dt.datetime
    ) -> None:
        if not requests:
            return
        self.session.execute(
            insert(RequestRow),
            [
                {
                    "event_id": event_id,
                    "kind": request.kind.value,
                    "declaration_id": request.declaration_id,
                    "cpias": request.cpias,
                    "region_code": request.region_code,
                    "finess": request.establishment.finess,
                    "submitted_by": request.submitted_by,
                    "payload": request.model_dump(mode="json"),
                    "received_at": at,
                    "awaits_digest": awaits_digest,
                    "digest_id": None,
                }
                for event_id, request, awaits_digest in requests
            ],
        )

    def get_many(self, event_ids: Collection[str]) -> dict[str, NotificationRequested]:
        if not event_ids:
            return {}
        rows = self.session.execute(
            select(RequestRow.event_id, RequestRow.payload).where(
                RequestRow.event_id.in_(list(event_ids))
            )
        )
        return {e: NotificationRequested.model_validate(p) for e, p in rows}

    def awaiting_digest(self) -> list[tuple[str, NotificationRequested]]:
        rows = self.session.execute(
            select(RequestRow.event_id, RequestRow.payload)
            .where(RequestRow.awaits_digest.is_(True), RequestRow.digest_id.is_(None))
            .order_by(RequestRow.received_at)
        )
        return [
            (event_id, NotificationRequested.model_validate(payload)) for event_id, payload in rows
        ]

    def attach_to_digest(self, event_ids: list[str], digest_id: str) -> None:
        self.session.execute(
            update(RequestRow)
            .where(RequestRow.event_id.in_(event_ids))
            .values(digest_id=digest_id)
            .execution_options(synchronize_session=False)
        )

    def of_digest(self, digest_id: str) -> list[NotificationRequested]:
        payloads = self.session.scalars(
            select(RequestRow.payload)
            .where(RequestRow.digest_id == digest_id)
            .order_by(RequestRow.received_at)
        )
        return [NotificationRequested.model_validate(p) for p in payloads]

    def scope_of(self, declaration_id: str) -> DeclarationScope | None:
        rows = self.session.execute(
            select(
                RequestRow.finess, RequestRow.submitted_by, RequestRow.region_code, RequestRow.cpias
            ).where(RequestRow.declaration_id == declaration_id)
        ).all()
        if not rows:
            return None
        finess, _, region_code, cpias = rows[0]
        submitted_by = next((r.submitted_by for r in rows if r.submitted_by), None)
        return DeclarationScope(finess, submitted_by, region_code, cpias)


def _message(row: MessageRow) -> Message:
    audience, status = Audience(row.audience), MessageStatus(row.status)
    return from_row(Message, row, to=row.to_address, audience=audience, status=status)


def _columns(m: Message) -> dict[str, Any]:
    """A message's row: its `to` is the column to_address."""
    return {**values_of(m, leave_out=("to",)), "to_address": m.to}


class MessageRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def exists(self, message_id: str) -> bool:
        return self.session.get(MessageRow, message_id) is not None

    def add(self, *messages: Message) -> None:
        if messages:
            self.session.execute(
                insert(MessageRow),
                [_columns(m) | {"claimed_until": None} for m in messages],
            )

    def claim_due(self, now: dt.datetime, until: dt.datetime, limit: int) -> list[Message]:
        m = MessageRow
        query = (
            select(m)
            .where(
                m.status == PENDING,
                m.next_attempt_at <= now,
                or_(m.claimed_until.is_(None), m.claimed_until <= now),
            )
            .order_by(m.next_attempt_at, m.created_at, m.message_id)
            .limit(limit)
            .execution_options(populate_existing=True)
        )
        if locks_rows(self.session):
            query = query.with_for_update(skip_locked=True)
        claimed = [_message(row) for row in self.session.scalars(query)]
        if claimed:
            self.session.execute(
                update(m)
                .where(m.message_id.in_([c.message_id for c in claimed]))
                .values(claimed_until=until)
                .execution_options(synchronize_session=False)
            )
        return claimed

    def _set(self, message_id: str, **values: object) -> bool:
        result = self.session.execute(
            update(MessageRow)
            .where(MessageRow.message_id == message_id, MessageRow.status == PENDING)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    def mark_sent(self, message_id: str, at: dt.datetime) -> bool:
        return self._set(
            message_id,
            status=MessageStatus.sent.value,
            sent_at=at,
            attempts=MessageRow.attempts + 1,
            claimed_until=None,
        )

    def mark_retry(
        self, message_id: str, *, attempts: int, next_attempt_at: dt.datetime, error: str
    ) -> None:
        self._set(
            message_id,
            attempts=attempts,
            next_attempt_at=next_attempt_at,
            last_error=error,
            claimed_until=None,
        )

    def mark_failed(self, message_id: str, *, attempts: int, error: str) -> None:
        self._set(
            message_id,
            status=MessageStatus.failed.value,
            attempts=attempts,
            last_error=error,
            claimed_until=None,
        )

    def readdress(
        self,
        audience: Audience,
        *,
        where: tuple[str, str],
        to: str,
        since: dt.datetime,
        now: dt.datetime,
    ) -> int:
        column, key = where
        theirs = select(RequestRow.event_id).where(getattr(RequestRow, column) == key)
        done = self.session.execute(
            update(MessageRow)
            .where(
                MessageRow.status == MessageStatus.no_address.value,
                MessageRow.audience == audience.value,
                MessageRow.created_at >= since,
                MessageRow.request_event_id.in_(theirs),
            )
            .values(to_address=to, status=PENDING, next_attempt_at=now, claimed_until=None)
            .execution_options(synchronize_session=False)
        )
        return int(done.rowcount or 0)  # type: ignore[attr-defined]

    def release(self, message_ids: list[str], next_attempt_at: dt.datetime) -> None:
        if not message_ids:
            return
        self.session.execute(
            update(MessageRow)
            .where(MessageRow.message_id.in_(message_ids), MessageRow.status == PENDING)
            .values(next_attempt_at=next_attempt_at, claimed_until=None)
            .execution_options(synchronize_session=False)
        )

    def of_declaration(self, declaration_id: str) -> list[NotificationView]:
        digests = select(RequestRow.digest_id).where(
            RequestRow.declaration_id == declaration_id, RequestRow.digest_id.is_not(None)
        )
        rows = self.session.scalars(
            select(MessageRow)
            .where(
                or_(
                    MessageRow.declaration_id == declaration_id,
                    MessageRow.message_id.in_(digests.scalar_subquery()),
                )
            )
            .order_by(MessageRow.created_at, MessageRow.message_id)
        )
        return [NotificationView.model_validate(_message(r), from_attributes=True) for r in rows]

    def pending_summary(self) -> tuple[int, dt.datetime | None]:
        count, oldest = self.session.execute(
            select(func.count(MessageRow.message_id), func.min(MessageRow.created_at)).where(
                MessageRow.status == PENDING
            )
        ).one()
        if oldest is not None and oldest.tzinfo is None:  # SQLite's MIN() loses the type
            oldest = dt.datetime.fromisoformat(str(oldest)).replace(tzinfo=dt.UTC)
        return int(count), oldest


class AddressBookRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def cpias(self, cpias: str) -> CpiasEntry | None:
        row = self.session.get(CpiasAddressRow, cpias, populate_existing=True)
        return None if row is None else _cpias_entry(row)

    def ars(self, region_code: str) -> ArsEntry | None:
        row = self.session.get(ArsAddressRow, region_code, populate_existing=True)
        return None if row is None else _ars_entry(row)

    def all_cpias(self) -> dict[str, CpiasEntry]:
        return {r.cpias: _cpias_entry(r) for r in self.session.scalars(select(CpiasAddressRow))}

    def all_ars(self) -> dict[str, ArsEntry]:
        return {r.region_code: _ars_entry(r) for r in self.session.scalars(select(ArsAddressRow))}

    def put_cpias(
        self, cpias: str, address: str, non_urgent: NonUrgent, *, at: dt.datetime, by: str
    ) -> None:
        values = {"address": address, "non_urgent": non_urgent.value, "updated_at": at}
        self._upsert(
            CpiasAddressRow, CpiasAddressRow.cpias == cpias, {"cpias": cpias, **values}, by
        )

    def put_ars(self, region_code: str, address: str, *, at: dt.datetime, by: str) -> None:
        key = {"region_code": region_code}
        values = {**key, "address": address, "updated_at": at}
        self._upsert(ArsAddressRow, ArsAddressRow.region_code == region_code, values, by)

    def _upsert(self, model: type, where: object, values: dict[str, object], by: str) -> None:
        updated = self.session.execute(
            update(model)
            .where(where)  # type: ignore[arg-type]
            .values(**values, updated_by=by)
            .execution_options(synchronize_session=False)
        )
        if not getattr(updated, "rowcount", 0):
            self.session.execute(insert(model).values(**values, updated_by=by))

    def seed_cpias(self, cpias: str, address: str, non_urgent: NonUrgent, at: dt.datetime) -> None:
        insert_ignoring_conflict(
            self.session,
            CpiasAddressRow,
            {
                "cpias": cpias,
                "address": address,
                "non_urgent": non_urgent.value,
                "updated_at": at,
                "updated_by": "settings",
            },
        )

    def seed_ars(self, region_code: str, address: str, at: dt.datetime) -> None:
        insert_ignoring_conflict(
            self.session,
            ArsAddressRow,
            {
                "region_code": region_code,
                "address": address,
                "updated_at": at,
                "updated_by": "settings",
            },
        )


def _cpias_entry(row: CpiasAddressRow) -> CpiasEntry:
    return CpiasEntry(
        row.cpias, row.address, NonUrgent(row.non_urgent), row.updated_at, row.updated_by
    )


def _ars_entry(row: ArsAddressRow) -> ArsEntry:
    return ArsEntry(row.region_code, row.address, row.updated_at, row.updated_by)
