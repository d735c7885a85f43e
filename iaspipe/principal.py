"""Who is calling: a role and a scope, read from a verified token (iaspipe.auth). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from iaspipe.errors import Forbidden


class Role(StrEnum):
    declarant = "declarant"
    cpias_investigator = "cpias_investigator"
    ars_viewer = "ars_viewer"
    admin = "admin"


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    finess: str | None = None
    cpias: str | None = None
    region: str | None = None
    # The person's own address, when the token's issuer vouches for it: the portal calls the
    # services for the people signed in to it, and says from where each of them asks.
    address: str | None = None

    def describe(self) -> str:
        scope = self.finess or self.cpias or self.region or "*"
        return f"{self.role.value}:{scope}:{self.subject}"


@dataclass(frozen=True)
class Caller:
    """Who asks, and from where: what a use case needs to decide and to audit."""

    principal: Principal
    address: str = "unknown"

    @property
    def subject(self) -> str:
        return self.principal.subject


def require(principal: Principal, *roles: Role) -> None:
    if principal.role not in roles:
        raise Forbidden(f"role {principal.role.value} may not do this")
