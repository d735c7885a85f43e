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
    Cluster,
    ClusterRefused,
    ClusterRules,
    EpisodeKey,
    Member,
    continues,
    episode_date,
    episode_keys,
    suggest,
    threshold_window,
)
from services.cpias.domain.workflow import LinkKind
from services.cpias.ports import CpiasUnitOfWork

SYSTEM = "system"


def on_case_opened(uow: CpiasUnitOfWork, case: Case, rules: ClusterRules, now: dt.datetime) -> None:
    """Store the new case's episode keys, record a suggested cluster link (with its reason,
    on both cases) with each case the rule finds, and raise or extend the threshold alerts
    of its families. A case without a family of the rule (ESBL, C. difficile, scabies...)
    is left alone."""
    started = time.perf_counter()
    keys = episode_keys(case.declaration, case.region_code)
    if not keys:
        return
    uow.episodes.add(case.id, case.reference, case.declaration["establishment"].get("finess"), keys)
    suggest_for(uow, case, keys, rules, now)
    for key in {(k.mechanism_family, k.departement): k for k in keys}.values():
        _check_threshold(uow, case, key, rules, now)
    metrics.DETECTION.observe(time.perf_counter() - started)


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
    Returns how many were recorded."""
    if rules.max_suggestions == 0:
        return 0
    finess = case.declaration["establishment"].get("finess")
    candidates = [
        episode
        for key in keys
        for episode in uow.episodes.matching(key, rules.window_days, excluding=case.id)
    ]
    linked = uow.links.linked_with(case.id, sorted({c.case_id for c in candidates}))
    found = suggest(keys, finess, candidates, rules, case_id=case.id, excluded=linked)
    links, history = [], []
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
    uow.links.add_many(links)
    uow.history.add_many(history)
    return len(found)


def _check_threshold(
    uow: CpiasUnitOfWork, case: Case, key: EpisodeKey, rules: ClusterRules, now: dt.datetime
) -> None:
    others = uow.episodes.in_departement(key, rules.threshold_days, excluding=case.id)
    window = threshold_window(key, others, rules)
    if window is None:
        return
    raised = uow.alerts.overlapping(window)
    if raised is not None:
        alert_id, episodes, first, last = raised
        if continues(window, first, last):
            uow.alerts.extend(
                alert_id,
                max(episodes + 1, window.episodes),
                min(first, window.first_date),
                max(last, window.last_date),
                now,
            )
            return
    uow.alerts.add(
        window,
        region_code=case.region_code,
        cpias=case.cpias,
        threshold=rules.threshold_episodes,
        window_days=rules.threshold_days,
        at=now,
    )
    metrics.THRESHOLDS.labels(window.mechanism_family, window.departement).inc()


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
    held = {c.id: uow.clusters.of_case(c.id) for c in cases}
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
    if cluster.take_in(members, now):
        _flag_for_spf(uow, cluster, members, actor, now)
    uow.clusters.save(cluster)
    return cluster


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
    uow.publish(topics.STATUS, cluster.id, event)
