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


def _skip_value(text: str, pos: int) -> int:
    """Index just after the JSON value starting at or after pos."""
    depth, in_str, i = 0, False, pos
    while i < len(text):
        ch = text[i]
        if in_str:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_str = False
                if depth == 0:
                    return i + 1
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            if depth == 0:
                return i
            depth -= 1
            if depth == 0:
                return i + 1
        elif ch == "," and depth == 0:
            return i
        i += 1
    return i


def _locate(text: str, loc: tuple[int | str, ...]) -> int:
    """Best-effort offset in the JSON text of the value at a pydantic error location."""
    pos = 0
    for part in loc:
        if isinstance(part, str):
            found = text.find(f'"{part}"', pos)
            if found < 0:
                return pos
            pos = found + len(part) + 2
        else:
            pos = text.find("[", pos) + 1
            for _ in range(part):
                while pos < len(text) and text[pos] in " \n\r\t":
                    pos += 1
                pos = _skip_value(text, pos)
                pos = text.find(",", pos) + 1
    return pos


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
        line = _line_of(text, _locate(text, tuple(err["loc"])))
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
