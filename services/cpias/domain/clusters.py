"""Outbreaks that cross establishments (docs/clusters.md). Pure.

Declarations are anonymous, so the rule compares what they hold. A case has one *episode
key* per organism and mechanism family it declares: the organism (genus and species as
schemas.organisms normalises them), the family (OXA-48-like, KPC, NDM, VIM, IMP, vanA, vanB,
MRSA, C. auris), the region and département of the establishment, and the episode date (the
onset, or failing it the detection, R1413-80).

- A new case is *suggested* as a cluster with every other case of the same region that shares
  an organism and a family, when their episode dates are at most `window_days` apart:
  same département first, then the closest in time, at most `max_suggestions` of them.
  Suggestions are never confirmations: an investigator confirms or dismisses each one.
- A *threshold* is reached when `threshold_episodes` cases of one family (any organism) in one
  département have episode dates within `threshold_days` of each other. It is raised once per
  crossing: a later case whose window overlaps the raised alert extends it.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from iaspipe.errors import NotFound
from schemas.organisms import cluster_families, normalise_species
from services.cpias.domain.cases import Refused


@dataclass(frozen=True)
class ClusterRules:
    """The settings of the rule (CPIAS_CLUSTERS__*)."""

    window_days: int = 30
    max_suggestions: int = 10
    threshold_episodes: int = 3
    threshold_days: int = 30


@dataclass(frozen=True)
class EpisodeKey:
    organism: str
    mechanism_family: str
    region_code: str
    departement: str
    episode_date: dt.date


@dataclass(frozen=True)
class Episode:
    """The stored episode key of a case, as the candidates query returns it."""

    case_id: str
    reference: str
    finess: str | None
    key: EpisodeKey


class Neighbourhood:
    """The episodes new cases are compared with, grouped as the rule asks: those read from
    the database for a batch of new cases (a superset: what lies near any of them), then each
    new case's own as it is opened, so that a case sees the cases opened before it, in the
    batch too, and none after it."""

    def __init__(
        self, matching: Iterable[Episode], in_departements: Iterable[tuple[str, str, str, dt.date]]
    ) -> None:
        self._organism: dict[tuple[str, str, str], list[Episode]] = defaultdict(list)
        self._family: dict[tuple[str, str], list[tuple[str, dt.date]]] = defaultdict(list)
        for episode in matching:
            key = episode.key
            self._organism[(key.region_code, key.mechanism_family, key.organism)].append(episode)
        for case_id, departement, family, date in in_departements:
            self._family[(departement, family)].append((case_id, date))

    def candidates(self, keys: Iterable[EpisodeKey]) -> list[Episode]:
        """The episodes of the keys' regions, families and organisms (`suggest` keeps those
        within the window)."""
        groups = sorted({(k.region_code, k.mechanism_family, k.organism) for k in keys})
        return [e for group in groups for e in self._organism.get(group, ())]

    def in_departement(self, key: EpisodeKey, days: int) -> list[tuple[str, dt.date]]:
        """(case id, episode date) of the episodes of the key's family and département within
        `days` of it, whatever the organism."""
        span = dt.timedelta(days=days)
        dated = self._family.get((key.departement, key.mechanism_family), ())
        return [(c, d) for c, d in dated if abs(d - key.episode_date) <= span]

    def add(self, episodes: Iterable[Episode]) -> None:
        """A new case's episodes, seen by the cases opened after it."""
        for e in episodes:
            k = e.key
            self._organism[(k.region_code, k.mechanism_family, k.organism)].append(e)
            self._family[(k.departement, k.mechanism_family)].append((e.case_id, k.episode_date))


def episode_date(declaration: dict[str, Any]) -> dt.date:
    """The onset of the first case, or failing it the detection (R1413-80)."""
    infection = declaration["infection"]
    return dt.date.fromisoformat(infection.get("onset_date") or infection["detection_date"])


ORGANISM_MAX = 120  # the size of case_episodes.organism and clusters.organism


