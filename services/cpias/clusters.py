"""Cluster use cases (docs/clusters.md): investigators confirm or dismiss the suggestions of
the cluster rule, read and grow confirmed clusters; the ARS reads the clusters and threshold
alerts of its region. Each use case is one unit of work with its history rows and its audit
row; the rule itself runs when a case opens (services/cpias/outbreaks.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from iaspipe.principal import Caller, Principal
from schemas.answers import CaseDetail, ClusterPage, ClusterView, ThresholdAlerts
from schemas.events import utcnow
from schemas.reference import DEFAULT_TIME_ZONE
from services.cpias import outbreaks
from services.cpias.domain import policy
from services.cpias.domain.cases import Case, CaseNotFound
from services.cpias.domain.clusters import (
    Cluster,
    ClusterNotFound,
    ClusterRefused,
    Decision,
    SuggestionNotFound,
)
from services.cpias.domain.workflow import LinkKind
from services.cpias.ports import CpiasUnitOfWork
from services.cpias.service import _answered, _readable, check_texts, scope_id

SUGGESTED, CONFIRMED, DISMISSED = "suggested", "confirmed", "dismissed"


def decide_suggestion(
    uow: CpiasUnitOfWork,
    case_id: str,
    other_case_id: str,
    *,
    decision: Decision,
    name: str | None,
    reason: str | None,
    caller: Caller,
    now: dt.datetime | None = None,
) -> CaseDetail:
    """Confirm or dismiss a suggested cluster link, with history rows on both cases.

    Confirming (a suggestion, or one dismissed earlier) puts both cases in one confirmed
    cluster: a new one named `name` unless one of them is already in one; Santé publique
    France is told when the cluster now spans regions. Dismissing keeps the link, dismissed,
    so the rule never suggests this pair again."""
    now = now or utcnow()
    confirm = decision is Decision.confirm
    with uow:
        case, other, before, basis = _suggestion(
            uow, case_id, other_case_id, caller, (SUGGESTED, DISMISSED) if confirm else (SUGGESTED,)
        )
        check_texts(name=name, reason=reason)  # once the caller may decide it
        status = CONFIRMED if confirm else DISMISSED
        a, b = sorted((case.id, other.id))
        uow.links.decide(a, b, status, caller.subject, now)
        outbreaks.record_decision(uow, (case, other), before, status, caller.subject, now, reason)
        if confirm:
            outbreaks.join(
                uow, [case, other], actor=caller.subject, now=now, name=name, basis=basis
            )
        return _answered(uow, case, caller, f"cluster:{decision.value}", now)


def _suggestion(
    uow: CpiasUnitOfWork,
    case_id: str,
    other_case_id: str,
    caller: Caller,
    allowed: tuple[str, ...],
) -> tuple[Case, Case, str, dict[str, Any]]:
    """The two cases of a suggestion the caller may decide, its status (one of `allowed`,
    else ClusterRefused) and its basis; SuggestionNotFound when no suggestion links them."""
    case = _readable(uow, case_id, caller.principal, act=True)
    other = uow.cases.get(other_case_id)
    if other is None or not policy.can_read(caller.principal, other):
        raise CaseNotFound("other case")
    a, b = sorted((case.id, other.id))
    state = uow.links.state(a, b)
    # Only the rule's suggestions carry a basis: a link an investigator made is not one.
    if state is None or state[0] != LinkKind.cluster.value or state[2] is None:
        raise SuggestionNotFound(other_case_id)
    _, status, basis = state[0], state[1], state[2]
    if status not in allowed:
        raise ClusterRefused(
            f"Cette suggestion est déjà « {status} ».", f"this suggestion is already {status}"
        )
    return case, other, status, basis


def list_clusters(
    uow: CpiasUnitOfWork,
    *,
    caller: Caller,
    limit: int,
    offset: int,
    region: str | None = None,
) -> ClusterPage:
    """Confirmed clusters with at least one case in the caller's scope (an admin's narrowed
    to `region`), latest first; the read is audited."""
    scope = policy.figures_scope(caller.principal, region)
    with uow:
        items, total = uow.clusters.page(scope=scope, limit=limit, offset=offset)
        uow.audit(caller, "list", "cluster", scope_id(scope))
        uow.commit()
    return ClusterPage(items=items, total=total, limit=limit, offset=offset)


def get_cluster(uow: CpiasUnitOfWork, cluster_id: str, *, caller: Caller) -> ClusterView:
    """A cluster with a case in the caller's scope (else ClusterNotFound); cases outside the
    scope show only where and when. The read is audited."""
    with uow:
        view = _view(uow, _cluster(uow, cluster_id, caller.principal), caller.principal)
        uow.audit(caller, "read", "cluster", cluster_id)
        uow.commit()
    return view


def add_to_cluster(
    uow: CpiasUnitOfWork,
    cluster_id: str,
    *,
    other: dict[str, str | None],
    caller: Caller,
    now: dt.datetime | None = None,
) -> ClusterView:
    """Add a case the caller may act on to a cluster it may read; ClusterRefused when the
    case already belongs to a cluster."""
    now = now or utcnow()
    with uow:
        cluster = _cluster(uow, cluster_id, caller.principal)
        policy.check_may_act(caller.principal)
        case = uow.cases.find(**other)
        if case is None or not policy.can_read(caller.principal, case):
            raise CaseNotFound("case to add")
        held = uow.clusters.of_case(case.id)
        if held is not None:
            raise ClusterRefused(
                "Ce dossier appartient déjà à un regroupement.",
                "this case already belongs to a cluster",
            )
        first = uow.cases.get(uow.clusters.members(cluster.id)[0].case_id)
        assert first is not None
        cluster = outbreaks.join(uow, [first, case], actor=caller.subject, now=now)
        uow.audit(caller, "cluster:add", "cluster", cluster_id)
        view = _view(uow, cluster, caller.principal)
        uow.commit()
    return view


def _cluster(uow: CpiasUnitOfWork, cluster_id: str, principal: Principal) -> Cluster:
    cluster = uow.clusters.get(cluster_id)
    if cluster is None or not any(
        policy.sees(principal, m.cpias, m.region_code) for m in uow.clusters.members(cluster_id)
    ):
        raise ClusterNotFound(cluster_id)
    return cluster


def _view(uow: CpiasUnitOfWork, cluster: Cluster, principal: Principal) -> ClusterView:
    return ClusterView(
        **uow.clusters.summary(cluster).model_dump(),
        members=uow.clusters.member_views(
            cluster.id, lambda cpias, region: policy.sees(principal, cpias, region)
        ),
    )


def list_alerts(
    uow: CpiasUnitOfWork,
    *,
    caller: Caller,
    current: bool,
    limit: int,
    region: str | None = None,
    now: dt.datetime | None = None,
) -> ThresholdAlerts:
    """Threshold alerts of the caller's scope (its CPias, its region, or all; an admin's
    narrowed to `region`): the current ones (last episode less than the window old), or all
    of them."""
    # Episode dates are calendar days in France: "today" is Paris's, not UTC's (between
    # midnight and 1 or 2 a.m. they differ).
    today = (now or utcnow()).astimezone(ZoneInfo(DEFAULT_TIME_ZONE)).date()
    scope = policy.figures_scope(caller.principal, region)
    with uow:
        items = uow.alerts.listed(scope=scope, today=today, current=current, limit=limit)
        uow.audit(caller, "list", "alert", scope_id(scope))
        uow.commit()
    return ThresholdAlerts(items=items)
