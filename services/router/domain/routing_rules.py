"""Routing rules kept as data (version 2, docs/rules.md): loaded from files and checked
before the router starts; a bad file names the file and the line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.declaration import Criterion, EstablishmentKind, Resistance
from schemas.reference import ReferenceData, ReferenceDataError, load_reference
from schemas.topics import recipient_ids

RULES_DIR = Path(__file__).resolve().parent.parent / "rules"


class RulesError(ValueError):
    """The routing data cannot be used: the message names the file and the line."""


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


ProductName = Literal["medical_device", "ivd", "drug", "blood_product", "tissue_or_cells"]


class Condition(_M):
    """When a rule applies: every field given must hold (a list: any of its values). Empty:
    always."""

    criteria: list[Criterion] = []
    establishment_kind: list[EstablishmentKind] = []
    # the declaration's notifiable disease is urgent (D3113-8: the ARS channel) or
    # surveillance-only (D3113-9: the Santé publique France channel)
    notifiable_disease: Literal["urgent", "surveillance"] | None = None
    product: ProductName | None = None
    product_already_declared: bool | None = None


class ExtraBasis(_M):
    """Legal bases a recipient also cites when `when` holds."""

    when: Condition
    legal_basis: list[str]
    reason: str


class RecipientRule(_M):
    """A recipient (`recipient` is a template: {region}, {cpias}) named when `when` holds,
    with its legal bases. A rule whose condition names a product routes for information when
    that product was already declared to its vigilance."""

    kind: str
    recipient: str
    when: Condition = Condition()
    legal_basis: list[str]
    reason: str
    extra_basis: list[ExtraBasis] = []


class ObligationRule(_M):
    """What the declarant still owes elsewhere when `when` holds. Messages may name the
    notifiable disease with {disease}."""

    rule: str
    when: Condition
    owed_to: str
    article: str
    message: str
    message_en: str


class PriorityRules(_M):
    urgent_criteria: list[Criterion]
    urgent_species: list[str]
    urgent_notifiable_disease: bool
    high_criteria: list[Criterion]
    high_resistances: list[Resistance]
    high_when_cpias_support_requested: bool


class RoutingRules(_M):
    version: str
    recipients: list[RecipientRule]
    for_information_reason: str
    obligations: list[ObligationRule]
    priority: PriorityRules


class RoutingData(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    rules: RoutingRules
    reference: ReferenceData


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


_DECODER = json.JSONDecoder()


def _space(text: str, pos: int) -> int:
    """The offset of the first character at or after `pos` that is not JSON white space."""
    while pos < len(text) and text[pos] in " \t\n\r":
        pos += 1
    return pos


def _children(text: str, pos: int) -> Iterator[tuple[int | str, int]]:
    """The members of the JSON object, or the items of the array, whose text starts at `pos`:
    (key or index, offset where its value starts). The text is valid JSON (it was decoded)."""
    opening = text[pos]
    pos = _space(text, pos + 1)
    index = 0
    while text[pos] not in "]}":
        key: int | str = index
        if opening == "{":
            key, pos = _DECODER.raw_decode(text, pos)
            pos = _space(text, _space(text, pos) + 1)  # past the ':'
        yield key, pos
        _, pos = _DECODER.raw_decode(text, pos)
        pos = _space(text, pos)
        if text[pos] == ",":
            pos = _space(text, pos + 1)
        index += 1


def _locate(text: str, loc: tuple[int | str, ...]) -> int:
    """The offset in the JSON text of the value at a pydantic error location; for a member
    that is missing, the start of the object that lacks it."""
    pos = _space(text, 0)
    for part in loc:
        if text[pos] not in "[{":
            return pos
        found = next((at for key, at in _children(text, pos) if key == part), None)
        if found is None:
            return pos
        pos = found
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
    for i, rule in enumerate(rules.recipients):
        line = _line_of(text, _locate(text, ("recipients", i)))
        where = f"{path}:{line}: recipients[{i}] ({rule.recipient})"
        if not rule.legal_basis:
            covered = {k for extra in rule.extra_basis for k in extra.when.establishment_kind}
            missing = [k.value for k in EstablishmentKind if k not in covered]
            if missing:
                raise RulesError(f"{where}: no legal basis for kind {', '.join(missing)}")
    conditions = [r.when for r in rules.recipients] + [o.when for o in rules.obligations]
    for cond in conditions:
        if cond.product_already_declared is not None and cond.product is None:
            raise RulesError(f"{path}: product_already_declared needs a product")
    return rules


def _check_recipients(path: Path, rules: RoutingRules, ref: ReferenceData) -> None:
    """Every recipient a rule can name has a topic (schemas.topics), so the router creates
    it and deploy/kafka/topics.txt lists it."""
    known = set(recipient_ids(ref))
    for rule in rules.recipients:
        for dep in ref.departements.values():
            rid = rule.recipient.replace("{region}", dep.region_code).replace(
                "{cpias}", dep.cpias_id
            )
            if rid not in known:
                raise RulesError(f"{path}: recipient {rid!r} ({rule.recipient}) has no topic")


def load_routing_data(
    rules_path: Path = RULES_DIR / "rules.json", reference_dir: Path | None = None
) -> RoutingData:
    """Load and check everything routing needs; RulesError names the faulty file and line."""
    try:
        ref = load_reference(reference_dir) if reference_dir else load_reference()
    except ReferenceDataError as exc:
        raise RulesError(str(exc)) from exc
    rules = load_rules(rules_path)
    _check_recipients(rules_path, rules, ref)
    return RoutingData(rules=rules, reference=ref)
