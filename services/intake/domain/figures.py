"""What the regional figures count of a declaration, and how they are asked for. Pure.

Each declaration is filed under the calendar day it was received in its département (its time
zone: overseas départements have their own) and that day's ISO week (its Monday), and under
its facets: its criteria, its micro-organisms (genus and species, normalised), the resistances
ticked and the mechanism families named (schemas/organisms.py). The facets are stored with the
declaration, in the same transaction, so that every figure is a grouped, indexed query.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from iaspipe.errors import InvalidRequest
from schemas.declaration import EARLIEST
from schemas.organisms import (
    C_AURIS,
    cluster_families,
    fold,
    is_known_genus,
    normalise_species,
)
from schemas.problems import Problem
from schemas.reference import ReferenceData, local_today, region_time_zone, time_zone_of

CRITERION = "criterion"
PATHOGEN = "pathogen"
RESISTANCE = "resistance"
MECHANISM = "mechanism"
FACET_KINDS = (CRITERION, PATHOGEN, RESISTANCE, MECHANISM)
VALUE_LENGTH = 120

Facet = tuple[str, str]


def received_on(departement: str, received_at: dt.datetime) -> dt.date:
    """The day a declaration was received, in its département."""
    return local_today(departement, received_at)


def week_of(day: dt.date) -> dt.date:
    """The Monday of a day's ISO week."""
    return day - dt.timedelta(days=day.weekday())


def iso_week(monday: dt.date) -> str:
    """2026-11-23 -> "2026-W48"."""
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


_PARENTHESES = re.compile(r"\(([^()]*)\)")
# Common names declarants write for agents that have no binomial to go by (folded, as
# schemas/organisms.py folds), and the name they are counted under.
_COMMON_NAMES = {
    "gale": "Sarcoptes scabiei",
    "grippe": "Virus influenza",
    "grippe a": "Virus influenza A",
    "grippe b": "Virus influenza B",
    "virus influenza a": "Virus influenza A",
    "virus influenza b": "Virus influenza B",
    "covid": "SARS-CoV-2",
    "covid 19": "SARS-CoV-2",
    "sars cov 2": "SARS-CoV-2",
}
_BINOMIAL = re.compile(r"[A-Za-z][a-z]+ [a-z]+")  # "Sarcoptes scabiei", "sarcoptes scabiei"


def pathogen_name(species: str) -> str:
    """The micro-organism as counted: genus and species when the genus is one
    schemas/organisms.py knows ("K. pneumoniae OXA-48", "SARM" -> "Klebsiella pneumoniae",
    "Staphylococcus aureus"); else a Latin binomial written beside a common name, whichever
    side of the parentheses ("Gale (Sarcoptes scabiei)", "Sarcoptes scabiei (gale)" ->
    "Sarcoptes scabiei", whatever the case of its genus); a few common names of agents
    ("Gale", "Grippe A", "COVID-19"); else the text as written ("Norovirus")."""
    taxon = normalise_species(species)
    if is_known_genus(taxon.genus):
        return str(taxon)[:VALUE_LENGTH]
    written = " ".join(species.split())
    outside = " ".join(_PARENTHESES.sub(" ", written).split())
    inside = [" ".join(part.split()) for part in _PARENTHESES.findall(written)]
    common = next(
        (_COMMON_NAMES[f] for p in (outside, *inside) if (f := fold(p)) in _COMMON_NAMES), None
    )
    if common is not None:
        return common
    binomial = next((t for t in (outside, *inside) if _BINOMIAL.fullmatch(t)), None)
    return (binomial.capitalize() if binomial else written)[:VALUE_LENGTH]


def facets(criteria: Iterable[str], pathogens: Iterable[dict[str, Any]]) -> list[Facet]:
    """(kind, value) of a declaration, each once, in order: criteria, then for each
    micro-organism its name, its resistances and its mechanism families (the cluster rule's
    families but C. auris, an organism counted under its name, not a mechanism)."""
    found: list[Facet] = [(CRITERION, str(c)) for c in criteria]
    for p in pathogens:
        species = str(p.get("species") or "")
        resistance = [str(r) for r in p.get("resistance") or []]
        if species.strip():
            found.append((PATHOGEN, pathogen_name(species)))
        found += [(RESISTANCE, r) for r in resistance]
        families = cluster_families(species, resistance, p.get("mechanism"))
        found += [(MECHANISM, f) for f in families if f != C_AURIS]
    return list(dict.fromkeys(found))


def facets_of_body(body: dict[str, Any]) -> list[Facet]:
    """The facets of a stored declaration (its JSON body)."""
    return facets(body.get("criteria", []), body.get("infection", {}).get("pathogens", []))


