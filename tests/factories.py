"""Plain factories with deterministic defaults."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import schemas

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


def make_declaration(sample: str = "cpe_cluster_lyon", **overrides: Any) -> dict[str, Any]:
    """A valid declaration; overrides use double underscores for nesting:
    make_declaration(infection__deaths=1, criteria=["3"])."""
    body = copy.deepcopy(load_sample(sample))
    for key, value in overrides.items():
        set_path(body, key.replace("__", "."), value)
    return body


def declaration_in(departement: str, **overrides: Any) -> dict[str, Any]:
    """The Lyon sample moved to another département, with a consistent FINESS."""
    finess = (departement + "0000000000")[:9]
    return make_declaration(
        establishment__departement=departement, establishment__finess=finess, **overrides
    )
