"""Plain factories with deterministic defaults."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import schemas
from schemas.reference import FINESS_PREFIXES, finess_key_ok

SAMPLES = Path(schemas.__file__).parent / "samples"


def load_sample(name: str = "cpe_cluster_lyon") -> dict[str, Any]:
    return json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def set_path(body: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node: Any = body
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value


def community_declaration(**overrides: Any) -> dict[str, Any]:
    """A liberal nurse's declaration: community practice, no FINESS."""
    community: dict[str, Any] = {
        "declarant__role": "professionnel_sante",
        "establishment__finess": None,
        "establishment__kind": "ville",
        "establishment__name": "Cabinet infirmier de la Croix-Rousse",
        "establishment__commune": "69384",
        "establishment__unit": None,
    }
    return make_declaration(**{**community, **overrides})


def make_declaration(sample: str = "cpe_cluster_lyon", **overrides: Any) -> dict[str, Any]:
    """A valid declaration; overrides use double underscores for nesting:
    make_declaration(infection__deaths=1, criteria=["3"])."""
    body = copy.deepcopy(load_sample(sample))
    for key, value in overrides.items():
        set_path(body, key.replace("__", "."), value)
    return body


def with_luhn_key(first8: str) -> str:
    """A FINESS of 9 digits whose last digit is the Luhn key of the first 8."""
    for key in "0123456789":
        if finess_key_ok(first8 + key):
            return first8 + key
    raise AssertionError("unreachable")


def finess_in(departement: str, serial: str = "0") -> str:
    """A well-formed FINESS of a département, by the v2 prefix table, with a valid key
    (Corsican FINESS hold letters and are not key-checked)."""
    prefix = next((p for p, d in FINESS_PREFIXES.items() if d == departement), departement)
    first8 = (prefix + "0" * 8)[: 8 - len(serial)] + serial
    return first8 + "1" if not first8.isdigit() else with_luhn_key(first8)


def declaration_in(departement: str, **overrides: Any) -> dict[str, Any]:
    """The Lyon sample moved to another département, with a consistent FINESS."""
    return make_declaration(
        establishment__departement=departement,
        establishment__finess=finess_in(departement),
        **overrides,
    )