def episode_keys(declaration: dict[str, Any], region_code: str) -> list[EpisodeKey]:
    """Every (organism, family) a declaration names, once each, with its place and date.
    `declaration` is the declaration as stored (JSON)."""
    departement = str(declaration["establishment"]["departement"]).upper()
    when = episode_date(declaration)
    keys: list[EpisodeKey] = []
    for pathogen in declaration["infection"].get("pathogens") or []:
        species = str(pathogen.get("species") or "")
        # No organism's name is this long; a text that is (up to 300 characters) keys by its
        # start, as stored: a case must always open, whatever an accepted text holds.
        organism = str(normalise_species(species))[:ORGANISM_MAX].rstrip()
        if not organism:
            continue
        for family in cluster_families(
            species, pathogen.get("resistance") or [], pathogen.get("mechanism")
        ):
            key = EpisodeKey(organism, family, region_code, departement, when)
            if key not in keys:
                keys.append(key)
    return keys


@dataclass(frozen=True)
class Suggestion:
    """Why two cases may belong to one outbreak: never a confirmation."""

    case_id: str
    reference: str
    organism: str
    mechanism_family: str
    days_apart: int
    same_departement: bool
    same_establishment: bool
    departements: tuple[str, str]

    def basis(self) -> dict[str, Any]:
        """The structured reason stored with the link (schemas.answers.SuggestionBasis)."""
        return {
            "organism": self.organism,
            "mechanism_family": self.mechanism_family,
            "days_apart": self.days_apart,
            "same_departement": self.same_departement,
            "same_establishment": self.same_establishment,
            "departements": list(self.departements),
        }

    def text(self) -> str:
        """The reason in a sentence, French then English (never quoting free text)."""
        where_fr = "même département" if self.same_departement else "même région"
        where_en = "same département" if self.same_departement else "same region"
        return (
            f"Suggestion : {self.organism} {self.mechanism_family}, {where_fr}, "
            f"{self.days_apart} j d'écart / Suggested: {self.organism} "
            f"{self.mechanism_family}, {where_en}, {self.days_apart} days apart"
        )


def suggest(
    keys: Sequence[EpisodeKey],
    finess: str | None,
    candidates: Iterable[Episode],
    rules: ClusterRules,
    *,
    case_id: str,
    excluded: Iterable[str] = (),
) -> list[Suggestion]:
    """The cases to suggest as a cluster with a new case (its `keys`, its establishment's
    `finess`) among `candidates`: same region, organism and family, episode dates at most
    `window_days` apart; one suggestion per other case (its closest shared key); never the
    case itself nor an `excluded` one (already linked, or a dismissed pair). Same
    département first, then the closest in time, then by reference; at most
    `max_suggestions`."""
    skip = {case_id, *excluded}
    # Per other case, its closest shared key: (rank, other, key); a Suggestion is made only
    # for those kept.
    best: dict[str, tuple[tuple[bool, int, str, str], Episode, EpisodeKey]] = {}
    for other in candidates:
        if other.case_id in skip:
            continue
        theirs = other.key
        for key in keys:
            if (theirs.organism, theirs.mechanism_family, theirs.region_code) != (
                key.organism,
                key.mechanism_family,
                key.region_code,
            ):
                continue
            days = abs((theirs.episode_date - key.episode_date).days)
            if days > rules.window_days:
                continue
            # Same département first, then the closest in time, then by reference.
            rank = (
                theirs.departement != key.departement,
                days,
                other.reference,
                key.mechanism_family,
            )
            kept = best.get(other.case_id)
            if kept is None or rank < kept[0]:
                best[other.case_id] = (rank, other, key)
    return [
        Suggestion(
            case_id=other.case_id,
            reference=other.reference,
            organism=key.organism,
            mechanism_family=key.mechanism_family,
            days_apart=days,
            same_departement=not elsewhere,
            same_establishment=finess is not None and other.finess == finess,
            departements=(key.departement, other.key.departement),
        )
        for (elsewhere, days, _, _), other, key in heapq.nsmallest(
            rules.max_suggestions, best.values(), key=lambda kept: kept[0]
        )
    ]


