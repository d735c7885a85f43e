"""People, sessions and lock-out: the rules, without storage."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, replace
from typing import ClassVar
from zoneinfo import ZoneInfo

from iaspipe.errors import Conflict, InvalidRequest, NotAuthenticated, NotFound, ServiceError
from iaspipe.principal import Principal, Role
from schemas.notifications import is_mailbox
from schemas.problems import Problem
from schemas.reference import (
    DEFAULT_TIME_ZONE,
    ReferenceData,
    cpias_time_zone,
    departement_of_finess,
    region_time_zone,
    time_zone_of,
)

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
    # Where the person asks from (the request's address), said in the API tokens minted for
    # them, so that the services' audit logs name it rather than the portal's.
    address: str | None = None

    @property
    def principal(self) -> Principal:
        return Principal(self.subject, self.role, self.finess, self.cpias, self.region)

    def clock(self, ref: ReferenceData, where: str | None = None) -> ZoneInfo:
        """The clock the person reads times in: their establishment's département (a
        declarant), their CPias's seat (the first département it covers), their region (an
        ARS viewer); Paris for an admin, or where the scope names no known place. A
        declarant without FINESS (community practice) has no place of their own: they read
        on the clock of what the page shows (`where`, the département of a declaration, or
        of all those listed), Paris where it shows none."""
        if self.role is Role.declarant and self.finess:
            return time_zone_of(departement_of_finess(self.finess))
        if self.role is Role.declarant and where:
            return time_zone_of(where)
        if self.role is Role.cpias_investigator and self.cpias:
            return cpias_time_zone(ref, self.cpias)
        if self.role is Role.ars_viewer and self.region:
            return region_time_zone(ref, self.region)
        return ZoneInfo(DEFAULT_TIME_ZONE)

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
    def declarations_title(self) -> str:
        """The name of /declarations: a declarant's own; every declaration for an admin."""
        return "Toutes les déclarations" if self.is_admin else "Mes déclarations"

    @property
    def home(self) -> str:
        """The page a person lands on after signing in."""
        return {
            Role.declarant: "/declarations",
            Role.cpias_investigator: "/cases",
            Role.ars_viewer: "/ars",
            Role.admin: "/admin",
        }[self.role]


# A declarant's FINESS may be left out: a professional in community practice (establishment
# kind "ville", identified by RPPS) has none; it declares without FINESS and follows what it
# sent itself.
OPTIONAL_SCOPE = {Role.declarant}


def _scope_checks(
    role: Role, finess: str | None, cpias: str | None, region: str | None
) -> list[tuple[str, bool]]:
    """(scope, needed) for each scope wrong for the role: the one it needs and lacks (True),
    each it takes none of but was given (False)."""
    given = {"finess": finess, "cpias": cpias, "region": region}
    needed = SCOPE_OF_ROLE.get(role)
    lacking = needed is not None and not given[needed] and role not in OPTIONAL_SCOPE
    checks = [(needed, True)] if needed is not None and lacking else []
    return checks + [(name, False) for name, value in given.items() if value and name != needed]


def scope_problems(
    role: Role, finess: str | None, cpias: str | None, region: str | None
) -> list[str]:
    """What is wrong with a role's scope: the scope the role needs, and no other."""
    return [
        _scope_en(role, name, needed) for name, needed in _scope_checks(role, finess, cpias, region)
    ]


def _scope_en(role: Role, name: str, needed: bool) -> str:
    return f"the role {role.value} {'needs' if needed else 'takes no'} --{name}"


ROLE_NAMES = {
    Role.declarant: "Déclarant",
    Role.cpias_investigator: "Enquêteur du CPias",
    Role.ars_viewer: "Lecteur de l’ARS",
    Role.admin: "Administrateur",
}
SCOPE_NAMES = {"finess": "un numéro FINESS", "cpias": "un CPias", "region": "une région"}
# As the API tokens' claims (iaspipe.auth.TokenClaims): 9 characters, 2A/2B for Corsica.
FINESS_PATTERN = re.compile(r"^[0-9AB]{9}$")


