"""People, sessions and lock-out: the rules, without storage."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, replace
from typing import ClassVar

from iaspipe.errors import Conflict, InvalidRequest, NotAuthenticated, ServiceError
from iaspipe.principal import Principal, Role
from schemas.problems import Problem

SCOPE_OF_ROLE = {
    Role.declarant: "finess",
    Role.cpias_investigator: "cpias",
    Role.ars_viewer: "region",
}


@dataclass(frozen=True)
class Person:
    """Who is signed in: a role and its scope (as in API tokens), and how to greet them."""

    subject: str
    role: Role
    finess: str | None = None
    cpias: str | None = None
    region: str | None = None
    display_name: str = ""
    email: str | None = None

    @property
    def principal(self) -> Principal:
        return Principal(self.subject, self.role, self.finess, self.cpias, self.region)

    @property
    def may_declare(self) -> bool:
        return self.role in (Role.declarant, Role.admin)

    @property
    def may_investigate(self) -> bool:
        """Works a CPias queue (/cases): investigators, and admins over every CPias."""
        return self.role in (Role.cpias_investigator, Role.admin)

    @property
    def watches_region(self) -> bool:
        """Reads a region's figures (/ars): ARS viewers, and admins over every region."""
        return self.role in (Role.ars_viewer, Role.admin)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.admin

    @property
    def home(self) -> str:
        """The page a person lands on after signing in."""
        return {
            Role.declarant: "/declarations",
            Role.cpias_investigator: "/cases",
            Role.ars_viewer: "/ars",
            Role.admin: "/admin",
        }[self.role]


def scope_problems(
    role: Role, finess: str | None, cpias: str | None, region: str | None
) -> list[str]:
    """What is wrong with a role's scope: the scope the role needs, and no other."""
    given = {"finess": finess, "cpias": cpias, "region": region}
    needed = SCOPE_OF_ROLE.get(role)
    problems = []
    if needed and not given[needed]:
        problems.append(f"the role {role.value} needs --{needed}")
    problems += [
        f"the role {role.value} takes no --{name}"
        for name, value in given.items()
        if value and name != needed
    ]
    return problems


@dataclass(frozen=True)
class Account:
    """A local account (embedded default): an email, an argon2 hash, a role and its scope."""

    id: str
    email: str
    password_hash: str
    role: Role
    finess: str | None
    cpias: str | None
    region: str | None
    display_name: str
    created_at: dt.datetime

    def person(self) -> Person:
        return Person(
            subject=self.email,
            role=self.role,
            finess=self.finess,
            cpias=self.cpias,
            region=self.region,
            display_name=self.display_name or self.email,
            email=self.email,
        )


def normalise_username(username: str) -> str:
    return username.strip().lower()


# -- lock-out ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempts:
    """Failed sign-ins for one username, whether or not an account has it (so the answers
    never tell which usernames exist)."""

    username: str
    failures: int = 0
    last_failure_at: dt.datetime | None = None
    locked_until: dt.datetime | None = None

    def is_locked(self, now: dt.datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def failed(self, now: dt.datetime, *, max_failures: int, lock_for: dt.timedelta) -> Attempts:
        """One more failure. Failures older than `lock_for` are forgotten; the `max_failures`th
        locks the username for `lock_for` and starts the count again."""
        recent = self.last_failure_at is not None and now - self.last_failure_at < lock_for
        failures = (self.failures if recent else 0) + 1
        if failures >= max_failures:
            return replace(self, failures=0, last_failure_at=now, locked_until=now + lock_for)
        return replace(self, failures=failures, last_failure_at=now, locked_until=None)


class SignInFailed(NotAuthenticated):
    message = "Identifiant ou mot de passe incorrect."

    def problems(self) -> list[Problem]:
        return [
            Problem(
                path="password",
                rule="sign_in_failed",
                message=self.message,
                message_en="Wrong username or password.",
            )
        ]


class LockedOut(ServiceError):
    status = 429
    detail = "Connexion bloquée / Sign-in locked"
    path = "username"
    rule = "locked_out"

    def __init__(self, until: dt.datetime, now: dt.datetime) -> None:
        super().__init__("locked out")
        self.minutes = max(1, math.ceil((until - now).total_seconds() / 60))

    def problems(self) -> list[Problem]:
        return [
            Problem(
                path=self.path,
                rule=self.rule,
                message="Trop de tentatives de connexion infructueuses pour cet identifiant : "
                f"réessayez dans {self.minutes} minute{'s' if self.minutes > 1 else ''}.",
                message_en=f"Too many failed sign-ins for this username: retry in "
                f"{self.minutes} minute(s).",
            )
        ]


class AccountExists(Conflict):
    rule = "account_exists"
    message = "Un compte existe déjà pour cette adresse."
    message_en = "An account already exists for this address."


class WeakPassword(InvalidRequest):
    def __init__(self, min_length: int) -> None:
        super().__init__(
            [
                Problem(
                    path="password",
                    rule="password_too_short",
                    message=f"Le mot de passe doit compter au moins {min_length} caractères.",
                    message_en=f"The password needs at least {min_length} characters.",
                )
            ]
        )


# -- sessions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    """A signed-in browser. The cookie holds a random token; only its hash is stored, so the
    table cannot be replayed. `csrf_token` goes in every form the session is shown."""

    token_hash: str
    person: Person
    csrf_token: str
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime

    IDLE_TOUCH: ClassVar[dt.timedelta] = dt.timedelta(minutes=1)

    def is_active(self, now: dt.datetime, idle: dt.timedelta) -> bool:
        return now < self.expires_at and now - self.last_seen_at < idle

    def needs_touch(self, now: dt.datetime) -> bool:
        """Recording every request would write on every page; once a minute is enough."""
        return now - self.last_seen_at >= self.IDLE_TOUCH
