"""The portal's repositories: every query of the service. They never commit; the unit of
work (adapters/uow.py) does."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.orm import Session as OrmSession

from iaspipe.db import from_row, values_of
from iaspipe.principal import Role
from schemas.problems import Problem
from services.portal.adapters.orm import (
    AccountRow,
    DraftRow,
    LoginAttemptRow,
    LoginRequestRow,
    PersonRow,
    SessionRow,
)
from services.portal.domain.accounts import Account, Attempts, Person, Session
from services.portal.domain.claims import LoginRequest
from services.portal.domain.drafts import Draft, Sent


def _account(row: AccountRow) -> Account:
    return from_row(Account, row, role=Role(row.role))


class AccountRepository:
    def __init__(self, session: OrmSession) -> None:
        self.session = session

    def get(self, email: str) -> Account | None:
        row = self.session.scalars(select(AccountRow).where(AccountRow.email == email)).first()
        return None if row is None else _account(row)

    def by_id(self, account_id: str) -> Account | None:
        row = self.session.get(AccountRow, account_id)
        return None if row is None else _account(row)

    def page(self, *, limit: int, offset: int) -> tuple[list[Account], int]:
        """Accounts by address, and how many there are."""
        rows = self.session.scalars(
            select(AccountRow).order_by(AccountRow.email).limit(limit).offset(offset)
        )
        total = self.session.scalar(select(func.count()).select_from(AccountRow)) or 0
        return [_account(r) for r in rows], int(total)

    def set_disabled(self, account_id: str, at: dt.datetime | None) -> None:
        self.session.execute(
            update(AccountRow).where(AccountRow.id == account_id).values(disabled_at=at)
        )

    def record_sign_in(self, account_id: str, at: dt.datetime) -> None:
        self.session.execute(
            update(AccountRow).where(AccountRow.id == account_id).values(last_sign_in_at=at)
        )

    def add(self, account: Account) -> None:
        values = {**values_of(account), "role": account.role.value}
        self.session.execute(insert(AccountRow).values(**values))

    def set_password_hash(self, account_id: str, password_hash: str) -> None:
        self.session.execute(
            update(AccountRow)
            .where(AccountRow.id == account_id)
            .values(password_hash=password_hash)
        )

    def investigators(self, cpias: str | None) -> list[Account]:
        query = select(AccountRow.email).where(AccountRow.role == Role.cpias_investigator.value)
        if cpias is not None:
            query = query.where(AccountRow.cpias == cpias)
        emails = self.session.scalars(query.order_by(AccountRow.display_name, AccountRow.email))
        return [a for email in emails.all() if (a := self.get(email)) is not None]


class PeopleRepository:
    def __init__(self, session: OrmSession) -> None:
        self.session = session

    def seen(self, person: Person, at: dt.datetime) -> None:
        row = self.session.get(PersonRow, person.subject)
        if row is None:
            row = PersonRow(subject=person.subject)
            self.session.add(row)
        row.role = person.role.value
        row.finess, row.cpias, row.region = person.finess, person.cpias, person.region
        row.display_name = person.display_name
        row.last_sign_in_at = at

    def investigators(self, cpias: str | None) -> list[Person]:
        query = select(PersonRow).where(PersonRow.role == Role.cpias_investigator.value)
        if cpias is not None:
            query = query.where(PersonRow.cpias == cpias)
        rows = self.session.scalars(query.order_by(PersonRow.display_name, PersonRow.subject))
        return [
            Person(
                subject=r.subject,
                role=Role(r.role),
                finess=r.finess,
                cpias=r.cpias,
                region=r.region,
                display_name=r.display_name or r.subject,
            )
            for r in rows
        ]


class LoginAttemptRepository:
    def __init__(self, session: OrmSession) -> None:
        self.session = session

    def get(self, username: str) -> Attempts | None:
        row = self.session.get(LoginAttemptRow, username)
        if row is None:
            return None
        return from_row(Attempts, row)

    def save(self, attempts: Attempts) -> None:
        values = values_of(attempts, leave_out=("username",))
        done = self.session.execute(
            update(LoginAttemptRow)
            .where(LoginAttemptRow.username == attempts.username)
            .values(**values)
        )
        if not getattr(done, "rowcount", 0):
            self.session.execute(
                insert(LoginAttemptRow).values(username=attempts.username, **values)
            )

    def clear(self, username: str) -> None:
        self.session.execute(delete(LoginAttemptRow).where(LoginAttemptRow.username == username))

    def locked(self, usernames: list[str], now: dt.datetime) -> dict[str, dt.datetime]:
        """Until when each of these usernames is locked out, for those that are."""
        rows = self.session.execute(
            select(LoginAttemptRow.username, LoginAttemptRow.locked_until).where(
                LoginAttemptRow.username.in_(usernames), LoginAttemptRow.locked_until > now
            )
        )
        return {username: until for username, until in rows if until is not None}


def _session(row: SessionRow) -> Session:
    """A session row holds the session's columns and its person's."""
    return from_row(Session, row, person=from_row(Person, row, role=Role(row.role), address=None))


class SessionRepository:
    def __init__(self, session: OrmSession) -> None:
        self.session = session

    def add(self, s: Session) -> None:
        values = {
            **values_of(s, leave_out=("person",)),
            **values_of(s.person, leave_out=("address",)),
            "role": s.person.role.value,
        }
        self.session.execute(insert(SessionRow).values(**values))

    def get(self, token_hash: str) -> Session | None:
        row = self.session.get(SessionRow, token_hash)
        return None if row is None else _session(row)

    def touch(self, token_hash: str, at: dt.datetime) -> None:
        self.session.execute(
            update(SessionRow).where(SessionRow.token_hash == token_hash).values(last_seen_at=at)
        )

    def delete(self, token_hash: str) -> None:
        self.session.execute(delete(SessionRow).where(SessionRow.token_hash == token_hash))

    def delete_of(self, subject: str) -> int:
        """End every session of a person: their cookies are worthless from now on."""
        result = self.session.execute(delete(SessionRow).where(SessionRow.subject == subject))
        return int(getattr(result, "rowcount", 0) or 0)

    def purge(self, *, expired_before: dt.datetime, idle_before: dt.datetime) -> int:
        result = self.session.execute(
            delete(SessionRow).where(
                or_(SessionRow.expires_at < expired_before, SessionRow.last_seen_at < idle_before)
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)


def _sent(value: dict[str, Any] | None) -> Sent | None:
    if value is None:
        return None
    return Sent(
        declaration_id=value["declaration_id"],
        reference=value["reference"],
        received_at=dt.datetime.fromisoformat(value["received_at"]),
        warnings=[Problem.model_validate(w) for w in value.get("warnings", [])],
        products=list(value.get("products", [])),
        reminders=[(article, text) for article, text in value.get("reminders", [])],
        changed_since=bool(value.get("changed_since", False)),
    )


def _draft_values(d: Draft) -> dict[str, Any]:
    sent = None
    if d.sent is not None:
        sent = {
            "declaration_id": d.sent.declaration_id,
            "reference": d.sent.reference,
            "received_at": d.sent.received_at.isoformat(),
            "warnings": [w.model_dump() for w in d.sent.warnings],
            "products": d.sent.products,
            "reminders": [list(r) for r in d.sent.reminders],
            "changed_since": d.sent.changed_since,
        }
    return {
        "owner": d.owner,
        "data": d.data,
        "idempotency_key": d.idempotency_key,
        "created_at": d.created_at,
        "updated_at": d.updated_at,
        "problems": [p.model_dump() for p in d.problems],
        "sent": sent,
        "attempts": d.attempts,
    }


class DraftRepository:
    def __init__(self, session: OrmSession) -> None:
        self.session = session

    def add(self, draft: Draft) -> None:
        self.session.execute(insert(DraftRow).values(id=draft.id, **_draft_values(draft)))

    def get(self, draft_id: str) -> Draft | None:
        row = self.session.get(DraftRow, draft_id)
        return None if row is None else _draft(row)

    def save(self, draft: Draft) -> None:
        self.session.execute(
            update(DraftRow)
            .where(DraftRow.id == draft.id)
            .values(**_draft_values(draft))
            .execution_options(synchronize_session=False)
        )

    def unsent_of(self, owner: str) -> list[Draft]:
        rows = self.session.scalars(
            select(DraftRow)
            .where(DraftRow.owner == owner, DraftRow.sent.is_(None))
            .order_by(DraftRow.updated_at.desc())
        )
        return [_draft(r) for r in rows]

    def purge(self, *, unsent_before: dt.datetime, sent_before: dt.datetime) -> int:
        unsent = delete(DraftRow).where(
            DraftRow.sent.is_(None), DraftRow.updated_at < unsent_before
        )
        sent = delete(DraftRow).where(DraftRow.sent.is_not(None), DraftRow.updated_at < sent_before)
        removed = 0
        for statement in (unsent, sent):
            removed += int(getattr(self.session.execute(statement), "rowcount", 0) or 0)
        return removed


def _draft(row: DraftRow) -> Draft:
    return Draft(
        id=row.id,
        owner=row.owner,
        data=dict(row.data),
        idempotency_key=row.idempotency_key,
        created_at=row.created_at,
        updated_at=row.updated_at,
        problems=[Problem.model_validate(p) for p in row.problems or []],
        sent=_sent(row.sent),
        attempts=list(row.attempts or []),
    )


class LoginRequestRepository:
    def __init__(self, session: OrmSession) -> None:
        self.session = session

    def add(self, request: LoginRequest) -> None:
        self.session.execute(insert(LoginRequestRow).values(**values_of(request)))

    def pop(self, state: str) -> LoginRequest | None:
        row = self.session.get(LoginRequestRow, state)
        if row is None:
            return None
        self.session.execute(delete(LoginRequestRow).where(LoginRequestRow.state == state))
        return from_row(LoginRequest, row)

    def purge(self, before: dt.datetime) -> int:
        result = self.session.execute(
            delete(LoginRequestRow).where(LoginRequestRow.created_at < before)
        )
        return int(getattr(result, "rowcount", 0) or 0)
