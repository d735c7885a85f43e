"""What the cluster rule does inside other use cases (docs/clusters.md), always within the
caller's unit of work: when a case opens, key it, suggest cluster links and check the
thresholds; when investigators confirm, put cases in one confirmed cluster and tell Santé
publique France when it spans regions. Nothing here commits."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Sequence
from typing import Any

from schemas import topics
from schemas.events import ClusterCase, ClusterFlagged, envelope
from services.cpias import metrics
from services.cpias.domain.cases import Case
from services.cpias.domain.clusters import (
    AlertBook,
    Cluster,
    ClusterRefused,
    ClusterRules,
    Episode,
    EpisodeKey,
    Member,
    Neighbourhood,
    Suggestion,
    ThresholdWindow,
    episode_date,
    episode_keys,
    suggest,
    threshold_window,
)
from services.cpias.domain.workflow import LinkKind
from services.cpias.ports import CpiasUnitOfWork

SYSTEM = "system"


def on_cases_opened(
    uow: CpiasUnitOfWork, cases: Sequence[Case], rules: ClusterRules
) -> dict[str, list[dict[str, Any]]]:
    """For cases just opened, in order (a poll of the consumer, or one case): store their
    episode keys, suggest a cluster link (with its reason) with each case the rule finds,
    among the cases opened before and those before it in `cases`, and raise or extend the
    threshold alerts of their families. Returns the history rows of the suggestions (on both
    cases of each pair), by the id of the case whose opening made them, for the caller to
    write after that case's "opened" row. Three reads and four writes for all the cases,
    whatever their number. A case without a family of the rule (ESBL, C. difficile,
    scabies...) is left alone."""
    started = time.perf_counter()
    keyed = [(c, keys) for c in cases if (keys := episode_keys(c.declaration, c.region_code))]
    if not keyed:
        return {}
    every = [k for _, keys in keyed for k in keys]
    seen = Neighbourhood(
        uow.episodes.matching(every, rules.window_days) if rules.max_suggestions else [],
        uow.episodes.in_departements(every, rules.threshold_days),
    )
    episodes: list[Episode] = []
    links: list[dict[str, Any]] = []
    history: dict[str, list[dict[str, Any]]] = {}
    reached: list[tuple[Case, ThresholdWindow]] = []
    for case, keys in keyed:
        finess = case.declaration["establishment"].get("finess")
        if rules.max_suggestions:
            found = suggest(keys, finess, seen.candidates(keys), rules, case_id=case.id)
            history[case.id] = _suggested(case, found, case.opened_at, links)
        for key in {(k.mechanism_family, k.departement): k for k in keys}.values():
            window = threshold_window(key, seen.in_departement(key, rules.threshold_days), rules)
            if window is not None:
                reached.append((case, window))
        mine = [Episode(case.id, case.reference, finess, k) for k in keys]
        seen.add(mine)
        episodes += mine
    uow.episodes.add_many(episodes)
    uow.links.add_many(links)
    _raise_or_extend(uow, reached, rules)
    share = (time.perf_counter() - started) / len(keyed)
    for _ in keyed:
        metrics.DETECTION.observe(share)
    return history


def _raise_or_extend(
    uow: CpiasUnitOfWork, reached: Sequence[tuple[Case, ThresholdWindow]], rules: ClusterRules
) -> None:
    """For each window at the threshold, in order, extend the alert it overlaps or raise a
    new one (a crossing): one read and two writes whatever their number."""
    if not reached:
        return
    book = AlertBook(uow.alerts.near([window for _, window in reached]))
    for case, window in reached:
        if book.reach(
            window, region_code=case.region_code, cpias=case.cpias, rules=rules, now=case.opened_at
        ):
            metrics.THRESHOLDS.labels(window.mechanism_family, window.departement).inc()
    # An alert holds every case dated within its span, not the busiest window's: a case
    # opened earlier below the threshold, or one declared late, counts once it falls inside.
    # The episodes of the cases just opened are written already: they are counted.
    for alert in [*book.raised, *book.extended.values()]:
        alert.episodes = uow.episodes.cases_between(
            alert.departement, alert.mechanism_family, alert.first_date, alert.last_date
        )
    uow.alerts.add_many(book.raised)
    uow.alerts.save_many(list(book.extended.values()))


def suggest_for(
    uow: CpiasUnitOfWork,
    case: Case,
    keys: Sequence[EpisodeKey],
    rules: ClusterRules,
    now: dt.datetime,
) -> int:
    """Record the rule's suggestions for a case with these episode keys, with a history row
    on both cases: never for a pair already linked, whatever the link's status (so a
    dismissed pair is never suggested again). A few statements whatever their number.
    Returns how many were recorded. (A case being opened needs no look at the links: it has
    none yet; see on_cases_opened.)"""
    if rules.max_suggestions == 0:
        return 0
    finess = case.declaration["establishment"].get("finess")
    candidates = uow.episodes.matching(keys, rules.window_days)
    linked = uow.links.linked_with(
        case.id, sorted({c.case_id for c in candidates if c.case_id != case.id})
    )
    found = suggest(keys, finess, candidates, rules, case_id=case.id, excluded=linked)
    links: list[dict[str, Any]] = []
    uow.history.add_many(_suggested(case, found, now, links))
    uow.links.add_many(links)
    return len(found)


def _suggested(
    case: Case, found: Sequence[Suggestion], now: dt.datetime, links: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Adds to `links` the suggested link of each suggestion for the case; returns their
    history rows, one on each case of a pair."""
    history = []
    for s in found:
        a, b = sorted((case.id, s.case_id))
        basis = s.basis()
        if a != case.id:  # stored as (a, b): the départements in that order
            basis["departements"] = basis["departements"][::-1]
        links.append(
            {
                "case_id": a,
                "other_case_id": b,
                "kind": LinkKind.cluster.value,
                "reason": s.text(),
                "created_by": SYSTEM,
                "at": now,
                "status": "suggested",
                "basis": basis,
            }
        )
        shared = {k: basis[k] for k in ("organism", "mechanism_family", "days_apart")}
        shared["same_departement"] = s.same_departement
        for one, other, reference in (
            (case.id, s.case_id, s.reference),
            (s.case_id, case.id, case.reference),
        ):
            history.append(
                {
                    "case_id": one,
                    "at": now,
                    "actor": SYSTEM,
                    "action": "cluster_suggested",
                    "before": None,
                    "after": {"case_id": other, "reference": reference, **shared},
                    "reason": None,
                }
            )
        metrics.SUGGESTED.labels(s.mechanism_family).inc()
    return history