def default_name(organism: str | None, family: str | None, departement: str, start: dt.date) -> str:
    """A cluster's name until investigators give one: "OXA-48 Klebsiella pneumoniae, 69,
    2026-11"."""
    what = " ".join(x for x in (family, organism) if x) or "Cas groupés"
    return f"{what}, {departement}, {start:%Y-%m}"


class Decision(StrEnum):
    """What investigators do with a suggestion."""

    confirm = "confirm"
    dismiss = "dismiss"


# -- confirmed clusters ----------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """A case of a confirmed cluster, with where and when its episode was."""

    case_id: str
    cpias: str
    region_code: str
    departement: str
    episode_date: dt.date
    added_by: str
    added_at: dt.datetime


@dataclass
class Cluster:
    """A confirmed cluster: investigators named it and chose its cases."""

    id: str
    name: str
    organism: str | None
    mechanism_family: str | None
    first_date: dt.date
    last_date: dt.date
    regions: list[str]
    spf_flagged_at: dt.datetime | None
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def start(
        cls,
        *,
        cluster_id: str,
        name: str | None,
        organism: str | None,
        mechanism_family: str | None,
        first: Member,
        by: str,
        now: dt.datetime,
    ) -> Cluster:
        return cls(
            id=cluster_id,
            name=name
            or default_name(organism, mechanism_family, first.departement, first.episode_date),
            organism=organism,
            mechanism_family=mechanism_family,
            first_date=first.episode_date,
            last_date=first.episode_date,
            regions=[first.region_code],
            spf_flagged_at=None,
            created_by=by,
            created_at=now,
            updated_at=now,
        )

    def take_in(self, members: Sequence[Member], now: dt.datetime) -> bool:
        """Follow its members (all of them, after a change): first and last dates, regions.
        True when it now spans several regions and one of them is new, so Santé publique
        France must be told (again)."""
        regions = sorted({m.region_code for m in members})
        reached = len(regions) > 1 and bool(set(regions) - set(self.regions))
        self.first_date = min(m.episode_date for m in members)
        self.last_date = max(m.episode_date for m in members)
        self.regions = regions
        self.updated_at = now
        if reached:
            self.spf_flagged_at = now
        return reached


# -- thresholds ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ThresholdWindow:
    """`episodes` cases of one family in one département, dated first_date..last_date."""

    mechanism_family: str
    departement: str
    first_date: dt.date
    last_date: dt.date
    episodes: int


def threshold_window(
    key: EpisodeKey, others: Iterable[tuple[str, dt.date]], rules: ClusterRules
) -> ThresholdWindow | None:
    """Where the new episode `key` puts its family and département at the threshold: every
    window of `threshold_days` holding the key and at least `threshold_episodes` cases (the
    other cases: case id, episode date), taken together (first date of the earliest, last
    date of the latest, episodes of the busiest); None when no window holding the key
    reaches the threshold. Each case counts once (its earliest date).

    Together, not the busiest alone: a case declared late can put several windows at the
    threshold at once (days 0, 9 and 18, then 9, 18 and 37...), and the alert must span them
    all, or a later case continuing the last of them would count as a new crossing.

    Linear after one sort: windows start at an episode date between the key's date minus
    the span and the key's date, in order, and the end of each (`end`, one past its last
    date) only moves forward."""
    dates: dict[str, dt.date] = {}
    for case_id, date in others:
        dates[case_id] = min(date, dates.get(case_id, date))
    ordered = sorted([key.episode_date, *dates.values()])
    span = dt.timedelta(days=rules.threshold_days)
    crossed: tuple[int, dt.date, dt.date] | None = None  # (most episodes, first, last)
    end = 0
    for first, start in enumerate(ordered):
        if start > key.episode_date:
            break
        if start + span < key.episode_date or (first and ordered[first - 1] == start):
            continue  # too early to hold the key, or the same window as the date before
        end = max(end, first)
        while end < len(ordered) and ordered[end] <= start + span:
            end += 1
        if end - first < rules.threshold_episodes:
            continue
        if crossed is None:
            crossed = (end - first, start, ordered[end - 1])
        else:
            crossed = (max(crossed[0], end - first), crossed[1], ordered[end - 1])
    if crossed is None:
        return None
    return ThresholdWindow(
        key.mechanism_family, key.departement, crossed[1], crossed[2], crossed[0]
    )


