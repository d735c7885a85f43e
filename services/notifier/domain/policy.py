"""Who may read the messages sent about a declaration: whoever may read the declaration
(docs/security.md, like intake's reads). Pure."""

from __future__ import annotations

from dataclasses import dataclass

from iaspipe.principal import Principal, Role
from schemas.notifications import Audience


@dataclass(frozen=True)
class DeclarationScope:
    """What the requests about a declaration say of its scope."""

    finess: str | None
    submitted_by: str | None
    region_code: str
    cpias: str


def can_read(principal: Principal, scope: DeclarationScope) -> bool:
    match principal.role:
        case Role.admin:
            return True
        case Role.declarant:
            if scope.finess is None:
                return scope.submitted_by is not None and scope.submitted_by == principal.subject
            return principal.finess == scope.finess
        case Role.ars_viewer:
            return principal.region == scope.region_code
        case Role.cpias_investigator:
            return principal.cpias == scope.cpias
    return False


def shows_address(principal: Principal, audience: Audience) -> bool:
    """A declarant sees that the CPias team and the ARS were written to, not their addresses
    (team mailboxes are not published); the others see every address."""
    return principal.role is not Role.declarant or audience is Audience.declarant