def member_of(case: Case, by: str, now: dt.datetime) -> Member:
    return Member(
        case_id=case.id,
        cpias=case.cpias,
        region_code=case.region_code,
        departement=str(case.declaration["establishment"]["departement"]),
        episode_date=episode_date(case.declaration),
        added_by=by,
        added_at=now,
    )


def join(
    uow: CpiasUnitOfWork,
    cases: Sequence[Case],
    *,
    actor: str,
    now: dt.datetime,
    name: str | None = None,
    basis: dict[str, Any] | None = None,
) -> Cluster:
    """Put `cases` in one confirmed cluster: the one some of them already belong to, or a
    new one (named `name`, or after what they share). Each case that joins gets a history
    row. When the cluster reaches one more region while spanning several, a ClusterFlagged
    for Santé publique France goes to the outbox. ClusterRefused when the cases already
    belong to two different clusters."""
    # The cluster's row is locked (PostgreSQL) before its members are read: two cases joining
    # at once take turns, and the second sees the first among the members, its regions and
    # dates, instead of overwriting them.
    held = {c.id: uow.clusters.of_case(c.id, for_update=True) for c in cases}
    if len({cl.id for cl in held.values() if cl is not None}) > 1:
        raise ClusterRefused(
            "Ces dossiers appartiennent déjà à deux regroupements différents.",
            "these cases already belong to two different clusters",
        )
    cluster = next((cl for cl in held.values() if cl is not None), None)
    newcomers = [c for c in cases if held[c.id] is None]
    if cluster is None:
        organism, family = _shared(uow, cases, basis)
        cluster = Cluster.start(
            cluster_id=str(uuid.uuid4()),
            name=name,
            organism=organism,
            mechanism_family=family,
            first=member_of(newcomers[0], actor, now),
            by=actor,
            now=now,
        )
        uow.clusters.add(cluster)
    for case in newcomers:
        uow.clusters.add_member(cluster.id, member_of(case, actor, now))
        uow.history.add(
            case.id, now, actor, "cluster", None, {"cluster_id": cluster.id, "name": cluster.name}
        )
    members = uow.clusters.members(cluster.id)
    _settle_suggestions(uow, newcomers, [m.case_id for m in members], actor, now)
    if cluster.take_in(members, now):
        _flag_for_spf(uow, cluster, members, actor, now)
    uow.clusters.save(cluster)
    return cluster


