"""What intake keeps about each declaration, apart from its body."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from iaspipe.errors import Conflict, NotFound


@dataclass
class DeclarationRecord:
    """A stored declaration: its numbering, scope, progress and publication state."""

    id: str
    reference: str
    region_code: str
    year: int
    sequence: int
    departement: str
    finess: str | None
    status: str
    body: dict[str, Any]
    received_at: dt.datetime
    event_id: str
    submitted_by: str | None
    recipients: list[str] = field(default_factory=list)
    last_published_at: dt.datetime | None = None
    publish_count: int = 1
    cpias_confirmed_at: dt.datetime | None = None
    # When the CPias made the change that set `status` (its CaseStatusChanged's changed_at):
    # a change heard late, older than that one, never takes the status back.
    status_changed_at: dt.datetime | None = None
    # The initial routing decision, as the router sent it on ias.routing.v1: complements go to
    # its recipients whatever rules are in force later. None until it comes back.
    routing_decision: dict[str, Any] | None = None
    # Where the regional figures file it (domain/figures.py): the day received in its
    # département and that day's ISO week (always set when stored), and the priority of the
    # initial routing decision (None until it comes back).
    received_on: dt.date | None = None
    week: dt.date | None = None
    priority: str | None = None


@dataclass(frozen=True)
class TimelineItem:
    declaration_id: str
    event_id: str
    kind: str
    at: dt.datetime
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RecipientState:
    """A recipient of a declaration (`kind`: ars, cpias, spf, crmrv...) and when it confirmed
    holding it (None: not yet)."""

    declaration_id: str
    recipient_id: str
    kind: str
    confirmed_at: dt.datetime | None = None


@dataclass(frozen=True)
class HeldComplement:
    """A complement received before its declaration's initial routing decision came back:
    kept, and published to that decision's recipients once it has."""

    id: str
    declaration_id: str
    body: dict[str, Any]
    received_at: dt.datetime


@dataclass(frozen=True)
class StoredAnswer:
    """The first answer given under an idempotency key, and the body it answered."""

    request_hash: str
    status_code: int
    response: dict[str, Any]


class DeclarationNotFound(NotFound):
    detail = "Déclaration introuvable / Declaration not found"
    path = "declaration_id"
    message = "Aucune déclaration ne porte cet identifiant."
    message_en = "No declaration has this id."


class IdempotencyConflict(Conflict):
    detail = "Clé d'idempotence déjà utilisée / Idempotency key reused"
    path = "Idempotency-Key"
    rule = "idempotency_conflict"
    message = "Cette clé a déjà servi pour une autre déclaration."
    message_en = "This key was already used with another body."


class ComplementKeyConflict(IdempotencyConflict):
    message = "Cette clé a déjà servi pour un autre complément de cette déclaration."
    message_en = "This key was already used with another complement of this declaration."


class KeyTaken(Exception):
    """The idempotency key of a submission is already stored: a retry, or another body."""
