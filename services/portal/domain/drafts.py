"""A declaration being written: the form's fields as typed, kept server-side between steps
(it survives a reload, a network error and an expired session), with the one
Idempotency-Key every attempt to send it carries."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from iaspipe.errors import NotFound
from schemas.problems import Problem
from services.portal.domain.answers import Accepted
from services.portal.domain.form import FormData


@dataclass(frozen=True)
class Sent(Accepted):
    """What intake answered when it accepted the draft, with what the confirmation keeps of
    the fields."""

    # Kept from the fields when they are forgotten: the health products in cause with their
    # vigilance, and the other declarations that may remain due (article, text), shown on the
    # confirmation until the routing decision's own obligations are there.
    products: list[str] = field(default_factory=list)
    reminders: list[tuple[str, str]] = field(default_factory=list)
    # Received as it was sent at an earlier try whose answer was lost: the changes made since
    # are not in it (the confirmation says so; they go as a complement).
    changed_since: bool = False


@dataclass
class Draft:
    id: str
    owner: str
    data: FormData
    idempotency_key: str
    created_at: dt.datetime
    updated_at: dt.datetime
    # The problems of intake's last refusal, shown beside their fields until corrected.
    problems: list[Problem] = field(default_factory=list)
    sent: Sent | None = None
    # The bodies sent under the draft's key whose answer never came (intake unreachable, the
    # answer lost): one of them may be stored. Sent again as they were when intake says the
    # key holds another body, they get the declaration's first answer.
    attempts: list[dict[str, Any]] = field(default_factory=list)


class DraftNotFound(NotFound):
    detail = "Brouillon introuvable / Draft not found"
    path = "draft_id"
    message = "Ce brouillon n’existe pas ou ne vous appartient pas."
    message_en = "No such draft of yours."


class AlreadySent(NotFound):
    detail = "Déclaration déjà envoyée / Already sent"
    rule = "already_sent"
    message = "Cette déclaration a déjà été envoyée."
    message_en = "This declaration was already sent."