SETTLED = "Les deux dossiers sont dans le même regroupement confirmé."


def _settle_suggestions(
    uow: CpiasUnitOfWork,
    newcomers: Sequence[Case],
    members: Sequence[str],
    actor: str,
    now: dt.datetime,
) -> None:
    """A suggestion still open between a case that joins and another member has nothing left
    to decide: it is confirmed by the join, with a history row on both cases, so that a case
    suggested with several members of one cluster is settled by one confirmation."""
    for case in newcomers:
        for other_id in sorted(uow.links.pending_suggestions(case.id, list(members))):
            other = uow.cases.get(other_id)
            assert other is not None
            a, b = sorted((case.id, other_id))
            uow.links.decide(a, b, "confirmed", actor, now)
            record_decision(uow, (case, other), "suggested", "confirmed", actor, now, SETTLED)


def record_decision(
    uow: CpiasUnitOfWork,
    pair: tuple[Case, Case],
    before: str,
    status: str,
    actor: str,
    now: dt.datetime,
    reason: str | None,
) -> None:
    """The history rows of a decided suggestion: one on each case, naming the other."""
    case, other = pair
    uow.history.add_many(
        [
            {
                "case_id": one.id,
                "at": now,
                "actor": actor,
                "action": f"cluster_{status}",
                "before": {"status": before},
                "after": {"status": status, "case_id": two.id, "reference": two.reference},
                "reason": reason,
            }
            for one, two in ((case, other), (other, case))
        ]
    )


def _shared(
    uow: CpiasUnitOfWork, cases: Sequence[Case], basis: dict[str, Any] | None
) -> tuple[str | None, str | None]:
    """The organism and family the cases have in common: the suggestion's, or the first
    episode key they share."""
    if basis is not None:
        return basis.get("organism"), basis.get("mechanism_family")
    keys = [{(e.organism, e.mechanism_family) for e in uow.episodes.of(c.id)} for c in cases]
    common = set.intersection(*keys) if keys else set()
    if not common:
        return None, None
    organism, family = sorted(common)[0]
    return organism, family


def _flag_for_spf(
    uow: CpiasUnitOfWork,
    cluster: Cluster,
    members: Sequence[Member],
    actor: str,
    now: dt.datetime,
) -> None:
    cases = []
    for m in members:
        case = uow.cases.get(m.case_id)
        assert case is not None
        cases.append(
            ClusterCase(
                case_id=case.id,
                declaration_id=case.declaration_id,
                reference=case.reference,
                cpias=m.cpias,
                region_code=m.region_code,
                departement=m.departement,
                finess=case.declaration["establishment"].get("finess"),
                episode_date=m.episode_date,
            )
        )
    payload = ClusterFlagged(
        cluster_id=cluster.id,
        name=cluster.name,
        organism=cluster.organism,
        mechanism_family=cluster.mechanism_family,
        regions=cluster.regions,
        first_date=cluster.first_date,
        last_date=cluster.last_date,
        cases=cases,
        flagged_at=now,
        actor=actor,
    )
    cluster_uuid = uuid.UUID(cluster.id)
    event = envelope(
        "ClusterFlagged",
        payload,
        correlation_id=cluster_uuid,
        event_id=uuid.uuid5(cluster_uuid, "spf:" + ",".join(cluster.regions)),
        occurred_at=now,
    )
    uow.publish(topics.CLUSTERS, cluster.id, event)
