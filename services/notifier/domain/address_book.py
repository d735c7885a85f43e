"""The address book: per CPias a team mailbox and how it hears of non-urgent new cases, per
ARS region a mailbox for overdue warnings. Data an admin edits, seeded from settings. Pure."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from iaspipe.errors import NotFound
from schemas.notifications import NonUrgent


@dataclass(frozen=True)
class CpiasEntry:
    cpias: str
    address: str
    non_urgent: NonUrgent
    updated_at: dt.datetime | None = None
    updated_by: str | None = None


@dataclass(frozen=True)
class ArsEntry:
    region_code: str
    address: str
    updated_at: dt.datetime | None = None
    updated_by: str | None = None


class UnknownMailbox(NotFound):
    """No CPias or region of the reference data has this id (404)."""

    detail = "Destinataire inconnu / Unknown recipient"
    message = "Aucun CPias ni aucune région ne porte cet identifiant."
    message_en = "No CPias or region has this id."

    def __init__(self, path: str, value: str) -> None:
        super().__init__(f"{path} {value!r}")
        self.path = path  # type: ignore[misc]
