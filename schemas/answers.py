"""The answers of the HTTP APIs: what intake and cpias return, what the portal and other
teams' systems read. Output models: they tolerate fields added later."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.declaration import Complement, Declaration
from schemas.events import Obligation
from schemas.problems import Problem


class Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")


# -- shared ---------------------------------------------------------------------------------


class AuditEntryView(Answer):
    at: AwareDatetime
    subject: str
    role: str
    action: str
    object_type: str
    object_id: str
    address: str
    outcome: str = "done"
    reason: str | None = None


class AuditPage(Answer):
    """Audit entries, newest first."""

    items: list[AuditEntryView]
    limit: int
    offset: int


# -- intake ---------------------------------------------------------------------------------


class TimelineEntry(Answer):
    """One step of a declaration's life: submitted, routed (with its recipients), received by
    the CPias, acknowledged, investigating, monitoring, complement, closed..."""

    kind: str
    at: AwareDatetime
    recipients: list[str] | None = None
    priority: str | None = None
    rules_version: str | None = None
    cpias: str | None = None
    case_status: str | None = None
    outcome: str | None = None
    recipient: str | None = None
    obligations: list[Obligation] | None = None


class ComplementView(Complement):
    model_config = ConfigDict(extra="ignore")

    id: str
    received_at: AwareDatetime


class ComplementAccepted(Answer):
    """The 202 answer to a complement, with the warnings its sender should look at (the
    complement is recorded all the same)."""

    id: str
    declaration_id: str
    received_at: AwareDatetime
    warnings: list[Problem] = Field(default_factory=list)


class RecipientConfirmation(Answer):
    """A recipient that confirmed it holds the declaration, and when it first said so."""

    recipient: str
    confirmed_at: AwareDatetime


class DeclarationView(Answer):
    """A declaration as its declarant (or an authority of its scope) follows it."""

    id: str
    reference: str
    status: str
    received_at: AwareDatetime
    region_code: str
    recipients: list[str]
    cpias_confirmed: bool
    confirmed_by: list[RecipientConfirmation] = Field(
        default_factory=list,
        description="The recipients that confirmed they hold the declaration, in the order "
        "they did: the CPias when it opened the case, the others by a RecipientAcknowledged "
        "on ias.status.v1",
    )
    declaration: Declaration
    complements: list[ComplementView]
    timeline: list[TimelineEntry]


class DeclarationSummary(Answer):
    """A line of a list of declarations: what identifies it and where it stands."""

    id: str
    reference: str
    status: str
    received_at: AwareDatetime
    region_code: str
    departement: str
    finess: str | None
    establishment_name: str
    establishment_kind: str
    criteria: list[str]


class DeclarationPage(Answer):
    """Declarations in the caller's scope, newest first."""

    items: list[DeclarationSummary]
    total: int
    limit: int
    offset: int


# -- cpias ----------------------------------------------------------------------------------


class Deadlines(Answer):
    acknowledge_by: AwareDatetime


class EstablishmentSummary(Answer):
    finess: str | None = None
    name: str
    kind: str
    departement: str


class CaseSummary(Answer):
    """A line of an investigator's queue."""

    id: str
    declaration_id: str
    reference: str
    cpias: str
    region_code: str
    priority: str
    status: str
    assignee: str | None
    received_at: AwareDatetime = Field(
        description="When intake received the declaration: the queue's oldest are the longest "
        "waiting since then"
    )
    opened_at: AwareDatetime
    deadlines: Deadlines
    overdue: bool
    acknowledged_at: AwareDatetime | None
    closed_at: AwareDatetime | None
    outcome: str | None
    complement_received: bool
    establishment: EstablishmentSummary
    criteria: list[str]
    pathogens: list[str] = Field(
        default_factory=list,
        description="Each micro-organism named, as declared, with its mechanism: "
        '"Klebsiella pneumoniae OXA-48"',
    )
    cluster_name: str | None = Field(
        default=None, description="The confirmed cluster the case belongs to, if any"
    )
    suggestions_pending: int = Field(
        default=0,
        ge=0,
        description="Cluster suggestions with this case that nobody has confirmed or dismissed",
    )