@dataclass
class ThresholdAlert:
    """N episodes of a family in a département within D days (`threshold`, `window_days`),
    raised once per crossing and extended by later cases; `id` is None until written."""

    id: int | None
    mechanism_family: str
    departement: str
    region_code: str
    cpias: str
    episodes: int
    first_date: dt.date
    last_date: dt.date
    threshold: int
    window_days: int
    raised_at: dt.datetime
    updated_at: dt.datetime

    @property
    def expires_on(self) -> dt.date:
        """Current until its window has passed after its last episode."""
        return self.last_date + dt.timedelta(days=self.window_days)


class AlertBook:
    """The alerts raised that the windows of cases being opened may overlap (read once for
    all of them), raised or extended in memory as each window is reached, in order:
    `raised` (new) and `extended` (already written) are what to write afterwards."""

    def __init__(self, known: Iterable[ThresholdAlert]) -> None:
        self._alerts: dict[tuple[str, str], list[ThresholdAlert]] = defaultdict(list)
        for alert in sorted(known, key=lambda a: a.id or 0):
            self._alerts[(alert.departement, alert.mechanism_family)].append(alert)
        self.raised: list[ThresholdAlert] = []
        self.extended: dict[int, ThresholdAlert] = {}

    def reach(
        self,
        window: ThresholdWindow,
        *,
        region_code: str,
        cpias: str,
        rules: ClusterRules,
        now: dt.datetime,
    ) -> bool:
        """A window at the threshold continues the alert of its family and département it
        overlaps (the latest one), or raises a new one: True for a new crossing."""
        same = self._alerts[(window.departement, window.mechanism_family)]
        overlapping = [a for a in same if continues(window, a.first_date, a.last_date)]
        if overlapping:
            alert = max(reversed(overlapping), key=lambda a: a.last_date)
            alert.episodes = max(alert.episodes + 1, window.episodes)
            alert.first_date = min(alert.first_date, window.first_date)
            alert.last_date = max(alert.last_date, window.last_date)
            alert.updated_at = now
            if alert.id is not None:
                self.extended[alert.id] = alert
            return False
        alert = ThresholdAlert(
            id=None,
            mechanism_family=window.mechanism_family,
            departement=window.departement,
            region_code=region_code,
            cpias=cpias,
            episodes=window.episodes,
            first_date=window.first_date,
            last_date=window.last_date,
            threshold=rules.threshold_episodes,
            window_days=rules.threshold_days,
            raised_at=now,
            updated_at=now,
        )
        same.append(alert)
        self.raised.append(alert)
        return True


def continues(window: ThresholdWindow, first_date: dt.date, last_date: dt.date) -> bool:
    """A window that overlaps an alert already raised (first..last) extends it: the
    threshold was not crossed again, it is still crossed."""
    return window.first_date <= last_date and window.last_date >= first_date


# -- errors ---------------------------------------------------------------------------------


class SuggestionNotFound(NotFound):
    detail = "Suggestion introuvable / Suggestion not found"
    path = "other_case_id"
    message = "Aucune suggestion de regroupement ne lie ces deux dossiers."
    message_en = "No cluster suggestion links these two cases."


class ClusterNotFound(NotFound):
    detail = "Regroupement introuvable / Cluster not found"
    path = "cluster_id"
    message = "Aucun regroupement ne correspond."
    message_en = "No such cluster."


class ClusterRefused(Refused):
    detail = "Regroupement refusé / Cluster change refused"
    path = "cluster"
    rule = "cluster_refused"
