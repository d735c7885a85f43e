"""What the portal's use cases need from the outside world, as Protocols. The adapters
(services/portal/adapters/) provide them; app.py wires them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Protocol

from iaspipe.uow import Transaction
from schemas.answers import (
    AuditPage,
    CaseDetail,
    CaseFigures,
    CasePage,
    ClusterPage,
    ClusterView,
    ComplementAccepted,
    DeclarationBreakdown,
    DeclarationPage,
    LineListPage,
    NoteView,
    ThresholdAlerts,
    WeeklyFigures,
)
from schemas.notifications import (
    AddressBook,
    ArsAddressChanged,
    CpiasAddressChanged,
    NotificationPage,
)
from services.portal.domain.accounts import Account, Attempts, Person, Session
from services.portal.domain.answers import Accepted, Followed, Refused
from services.portal.domain.claims import LoginRequest
from services.portal.domain.drafts import Draft
from services.portal.domain.region import LinePage


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, stored: str, password: str) -> bool:
        """False on a wrong password; never raises for one."""

    def needs_rehash(self, stored: str) -> bool: ...

    @property
    def decoy(self) -> str:
        """A hash to verify against when the username is unknown, so both take as long."""


class TokenMinter(Protocol):
    def mint(self, person: Person) -> str:
        """A short-lived API token for intake and cpias naming this person's role and scope."""


class IdentityProvider(Protocol):
    """An OpenID Connect provider (authorization code with PKCE)."""

    def start(self, next_url: str, now: dt.datetime) -> tuple[str, LoginRequest]:
        """Where to send the browser, and the request to keep until the callback."""

    def finish(self, code: str, request: LoginRequest) -> dict[str, Any]:
        """The checked claims of the person who signed in (ID token, then userinfo)."""


class People(Protocol):
    """Who signed in through the identity provider."""

    def seen(self, person: Person, at: dt.datetime) -> None:
        """Remember the person as the provider vouched for it now (role, scope, name)."""

    def investigators(self, cpias: str | None) -> list[Person]:
        """Those of a CPias (of every CPias when None), by name."""


class Accounts(Protocol):
    def get(self, email: str) -> Account | None: ...

    def add(self, account: Account) -> None: ...

    def set_password_hash(self, account_id: str, password_hash: str) -> None: ...

    def by_id(self, account_id: str) -> Account | None: ...

    def page(self, *, limit: int, offset: int) -> tuple[list[Account], int]:
        """Accounts by address, and how many there are."""

    def set_disabled(self, account_id: str, at: dt.datetime | None) -> None: ...

    def record_sign_in(self, account_id: str, at: dt.datetime) -> None: ...

    def investigators(self, cpias: str | None) -> list[Account]:
        """The accounts of CPias investigators, of one CPias (or of all when None), by name."""


class LoginAttempts(Protocol):
    def get(self, username: str) -> Attempts | None: ...

    def save(self, attempts: Attempts) -> None: ...

    def clear(self, username: str) -> None: ...

    def locked(self, usernames: list[str], now: dt.datetime) -> dict[str, dt.datetime]:
        """Until when each of these usernames is locked out, for those that are."""


class Sessions(Protocol):
    def add(self, session: Session) -> None: ...

    def get(self, token_hash: str) -> Session | None: ...

    def touch(self, token_hash: str, at: dt.datetime) -> None: ...

    def delete(self, token_hash: str) -> None: ...

    def delete_of(self, subject: str) -> int:
        """End every session of a person; how many there were."""

    def purge(self, *, expired_before: dt.datetime, idle_before: dt.datetime) -> int: ...


class Drafts(Protocol):
    def add(self, draft: Draft) -> None: ...

    def get(self, draft_id: str) -> Draft | None: ...

    def save(self, draft: Draft) -> None: ...

    def unsent_of(self, owner: str) -> list[Draft]:
        """The owner's drafts not sent yet, most recently changed first."""

    def purge(self, *, unsent_before: dt.datetime, sent_before: dt.datetime) -> int: ...


class LoginRequests(Protocol):
    def add(self, request: LoginRequest) -> None: ...

    def pop(self, state: str) -> LoginRequest | None:
        """The request of this state, removed: a state serves once."""

    def purge(self, before: dt.datetime) -> int: ...


class PortalUnitOfWork(Transaction, Protocol):
    @property
    def accounts(self) -> Accounts: ...

    @property
    def attempts(self) -> LoginAttempts: ...

    @property
    def sessions(self) -> Sessions: ...

    @property
    def drafts(self) -> Drafts: ...

    @property
    def logins(self) -> LoginRequests: ...

    @property
    def people(self) -> People: ...