class CasePage(Answer):
    """A page of the queue: urgent first, then the longest waiting since reception."""

    items: list[CaseSummary]
    total: int
    limit: int
    offset: int


class CaseRouting(Answer):
    """Why the declaration reached this CPias."""

    legal_basis: list[str]
    reason: str
    rules_version: str


class NoteView(Answer):
    id: int
    kind: str
    text: str
    author: str
    at: AwareDatetime


class HistoryEntry(Answer):
    at: AwareDatetime
    actor: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None


class SuggestionBasis(Answer):
    """Why the cluster rule suggested two cases (docs/clusters.md)."""

    organism: str = Field(description="Genus and species, normalised: Klebsiella pneumoniae")
    mechanism_family: str = Field(
        description="OXA-48 (OXA-48-like), KPC, NDM, VIM, IMP, vanA, vanB, MRSA or C. auris"
    )
    days_apart: int = Field(description="Days between the two episode dates (onset or detection)")
    same_departement: bool
    same_establishment: bool
    departements: list[str] = Field(description="This case's département, then the other's")


class LinkView(Answer):
    """A link seen from one case: the other case, and why they are linked. The cluster rule
    only suggests (`status` suggested, with its `basis`); investigators confirm or dismiss."""

    case_id: str
    reference: str | None
    kind: str
    reason: str | None
    created_by: str
    at: AwareDatetime
    status: str = Field(default="confirmed", description="suggested, confirmed or dismissed")
    basis: SuggestionBasis | None = None
    decided_by: str | None = None
    decided_at: AwareDatetime | None = None
    visible: bool = Field(
        default=True,
        description="False when the other case is outside the caller's scope: its reference "
        "and establishment are then left out",
    )
    establishment: EstablishmentSummary | None = Field(
        default=None, description="The other case's establishment"
    )
    cluster_id: str | None = Field(
        default=None, description="The confirmed cluster the other case belongs to, if any"
    )
    cluster_name: str | None = Field(
        default=None, description="That cluster's name (left out with the other case's details)"
    )


class EpisodeView(Answer):
    """An episode key of a case: what the cluster rule compares."""

    organism: str
    mechanism_family: str
    departement: str
    episode_date: dt.date


class ClusterSummary(Answer):
    """A confirmed cluster: its name, what its cases share, their first and last dates."""

    id: str
    name: str
    organism: str | None
    mechanism_family: str | None
    first_date: dt.date
    last_date: dt.date
    size: int
    regions: list[str]
    departements: list[str]
    spf_flagged_at: AwareDatetime | None = Field(
        description="When Santé publique France was told the cluster spans regions"
    )
    created_by: str
    created_at: AwareDatetime


class ClusterMemberView(Answer):
    """A case of a cluster. Cases outside the caller's scope show only where and when
    (`visible` false, no id, reference or establishment)."""

    visible: bool
    case_id: str | None
    declaration_id: str | None = Field(
        default=None, description="The declaration of the case, where a reader of it opens it"
    )
    reference: str | None
    establishment: EstablishmentSummary | None
    cpias: str
    region_code: str
    departement: str
    episode_date: dt.date
    added_by: str | None
    added_at: AwareDatetime


class ClusterView(ClusterSummary):
    members: list[ClusterMemberView]


class ClusterPage(Answer):
    """Confirmed clusters with a case in the caller's scope, the latest episode first."""

    items: list[ClusterSummary]
    total: int
    limit: int
    offset: int


class ThresholdAlertView(Answer):
    """At least `threshold` episodes of one mechanism family in one département within
    `window_days`: raised once when crossed, extended while it stays crossed."""

    id: int
    mechanism_family: str
    departement: str
    region_code: str
    cpias: str
    episodes: int
    first_date: dt.date
    last_date: dt.date
    threshold: int
    window_days: int
    current: bool = Field(description="Its last episode is less than window_days old")
    raised_at: AwareDatetime
    updated_at: AwareDatetime


class ThresholdAlerts(Answer):
    """Threshold alerts of the caller's scope, the latest first (the ARS page's banner)."""

    items: list[ThresholdAlertView]