# -- what is asked -------------------------------------------------------------------------


def region_today(region_code: str | None, ref: ReferenceData, now: dt.datetime) -> dt.date:
    """Today in the region (its first département's time zone); for all regions together,
    the latest day any of them has reached (La Réunion's Monday begins while Paris is still
    on Sunday, and its declarations of that Monday count)."""
    if region_code is None:
        zones = {time_zone_of(d.code) for d in ref.departements.values()}
        return max(now.astimezone(zone).date() for zone in zones)
    return now.astimezone(region_time_zone(ref, region_code)).date()


def week_range(today: dt.date, weeks: int) -> list[dt.date]:
    """The Mondays of the last `weeks` ISO weeks, oldest first, this week last."""
    last = week_of(today)
    return [last - dt.timedelta(weeks=weeks - 1 - i) for i in range(weeks)]


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


@dataclass(frozen=True)
class Period:
    """Received from `since` to `until`, both included (days in the département)."""

    since: dt.date
    until: dt.date

    @classmethod
    def of(cls, since: dt.date | None, until: dt.date | None, today: dt.date) -> Period:
        """By default the last 52 ISO weeks up to today, from the Monday of the first (the
        weeks of the weekly chart, so that every figure of a default period agrees). No day
        before 2000 (the earliest date a declaration may carry)."""
        early = [
            name for name, day in (("since", since), ("until", until)) if day and day < EARLIEST
        ]
        if early:
            raise _invalid_period(
                Problem(
                    path=name,
                    rule="date_too_early",
                    message="La date ne peut pas être antérieure au 1er janvier 2000.",
                    message_en="The date cannot be before 1 January 2000.",
                )
                for name in early
            )
        end = until or today
        since = since or week_of(end) - dt.timedelta(weeks=51)
        if since > end:
            raise _invalid_period(
                [
                    Problem(
                        path="since",
                        rule="period_reversed",
                        message="La date de début est postérieure à la date de fin."
                        if until
                        else "La date de début est postérieure à aujourd’hui.",
                        message_en="The start date is after the end date."
                        if until
                        else "The start date is after today.",
                    )
                ]
            )
        until = end
        return cls(since, until)


def _invalid_period(problems: Iterable[Problem]) -> InvalidRequest:
    return InvalidRequest(list(problems), "Période invalide / Invalid period")


@dataclass(frozen=True)
class Asked:
    """The region and period a caller asks figures for (each None: the default)."""

    region: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None


@dataclass(frozen=True)
class LineFilters:
    """The line list's filters: each None means any."""

    departement: str | None = None
    criterion: str | None = None
    priority: str | None = None
    status: str | None = None
    pathogen: str | None = None
    mechanism: str | None = None
    resistance: str | None = None


@dataclass(frozen=True)
class Window:
    """Which page of the line list: `limit` rows after `offset` others, or after the row
    `after` points at; the count of all matches only when `count` (it costs a query)."""

    limit: int
    offset: int = 0
    after: Cursor | None = None
    count: bool = True


@dataclass(frozen=True)
class Cursor:
    """Where a page of the line list ends (newest first): the next page starts after it."""

    received_at: dt.datetime
    declaration_id: str

    def encode(self) -> str:
        raw = f"{self.received_at.isoformat()}|{self.declaration_id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            at, _, declaration_id = raw.partition("|")
            received_at = dt.datetime.fromisoformat(at)
            # A declaration id is a UUID: anything else (a NUL would reach the database) is
            # not a cursor this service wrote.
            if received_at.tzinfo is None or not _is_uuid(declaration_id):
                raise ValueError(text)
        except ValueError:
            raise InvalidRequest(
                [
                    Problem(
                        path="cursor",
                        rule="cursor_invalid",
                        message="Curseur de pagination illisible.",
                        message_en="Unreadable pagination cursor.",
                    )
                ],
                "Curseur invalide / Invalid cursor",
            ) from None
        return cls(received_at, declaration_id)


def ranked(counts: Iterable[tuple[str | None, int]], top: int) -> list[tuple[str, int]]:
    """The most frequent first (then by name), at most `top`."""
    clean = [(k or "", int(n)) for k, n in counts]
    return sorted(clean, key=lambda kn: (-kn[1], kn[0]))[:top]


def by_week(
    mondays: Sequence[dt.date],
    totals: dict[dt.date, int],
    criteria: dict[tuple[dt.date, str], int],
    codes: Sequence[str],
) -> list[tuple[dt.date, int, dict[str, int]]]:
    """Every week of the range, with its total and its count of each criterion (zeros
    included)."""
    return [(m, totals.get(m, 0), {c: criteria.get((m, c), 0) for c in codes}) for m in mondays]
