"""Who may see and act on a case (docs/security.md)."""

from __future__ import annotations

from typing import Any

from iaspipe.errors import Forbidden
from iaspipe.principal import Principal, Role
from services.cpias.domain.cases import Case


def can_read(principal: Principal, case: Case) -> bool:
    return sees(principal, case.cpias, case.region_code)


def sees(principal: Principal, cpias: str, region_code: str) -> bool:
    """Whether the caller's scope holds what belongs to this CPias and region: a case, a
    cluster's case, a threshold alert."""
    match principal.role:
        case Role.admin:
            return True
        case Role.cpias_investigator:
            return principal.cpias == cpias
        case Role.ars_viewer:
            return principal.region == region_code
    return False


def may_act(principal: Principal) -> bool:
    """Investigators act on their CPias's cases (scope checked by can_read); ARS reads only."""
    return principal.role in (Role.admin, Role.cpias_investigator)


def check_may_act(principal: Principal) -> None:
    if not may_act(principal):
        raise Forbidden(f"role {principal.role.value} reads cases but does not act on them")


def queue_scope(principal: Principal) -> dict[str, Any]:
    """The filters that confine a queue to the caller's scope."""
    match principal.role:
        case Role.admin:
            return {}
        case Role.cpias_investigator:
            return {"cpias": principal.cpias}
        case Role.ars_viewer:
            return {"region_code": principal.region}
    raise Forbidden(f"role {principal.role.value} has no case queue")


def figures_scope(principal: Principal, region: str | None) -> dict[str, Any]:
    """The queue scope of the regional figures, clusters and alerts: an admin may narrow it
    to the region asked; anyone else keeps their own scope, whatever they ask."""
    if principal.role is Role.admin and region:
        return {"region_code": region}
    return queue_scope(principal)
