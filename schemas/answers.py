"""The answers of the HTTP APIs: what intake and cpias return, what the portal and other
teams' systems read. Output models: they tolerate fields added later."""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict

from schemas.declaration import Complement, Declaration
from schemas.events import Obligation


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
    """The 202 answer to a complement."""

    id: str
    declaration_id: str
    received_at: AwareDatetime


class DeclarationView(Answer):
    """A declaration as its declarant (or an authority of its scope) follows it."""

    id: str
    reference: str
    status: str
    received_at: AwareDatetime
    region_code: str
    recipients: list[str]
    cpias_confirmed: bool
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
    opened_at: AwareDatetime
    deadlines: Deadlines
    overdue: bool
    acknowledged_at: AwareDatetime | None
    closed_at: AwareDatetime | None
    outcome: str | None
    complement_received: bool
    establishment: EstablishmentSummary
    criteria: list[str]


class CasePage(Answer):
    """A page of the queue: urgent first, then oldest."""

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


class LinkView(Answer):
    """A link seen from one case: the other case, and why they are linked."""

    case_id: str
    reference: str | None
    kind: str
    reason: str | None
    created_by: str
    at: AwareDatetime


class CaseDetail(CaseSummary):
    """A whole case: the declaration, what was added since, and everything done."""

    declaration: Declaration
    complements: list[Complement]
    routing: CaseRouting
    received_at: AwareDatetime
    notes: list[NoteView]
    history: list[HistoryEntry]
    links: list[LinkView]
