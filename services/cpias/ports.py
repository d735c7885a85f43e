"""What the CPias use cases need from the outside world, as Protocols. The adapters
(services/cpias/adapters/) provide them; the entry points wire them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Sequence
from typing import Any, Protocol

from iaspipe.uow import Transaction
from schemas.answers import (
    ClusterMemberView,
    ClusterSummary,
    EpisodeView,
    HistoryEntry,
    LinkView,
    NoteView,
    ThresholdAlertView,
)
from services.cpias.domain.cases import Case, QueueQuery
from services.cpias.domain.clusters import (
    Cluster,
    Episode,
    EpisodeKey,
    Member,
    ThresholdAlert,
    ThresholdWindow,
)


class Cases(Protocol):
    def add_many(self, cases: Sequence[Case]) -> None: ...

    def save(self, case: Case) -> None:
        """Write every field of a case read from this repository."""

    def get(self, case_id: str, *, for_update: bool = False) -> Case | None:
        """The case; `for_update`: locked until the commit, so that two changes to it take
        turns (the second reads what the first wrote)."""

    def find(
        self,
        *,
        case_id: str | None = None,
        declaration_id: str | None = None,
        reference: str | None = None,
    ) -> Case | None: ...

    def of_declarations(
        self, declaration_ids: Collection[str], *, for_update: bool = False
    ) -> dict[str, Case]:
        """The cases of these declarations that exist, by declaration id (`for_update`: locked
        until the commit)."""

    def page(self, query: QueueQuery) -> tuple[list[Case], int]:
        """The page of the cases `query` selects, urgent first then the longest waiting since
        reception; and the count of all it selects."""

    def open_counts(self, now: dt.datetime) -> list[tuple[str, str, str, str, int, int]]:
        """(cpias, region, priority, status, open cases, overdue among them)."""


class ProcessedEvents(Protocol):
    def seen(self, event_ids: Collection[str]) -> set[str]:
        """Those of `event_ids` already handled."""

    def add_many(self, events: Sequence[tuple[str, dt.datetime]]) -> None:
        """(event id, when) of events handled now."""


class History(Protocol):
    def add(
        self,
        case_id: str,
        at: dt.datetime,
        actor: str,
        action: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        reason: str | None = None,
    ) -> None: ...

    def add_many(self, entries: list[dict[str, Any]]) -> None:
        """Several rows at once (case_id, at, actor, action, before, after, reason)."""

    def of(self, case_id: str) -> list[HistoryEntry]: ...


class Notes(Protocol):
    def add(self, case_id: str, kind: str, text: str, author: str, at: dt.datetime) -> NoteView: ...

    def of(self, case_id: str) -> list[NoteView]: ...


class Links(Protocol):
    """Links between two cases, stored once per pair with the ids in order (a < b)."""

    def add(
        self, case_a: str, case_b: str, kind: str, reason: str | None, by: str, at: dt.datetime
    ) -> None:
        """An investigator's link, confirmed (suggestions come by `add_many`)."""

    def add_many(self, links: list[dict[str, Any]]) -> None:
        """Several links at once: case_id < other_case_id, kind, reason, created_by, at,
        status, basis."""

    def linked_with(self, case_id: str, others: list[str]) -> set[str]:
        """Which of `others` are linked with the case, whatever the link."""

    def pending_suggestions(self, case_id: str, others: list[str]) -> set[str]:
        """Which of `others` the cluster rule suggested with the case, still undecided."""

    def pending_counts(self, case_ids: list[str]) -> dict[str, int]:
        """How many undecided cluster suggestions each of these cases has (absent: none)."""

    def state(self, case_a: str, case_b: str) -> tuple[str, str, dict[str, Any] | None] | None:
        """(kind, status, basis) of the pair's link, or None."""

    def decide(
        self,
        case_a: str,
        case_b: str,
        status: str,
        by: str,
        at: dt.datetime,
        *,
        kind: str | None = None,
    ) -> None:
        """Set the status of the pair's link (and its kind, when given)."""

    def of(self, case_id: str, visible: Callable[[str, str], bool]) -> list[LinkView]:
        """The case's links seen from it; `visible(cpias, region)` says whether the caller
        may see the other case (else its reference is left out)."""