class DeclarationsApi(Protocol):
    """Intake over HTTP, with the signed-in person's token. Every method raises
    ServiceUnavailable when intake does not answer (network error, timeout, 5xx)."""

    def submit(
        self, token: str, body: dict[str, Any], idempotency_key: str
    ) -> Accepted | Refused: ...

    def page(self, token: str, *, limit: int, offset: int) -> DeclarationPage: ...

    def get(self, token: str, declaration_id: str) -> Followed | None:
        """None when intake answers 404 (absent, or outside the person's scope)."""

    def complement(
        self,
        token: str,
        declaration_id: str,
        body: dict[str, Any],
        idempotency_key: str | None = None,
    ) -> ComplementAccepted | Refused:
        """Under `idempotency_key`, a retry gets the first answer."""

    def is_reachable(self) -> bool: ...


class CasesApi(Protocol):
    """Cpias over HTTP, with the signed-in person's token; raises ServiceUnavailable as
    DeclarationsApi does. A change cpias refuses (4xx) comes back as Refused, with its
    problems; a read of what is absent or outside the person's scope (404) as None."""

    def page(self, token: str, params: dict[str, Any]) -> CasePage | Refused:
        """The queue (GET /v1/cases with `params`); Refused for a filter cpias refuses."""

    def get(self, token: str, case_id: str) -> CaseDetail | None: ...

    def cluster(self, token: str, cluster_id: str) -> ClusterView | None: ...

    def transition(
        self, token: str, case_id: str, body: dict[str, Any]
    ) -> CaseDetail | Refused: ...

    def assign(self, token: str, case_id: str, assignee: str | None) -> CaseDetail | Refused: ...

    def add_note(self, token: str, case_id: str, kind: str, text: str) -> NoteView | Refused: ...

    def link(self, token: str, case_id: str, body: dict[str, Any]) -> CaseDetail | Refused: ...

    def decide(
        self, token: str, case_id: str, other_case_id: str, body: dict[str, Any]
    ) -> CaseDetail | Refused:
        """Confirm or dismiss a cluster suggestion."""

    def is_reachable(self) -> bool: ...


class NotifierApi(Protocol):
    """The notifier over HTTP, with the signed-in person's token; raises ServiceUnavailable as
    DeclarationsApi does."""

    def address_book(self, token: str) -> AddressBook: ...

    def set_cpias_address(
        self, token: str, cpias: str, body: dict[str, Any]
    ) -> CpiasAddressChanged | Refused:
        """Refused with the notifier's problems (an invalid address, an unknown CPias: 404)."""

    def set_ars_address(
        self, token: str, region_code: str, body: dict[str, Any]
    ) -> ArsAddressChanged | Refused: ...

    def notifications(self, token: str, declaration_id: str) -> NotificationPage:
        """The messages about a declaration the person may read (none outside their scope)."""

    def is_reachable(self) -> bool: ...


class AuditApi(Protocol):
    """GET /v1/audit of one service (intake, cpias, the notifier), with an admin's token."""

    def page(
        self, token: str, *, filters: Mapping[str, str], limit: int, offset: int
    ) -> AuditPage: ...


class RegionApi(Protocol):
    """The regional dashboard's reads over HTTP (intake's figures and line list, cpias's case
    figures, clusters and alerts), with the signed-in person's token; each answer is confined
    by the service to the person's scope. Raises ServiceUnavailable as DeclarationsApi does."""

    def weekly(
        self, token: str, *, region: str, weeks: int = 52, departement: str | None = None
    ) -> WeeklyFigures:
        """Per week and criterion: the region's, or one of its départements'."""

    def breakdown(
        self, token: str, *, region: str, since: str = "", until: str = "", top: int = 10
    ) -> DeclarationBreakdown: ...

    def line_list(
        self, token: str, *, region: str, filters: dict[str, str], page: LinePage
    ) -> LineListPage: ...

    def case_figures(self, token: str, *, region: str, since: str = "") -> CaseFigures: ...

    def clusters(self, token: str, *, region: str, limit: int = 50) -> ClusterPage: ...

    def cluster(self, token: str, cluster_id: str) -> ClusterView | None:
        """A confirmed cluster and its cases; None when cpias answers 404 (absent, or no case
        of it in the person's scope). Its cases outside the scope say only where and when."""

    def alerts(self, token: str, *, region: str) -> ThresholdAlerts: ...
