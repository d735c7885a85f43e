"""Routing rules version 1 (design.md): who receives a declaration, on what legal basis,
and with which priority. Pure: no I/O."""

from __future__ import annotations

from schemas.declaration import Declaration
from schemas.events import Decision, Priority, RecipientDecision
from schemas.topics import recipient_topic
from services.router.domain.routing_rules import RecipientRule, RoutingData


class UnroutableDeclaration(ValueError):
    """The declaration names something the routing data does not know."""


def _fill(template: str, region: str, cpias: str) -> str:
    return template.replace("{region}", region).replace("{cpias}", cpias)


def priority_of(decl: Declaration, data: RoutingData) -> Priority:
    rules = data.rules.priority
    crit = set(decl.criteria)
    inf = decl.infection
    species = {p.species.strip().casefold() for p in inf.pathogens}
    disease = data.reference.diseases.get(inf.notifiable_disease or "")
    if (
        crit & set(rules.urgent_criteria)
        or (rules.urgent_notifiable_disease and disease is not None and disease.urgent)
        or species & {s.casefold() for s in rules.urgent_species}
    ):
        return Priority.urgent
    resistances = {r for p in inf.pathogens for r in p.resistance}
    if (
        crit & set(rules.high_criteria)
        or resistances & set(rules.high_resistances)
        or (rules.high_when_cpias_support_requested and decl.cpias_support_requested)
    ):
        return Priority.high
    return Priority.normal


def decide(decl: Declaration, data: RoutingData) -> Decision:
    """Every recipient once, in a stable order, each with all the legal bases that name it."""
    dep = data.reference.departements.get(decl.establishment.departement)
    if dep is None:
        raise UnroutableDeclaration(f"unknown département {decl.establishment.departement!r}")
    region, cpias = dep.region_code, dep.cpias_id
    rules = data.rules
    crit = set(decl.criteria)
    chosen: dict[str, RecipientDecision] = {}

    def add(kind: str, rid: str, bases: list[str], reason: str) -> None:
        if rid in chosen:
            prev = chosen[rid]
            merged = prev.legal_basis + [b for b in bases if b not in prev.legal_basis]
            chosen[rid] = prev.model_copy(
                update={"legal_basis": merged, "reason": f"{prev.reason}; {reason}"}
            )
        else:
            chosen[rid] = RecipientDecision(
                id=rid,
                kind=kind,
                topic=recipient_topic(rid),
                legal_basis=list(bases),
                reason=reason,
            )

    def add_rule(rule: RecipientRule) -> None:
        add(rule.kind, _fill(rule.recipient, region, cpias), rule.legal_basis, rule.reason)

    for rule in rules.always:
        add_rule(rule)
        if rule.kind == "ars":
            for extra in rules.ars_extra_basis:
                if extra.criterion in crit:
                    add(
                        rule.kind,
                        _fill(rule.recipient, region, cpias),
                        extra.legal_basis,
                        extra.reason,
                    )
    kind = decl.establishment.kind
    add(
        "cpias",
        _fill(rules.cpias.recipient, region, cpias),
        rules.cpias.legal_basis_by_kind[kind],
        rules.cpias.reason_by_kind[kind],
    )
    for product_rule in rules.products:
        if getattr(decl.products, product_rule.product) is not None:
            add_rule(product_rule)
    for criterion_rule in rules.criteria:
        if criterion_rule.criterion in crit:
            add_rule(criterion_rule)

    return Decision(
        region_code=region,
        cpias=cpias,
        priority=priority_of(decl, data),
        rules_version=rules.version,
        recipients=list(chosen.values()),
    )