class Episodes(Protocol):
    """Episode keys of the cases; both queries must use an index, never scan."""

    def add_many(self, episodes: Sequence[Episode]) -> None: ...

    def matching(self, keys: Sequence[EpisodeKey], window_days: int) -> list[Episode]:
        """The episodes of the keys' regions, families and organisms within window_days of
        one of them."""

    def in_departements(
        self, keys: Sequence[EpisodeKey], days: int
    ) -> list[tuple[str, str, str, dt.date]]:
        """(case id, département, family, episode date) of the episodes of the keys'
        families and départements within `days` of one of them."""

    def cases_between(
        self, departement: str, mechanism_family: str, first: dt.date, last: dt.date
    ) -> int:
        """How many cases have an episode of the family in the département dated first..last."""

    def of(self, case_id: str) -> list[EpisodeView]: ...


class Clusters(Protocol):
    def add(self, cluster: Cluster) -> None: ...

    def save(self, cluster: Cluster) -> None: ...

    def get(self, cluster_id: str) -> Cluster | None: ...

    def of_case(self, case_id: str, *, for_update: bool = False) -> Cluster | None:
        """The cluster a case belongs to; `for_update`: its row locked until the commit."""

    def add_member(self, cluster_id: str, member: Member) -> None: ...

    def members(self, cluster_id: str) -> list[Member]: ...

    def member_views(
        self, cluster_id: str, visible: Callable[[str, str], bool]
    ) -> list[ClusterMemberView]:
        """Members; `visible(cpias, region)` says which the caller may see in full."""

    def summary(self, cluster: Cluster) -> ClusterSummary: ...

    def names_of(self, case_ids: Sequence[str]) -> dict[str, str]:
        """The name of the confirmed cluster each of these cases belongs to (those in none
        are left out)."""

    def page(
        self, *, scope: dict[str, Any], limit: int, offset: int
    ) -> tuple[list[ClusterSummary], int]:
        """Clusters with a case in the scope (one column -> value, or none), latest first."""


class Alerts(Protocol):
    def near(self, windows: Sequence[ThresholdWindow]) -> list[ThresholdAlert]:
        """The alerts of the windows' families and départements that overlap one of them."""

    def add_many(self, alerts: Sequence[ThresholdAlert]) -> None: ...

    def save_many(self, alerts: Sequence[ThresholdAlert]) -> None:
        """Write the episodes and dates of alerts read from this repository."""

    def listed(
        self, *, scope: dict[str, Any], today: dt.date, current: bool, limit: int
    ) -> list[ThresholdAlertView]: ...


class DeadlineNotices(Protocol):
    def due(
        self, *, now: dt.datetime, remind_before: dict[str, float], limit: int
    ) -> list[tuple[Case, str]]:
        """New cases that call for a notice not requested yet: a reminder ("ack_reminder")
        when the deadline is within `remind_before[priority]` hours and not passed; a
        warning ("ack_overdue") once it has passed."""

    def add(self, case_id: str, kind: str, at: dt.datetime) -> None: ...


class CaseFigures(Protocol):
    """The regional figures of cases (services/cpias/figures.py), within a queue scope."""

    def open_by_cpias(
        self, scope: dict[str, Any], now: dt.datetime
    ) -> list[tuple[str, int, int, int]]:
        """(CPias, open, new, overdue) of the cases not closed, by CPias."""

    def acknowledgement_seconds(
        self, scope: dict[str, Any], since: dt.datetime, percentiles: tuple[float, ...]
    ) -> tuple[int, list[float | None]]:
        """Cases acknowledged since `since`, and nearest-rank percentiles of their time
        from submission to acknowledgement (seconds; None without any)."""


class CpiasUnitOfWork(Transaction, Protocol):
    @property
    def cases(self) -> Cases: ...

    @property
    def processed(self) -> ProcessedEvents: ...

    @property
    def history(self) -> History: ...

    @property
    def notes(self) -> Notes: ...

    @property
    def links(self) -> Links: ...

    @property
    def episodes(self) -> Episodes: ...

    @property
    def clusters(self) -> Clusters: ...

    @property
    def alerts(self) -> Alerts: ...

    @property
    def deadlines(self) -> DeadlineNotices: ...

    @property
    def figures(self) -> CaseFigures: ...