def account_problems(
    email: str,
    role: str,
    finess: str | None,
    cpias: str | None,
    region: str | None,
    *,
    cpias_ids: list[str],
    region_codes: list[str],
) -> list[Problem]:
    """What is wrong with a new account, each problem on its field (the path is the field's
    name), in French with the command line's English beside it: an address, a role, the scope
    that role needs and no other, a FINESS of 9 characters, a CPias and a region that exist."""

    def problem(path: str, rule: str, message: str, message_en: str) -> Problem:
        return Problem(path=path, rule=rule, message=message, message_en=message_en)

    problems = []
    if not is_mailbox(normalise_username(email)):
        problems.append(
            problem(
                "email",
                "email_invalid",
                "Saisissez une adresse électronique valide, par exemple nom@chu-exemple.fr.",
                f"{email!r} is not an email address",
            )
        )
    if role not in Role.__members__:
        problems.append(problem("role", "role_missing", "Choisissez un rôle.", "choose a role"))
        return problems
    r = Role(role)
    for name, needed in _scope_checks(r, finess, cpias, region):
        if needed:
            verb = "Saisissez" if name == "finess" else "Choisissez"
            message = f"{verb} {SCOPE_NAMES[name]} pour le rôle « {ROLE_NAMES[r]} »."
        else:
            message = (
                f"Le rôle « {ROLE_NAMES[r]} » ne prend pas {SCOPE_NAMES[name]} : "
                "laissez ce champ vide."
            )
        rule = "scope_needed" if needed else "scope_unused"
        problems.append(problem(name, rule, message, _scope_en(r, name, needed)))
    known = {"cpias": cpias_ids, "region": region_codes}
    for name, value in (("cpias", cpias), ("region", region)):
        if value and value not in known[name]:
            problems.append(
                problem(
                    name,
                    f"{name}_unknown",
                    f"Choisissez {SCOPE_NAMES[name]} dans la liste.",
                    f"--{name} {value!r} is not known (e.g. cpias-ara, region 84)",
                )
            )
    if finess and not FINESS_PATTERN.match(finess):
        problems.append(
            problem(
                "finess",
                "finess_invalid",
                "Le numéro FINESS compte 9 caractères : des chiffres, ou 2A et 2B pour la Corse.",
                "--finess is 9 characters (digits, 2A or 2B)",
            )
        )
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
    disabled_at: dt.datetime | None = None
    last_sign_in_at: dt.datetime | None = None

    @property
    def active(self) -> bool:
        return self.disabled_at is None

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


class SignInRefused(NotAuthenticated):
    """A sign-in refused (401, as a token would be): its problem says it in the class's own
    words (path, rule, message, message_en), not as a refused token."""

    def problems(self) -> list[Problem]:
        return ServiceError.problems(self)


class SignInFailed(SignInRefused):
    path = "password"
    rule = "sign_in_failed"
    message = "Adresse électronique ou mot de passe incorrect."
    message_en = "Wrong username or password."


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
                message="Trop de tentatives de connexion infructueuses pour cette adresse "
                f"électronique : réessayez dans {self.minutes} minute"
                f"{'s' if self.minutes > 1 else ''}, ou demandez à l’administrateur de la "
                "plateforme de débloquer votre compte.",
                message_en=f"Too many failed sign-ins for this username: retry in "
                f"{self.minutes} minute(s).",
            )
        ]


@dataclass(frozen=True)
class AccountLine:
    """An account as its administrator sees it: with the lock-out of its username, if any."""

    account: Account
    locked_until: dt.datetime | None = None

    def is_locked(self, now: dt.datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until


class AccountDisabled(SignInRefused):
    """A disabled account's sign-in: the same answer whether the password was right or not."""

    path = "username"
    rule = "account_disabled"
    message = "Ce compte est désactivé. Adressez-vous à l’administrateur de la plateforme."
    message_en = "This account is disabled."


class AccountNotFound(NotFound):
    rule = "account_not_found"
    message = "Aucun compte ne porte cette adresse."
    message_en = "No account has this address."


class CannotDisableSelf(Conflict):
    rule = "cannot_disable_self"
    message = "Vous ne pouvez pas désactiver votre propre compte."
    message_en = "Admins cannot disable their own account."


class LocalAccountsOff(Conflict):
    rule = "local_accounts_off"
    message = "Les comptes sont gérés par le fournisseur d’identité : rien à modifier ici."
    message_en = "Accounts are managed by the identity provider."


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


def password_problems(password: str, confirmation: str, min_length: int) -> list[Problem]:
    """An initial password typed twice: long enough, and the same both times."""
    if len(password) < min_length:
        return WeakPassword(min_length).problems()
    if password != confirmation:
        return [
            Problem(
                path="password_confirmation",
                rule="passwords_differ",
                message="Les deux mots de passe saisis ne sont pas identiques ; saisissez-les "
                "de nouveau.",
                message_en="The two passwords differ.",
            )
        ]
    return []


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
