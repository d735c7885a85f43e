"""A case: one declaration as a CPias follows it. Pure."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from iaspipe.errors import Conflict, NotFound, ServiceError
from schemas.problems import Problem
from services.cpias.domain.workflow import (
    Outcome,
    Status,
    ack_deadline,
    check_transition,
    is_overdue,
)

PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2}


@dataclass
class Case:
    id: str
    declaration_id: str
    reference: str
    cpias: str
    region_code: str
    priority: str
    status: str
    opened_at: dt.datetime
    ack_due_at: dt.datetime
    declaration: dict[str, Any]
    routing: dict[str, Any]
    received_at: dt.datetime
    assignee: str | None = None
    acknowledged_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    outcome: str | None = None
    complement_received: bool = False
    complement_received_at_close: bool | None = None
    complements: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def open(
        cls,
        *,
        case_id: str,
        declaration_id: str,
        reference: str,
        cpias: str,
        region_code: str,
        priority: str,
        declaration: dict[str, Any],
        routing: dict[str, Any],
        received_at: dt.datetime,
        now: dt.datetime,
        ack_hours: dict[str, float],
    ) -> Case:
        return cls(
            id=case_id,
            declaration_id=declaration_id,
            reference=reference,
            cpias=cpias,
            region_code=region_code,
            priority=priority,
            status=Status.new.value,
            opened_at=now,
            # The time to acknowledge runs from the declaration's reception, as the queue's
            # order and the ARS's figures count it: a declaration delayed on its way (a
            # broker down, then published again) does not get a fresh deadline on arrival.
            ack_due_at=ack_deadline(min(received_at, now), priority, ack_hours),
            declaration=declaration,
            routing=routing,
            received_at=received_at,
        )

    @property
    def priority_rank(self) -> int:
        return PRIORITY_RANK[self.priority]

    def is_overdue(self, now: dt.datetime) -> bool:
        return is_overdue(self.status, self.ack_due_at, now)

    def move(
        self, to: Status, outcome: Outcome | None, now: dt.datetime
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Apply a workflow move; returns what changed (before, after) for the history.
        Raises IllegalTransition or OutcomeRequired."""
        check_transition(Status(self.status), to, outcome)
        before: dict[str, Any] = {"status": self.status}
        after: dict[str, Any] = {"status": to.value}
        self.status = to.value
        if to is Status.acknowledged:
            self.acknowledged_at = now
        if to is Status.closed:
            assert outcome is not None
            self.closed_at, self.outcome = now, outcome.value
            self.complement_received_at_close = self.complement_received
            after |= {"outcome": outcome.value, "complement_received": self.complement_received}
        return before, after

    def add_complement(self, complement: dict[str, Any]) -> bool:
        """Record a complement once; False when this one is already there."""
        if complement in self.complements:
            return False
        self.complements = [*self.complements, complement]
        self.complement_received = True
        return True


@dataclass(frozen=True)
class QueueQuery:
    """Which cases a queue shows: those within `scope` that match every one of `filters`
    (both column -> value); `overdue`: past (True) or within (False) the acknowledgement
    deadline at `now`; `search`: a part of the reference or of the establishment's name,
    whatever the case of letters; `assigned`: with an assignee (True) or without (False);
    `closed`: closed (True) or open (False); None leaves a criterion out."""

    filters: dict[str, Any]
    scope: dict[str, Any]
    now: dt.datetime
    limit: int
    offset: int
    overdue: bool | None = None
    search: str | None = None
    assigned: bool | None = None
    closed: bool | None = None


class CaseNotFound(NotFound):
    detail = "Dossier introuvable / Case not found"
    path = "case_id"
    message = "Aucun dossier ne correspond."
    message_en = "No such case."


class Refused(Conflict):
    """A change refused now, with why in French and English (409); subclasses name the
    field and the rule."""

    def __init__(self, message: str, message_en: str) -> None:
        super().__init__(message_en)
        self.message_fr = message

    def problems(self) -> list[Problem]:
        return self.one_problem(self.message_fr, str(self))


class AssignmentRefused(Refused):
    detail = "Attribution refusée / Assignment refused"
    path = "assignee"
    rule = "case_closed"


class BlankAssignee(ServiceError):
    status = 422
    detail = "Attribution refusée / Assignment refused"
    path = "assignee"
    rule = "blank"
    message = "Choisissez une personne, ou aucune (null) pour retirer l’attribution."
    message_en = "Name a person, or none (null) to unassign."


class LinkRefused(Refused):
    detail = "Lien refusé / Link refused"
    path = "links"
    rule = "link_refused"
