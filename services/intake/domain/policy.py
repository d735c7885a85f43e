"""Who may see and do what with a declaration (docs/security.md)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from iaspipe.errors import Forbidden
from iaspipe.principal import Principal, Role
from schemas.problems import Problem
from schemas.reference import ReferenceData
from services.intake.domain.records import DeclarationRecord


def check_may_declare(principal: Principal, finess: str | None) -> None:
    """Declarants declare for their own establishment only, or without FINESS (community
    practice, kind ville); admins for any."""
    if principal.role is Role.admin:
        return
    if principal.role is not Role.declarant:
        raise Forbidden(f"role {principal.role.value} does not declare")
    if finess is not None and principal.finess != finess:
        raise OtherEstablishment(principal.finess, finess)


class OtherEstablishment(Forbidden):
    """A declarant declaring for a FINESS that is not its own: said at the field."""

    path = "establishment.finess"

    def __init__(self, own: str | None, given: str) -> None:
        super().__init__("a declarant declares only for its own FINESS")
        self.own, self.given = own, given

    def problems(self) -> list[Problem]:
        own = f" (FINESS {self.own})" if self.own else ""
        return self.one_problem(
            f"Vous déclarez pour votre établissement{own} : le FINESS {self.given} est celui "
            "d’un autre établissement.",
            f"A declarant declares only for its own establishment{own}; FINESS {self.given} "
            "is another one's.",
        )


def _is_own(principal: Principal, record: DeclarationRecord) -> bool:
    """A declaration of the declarant's FINESS; one without FINESS belongs to who sent it."""
    if record.finess is None:
        return record.submitted_by == principal.subject
    return principal.finess == record.finess


def can_read(principal: Principal, record: DeclarationRecord, ref: ReferenceData) -> bool:
    match principal.role:
        case Role.admin:
            return True
        case Role.declarant:
            return _is_own(principal, record)
        case Role.ars_viewer:
            return principal.region == record.region_code
        case Role.cpias_investigator:
            dep = ref.departements.get(record.departement)
            return dep is not None and dep.cpias_id == principal.cpias
    return False


def check_may_complement(principal: Principal, record: DeclarationRecord) -> None:
    if principal.role is Role.admin:
        return
    if principal.role is not Role.declarant or not _is_own(principal, record):
        raise Forbidden("only the declaring establishment adds the complement")


@dataclass(frozen=True)
class ReadScope:
    """Which declarations a caller may list: None everywhere means all (an admin)."""

    finess: str | None = None
    region_code: str | None = None
    departements: tuple[str, ...] | None = None
    # A declarant: also the declarations without FINESS it sent itself (community practice).
    sent_by: str | None = None


def read_scope(principal: Principal, ref: ReferenceData) -> ReadScope:
    """The same scope as `can_read`, as a filter for a list."""
    match principal.role:
        case Role.declarant:
            return ReadScope(finess=principal.finess, sent_by=principal.subject)
        case Role.ars_viewer:
            return ReadScope(region_code=principal.region or "")
        case Role.cpias_investigator:
            deps = tuple(
                sorted(d.code for d in ref.departements.values() if d.cpias_id == principal.cpias)
            )
            return ReadScope(departements=deps)
    return ReadScope()


def within_departement(scope: ReadScope, departement: str) -> ReadScope:
    """`scope` narrowed to one département: nothing when it lies outside the scope."""
    allowed = scope.departements is None or departement in scope.departements
    return replace(scope, departements=(departement,) if allowed else ())


def figures_scope(principal: Principal, ref: ReferenceData, region: str | None) -> ReadScope:
    """Whose declarations the regional figures and the line list count: an ARS viewer its
    own region, whatever it asks; an admin the region asked (every region without one); an
    investigator its CPias's départements (of the region asked, if any). Declarants read
    their own declarations, not figures."""
    match principal.role:
        case Role.admin:
            return ReadScope(region_code=region)
        case Role.ars_viewer:
            return ReadScope(region_code=principal.region or "")
        case Role.cpias_investigator:
            return ReadScope(
                region_code=region, departements=read_scope(principal, ref).departements
            )
    raise Forbidden(f"role {principal.role.value} reads no regional figures")
