"""Routing rules kept as data: loaded from files and checked before the router starts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.declaration import Criterion, EstablishmentKind, Resistance
from schemas.reference import ReferenceData, ReferenceDataError, load_reference

RULES_DIR = Path(__file__).resolve().parent.parent / "rules"


class RulesError(ValueError):
    """The routing data cannot be used: the message names the file and the line."""


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RecipientRule(_M):
    kind: str
    recipient: str
    legal_basis: list[str]
    reason: str


class CpiasRule(_M):
    recipient: str
    legal_basis_by_kind: dict[EstablishmentKind, list[str]]
    reason_by_kind: dict[EstablishmentKind, str]


ProductName = Literal["medical_device", "ivd", "drug", "blood_product", "tissue_or_cells"]


class ProductRule(RecipientRule):
    product: ProductName


class CriterionRule(RecipientRule):
    criterion: Criterion


class ExtraBasis(_M):
    criterion: Criterion
    legal_basis: list[str]
    reason: str


class PriorityRules(_M):
    urgent_criteria: list[Criterion]
    urgent_species: list[str]
    urgent_notifiable_disease: bool
    high_criteria: list[Criterion]
    high_resistances: list[Resistance]
    high_when_cpias_support_requested: bool


class RoutingRules(_M):
    version: str
    always: list[RecipientRule]
    cpias: CpiasRule
    products: list[ProductRule]
    criteria: list[CriterionRule]
    ars_extra_basis: list[ExtraBasis]
    priority: PriorityRules


class RoutingData(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    rules: RoutingRules
    reference: ReferenceData


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def load_rules(path: Path) -> RoutingRules:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"{path}: cannot be read ({exc.strerror})") from exc
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RulesError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from exc
    try:
        rules = RoutingRules.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        key = next((str(p) for p in reversed(err["loc"]) if isinstance(p, str)), "")
        pos = text.find(f'"{key}"') if key else -1
        line = _line_of(text, pos) if pos >= 0 else 1
        raise RulesError(f"{path}:{line}: {where}: {err['msg']}") from exc
    for kind in EstablishmentKind:
        if kind not in rules.cpias.legal_basis_by_kind or kind not in rules.cpias.reason_by_kind:
            raise RulesError(f"{path}: cpias rule has no legal basis or reason for kind {kind}")
    return rules


def load_routing_data(
    rules_path: Path = RULES_DIR / "rules.json", reference_dir: Path | None = None
) -> RoutingData:
    """Load and check everything routing needs; RulesError names the faulty file and line."""
    try:
        ref = load_reference(reference_dir) if reference_dir else load_reference()
    except ReferenceDataError as exc:
        raise RulesError(str(exc)) from exc
    return RoutingData(rules=load_rules(rules_path), reference=ref)