class CaseDetail(CaseSummary):
    """A whole case: the declaration, what was added since, and everything done."""

    declaration: Declaration
    complements: list[Complement]
    routing: CaseRouting
    notes: list[NoteView]
    history: list[HistoryEntry]
    links: list[LinkView]
    episodes: list[EpisodeView] = Field(default_factory=list)
    cluster: ClusterSummary | None = Field(
        default=None, description="The confirmed cluster this case belongs to"
    )
    allowed_transitions: list[str] = Field(
        default_factory=list,
        description="The statuses the workflow allows this case to move to now (the `to` of "
        "POST /v1/cases/{id}/transitions), for those who may act on it: empty for a "
        "reader (an ARS viewer)",
    )


# -- regional figures (the ARS dashboard, docs/ars.md) ---------------------------------------


class WeekFigures(Answer):
    """One ISO week of a region's declarations."""

    week: dt.date = Field(description="The Monday of the ISO week")
    iso_week: str = Field(description="The ISO week, e.g. 2026-W48")
    total: int = Field(description="Declarations received that week (days in their département)")
    by_criterion: dict[str, int] = Field(
        description="Declarations naming each criterion of R1413-79 (1a, 1b, 2, 3, 4): one "
        "declaration naming two criteria counts under both"
    )


class WeeklyFigures(Answer):
    """Declarations per ISO week and criterion, every week of the range (zeros included),
    oldest first, this week last."""

    region_code: str | None = Field(
        description="The region counted; null: every declaration the caller may read"
    )
    departement: str | None = Field(
        default=None, description="The département counted, when one was asked"
    )
    weeks: list[WeekFigures]


class Tally(Answer):
    key: str
    count: int


class DeclarationBreakdown(Answer):
    """A region's declarations received in a period, counted by département, criterion,
    micro-organism (genus and species, normalised), resistance, mechanism family, priority
    and status; each list most frequent first, at most `top` long."""

    region_code: str | None
    since: dt.date
    until: dt.date
    total: int
    by_departement: list[Tally]
    by_criterion: list[Tally]
    by_pathogen: list[Tally]
    by_resistance: list[Tally]
    by_mechanism: list[Tally]
    by_priority: list[Tally]
    by_status: list[Tally]


class LineListRow(DeclarationSummary):
    """A declaration as the ARS line list and its export show it: what identifies it, where,
    when, what and how many, where it stands. No free text of the declaration (nature,
    circumstances, investigations, measures) and nothing about the declarant."""

    priority: str | None = Field(description="Of the initial routing decision; null until routed")
    onset_date: dt.date | None
    detection_date: dt.date | None
    last_case_date: dt.date | None
    pathogens: list[str] = Field(description="Genus and species, normalised when they resolve")
    resistances: list[str]
    mechanisms: list[str] = Field(description="Mechanism families: OXA-48, KPC, NDM, vanA…")
    cases_infected: int
    cases_colonised: int
    deaths: int
    recipients: list[str]


class LineListPage(Answer):
    """A page of a region's line list, newest first, with the filters applied. `next_cursor`
    asks for the page after this one (stable while declarations arrive)."""

    region_code: str | None
    since: dt.date
    until: dt.date
    items: list[LineListRow]
    total: int | None = Field(description="Declarations matching; null when not counted")
    limit: int
    offset: int
    next_cursor: str | None


class CpiasCaseFigures(Answer):
    """A CPias's cases of the region now: open (not closed), new (not acknowledged yet), and
    overdue (new past their acknowledgement deadline)."""

    cpias: str
    open: int
    new: int
    overdue: int


class AcknowledgementTimes(Answer):
    """Time from the declaration's submission to its acknowledgement by the CPias, over the
    cases acknowledged since `since` (nearest-rank percentiles)."""

    since: dt.date
    acknowledged: int
    median_hours: float | None
    p90_hours: float | None


class CaseFigures(Answer):
    region_code: str | None = Field(
        description="The region counted; null: every case the caller may read"
    )
    by_cpias: list[CpiasCaseFigures]
    acknowledgement: AcknowledgementTimes
