"""Every endpoint x every role x own or other scope, with the status it must get.

Callers are scoped to Lyon (FINESS 690781810, region 84, cpias-ara); "own" objects are Lyon's,
"other" objects are Paris's (FINESS 750100125, region 11, cpias-idf). An object outside the
caller's scope is a 404; a role that may never do the action gets a 403; no token a 401."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.cpias.app import create_app as cpias_app
from services.cpias.settings import CpiasSettings
from services.intake.app import create_app as intake_app
from services.intake.settings import IntakeSettings
from services.notifier.app import create_app as notifier_app
from services.notifier.settings import NotifierSettings
from services.router.app import create_app as router_app
from services.router.settings import RouterSettings
from tests.events import received_in_cpias, route_stored, submitted
from tests.factories import make_declaration
from tests.tokens import Tokens

OWN = {
    "declarant": {"finess": "690781810"},
    "cpias_investigator": {"cpias": "cpias-ara"},
    "ars_viewer": {"region": "84"},
    "admin": {},
}
OTHER = {
    "declarant": {"finess": "750100125"},
    "cpias_investigator": {"cpias": "cpias-idf"},
    "ars_viewer": {"region": "11"},
    "admin": {},
}
ROLES = ["anonymous", "declarant", "cpias_investigator", "ars_viewer", "admin"]

# (service, method, path, body kind) -> {role: (own scope status, other scope status)}
MATRIX: dict[tuple[str, str, str], dict[str, tuple[int, int]]] = {
    ("intake", "POST", "/v1/declarations"): {
        "declarant": (201, 403),
        "cpias_investigator": (403, 403),
        "ars_viewer": (403, 403),
        "admin": (201, 201),
    },
    # The list answers every role, holding only the caller's scope (test_intake_api.py).
    ("intake", "GET", "/v1/declarations"): {
        "declarant": (200, 200),
        "cpias_investigator": (200, 200),
        "ars_viewer": (200, 200),
        "admin": (200, 200),
    },
    ("intake", "GET", "/v1/declarations/{declaration_id}"): {
        "declarant": (200, 404),
        "cpias_investigator": (200, 404),
        "ars_viewer": (200, 404),
        "admin": (200, 200),
    },
    ("intake", "POST", "/v1/declarations/{declaration_id}/complement"): {
        "declarant": (202, 404),
        "cpias_investigator": (403, 404),
        "ars_viewer": (403, 404),
        "admin": (202, 202),
    },
    ("intake", "GET", "/v1/audit"): {
        "declarant": (403, 403),
        "cpias_investigator": (403, 403),
        "ars_viewer": (403, 403),
        "admin": (200, 200),
    },
    ("cpias", "GET", "/v1/cases"): {
        "declarant": (403, 403),
        "cpias_investigator": (200, 200),
        "ars_viewer": (200, 200),
        "admin": (200, 200),
    },
    ("cpias", "GET", "/v1/cases/{case_id}"): {
        "declarant": (404, 404),
        "cpias_investigator": (200, 404),
        "ars_viewer": (200, 404),
        "admin": (200, 200),
    },
    ("cpias", "POST", "/v1/cases/{case_id}/transitions"): {
        "declarant": (404, 404),
        "cpias_investigator": (200, 404),
        "ars_viewer": (403, 404),
        "admin": (200, 200),
    },
    ("cpias", "POST", "/v1/cases/{case_id}/assignment"): {
        "declarant": (404, 404),
        "cpias_investigator": (200, 404),
        "ars_viewer": (403, 404),
        "admin": (200, 200),
    },
    ("cpias", "POST", "/v1/cases/{case_id}/notes"): {
        "declarant": (404, 404),
        "cpias_investigator": (201, 404),
        "ars_viewer": (403, 404),
        "admin": (201, 201),
    },
    ("cpias", "POST", "/v1/cases/{case_id}/links"): {
        "declarant": (404, 404),
        "cpias_investigator": (201, 404),
        "ars_viewer": (403, 404),
        "admin": (201, 201),
    },
    ("cpias", "GET", "/v1/cases/{case_id}/fhir"): {
        "declarant": (404, 404),
        "cpias_investigator": (200, 404),
        "ars_viewer": (200, 404),
        "admin": (200, 200),
    },
    ("cpias", "POST", "/v1/cases/{case_id}/cluster-suggestions/{other_case_id}"): {
        "declarant": (404, 404),
        "cpias_investigator": (200, 404),
        "ars_viewer": (403, 404),
        "admin": (200, 200),
    },
    ("cpias", "GET", "/v1/clusters"): {
        "declarant": (403, 403),
        "cpias_investigator": (200, 200),
        "ars_viewer": (200, 200),
        "admin": (200, 200),
    },
    ("cpias", "GET", "/v1/clusters/{cluster_id}"): {
        "declarant": (404, 404),
        "cpias_investigator": (200, 404),
        "ars_viewer": (200, 404),
        "admin": (200, 200),
    },
    ("cpias", "POST", "/v1/clusters/{cluster_id}/members"): {
        "declarant": (404, 404),
        "cpias_investigator": (201, 404),
        "ars_viewer": (403, 404),
        "admin": (201, 201),
    },
    ("cpias", "GET", "/v1/alerts"): {
        "declarant": (403, 403),
        "cpias_investigator": (200, 200),
        "ars_viewer": (200, 200),
        "admin": (200, 200),
    },
    ("cpias", "GET", "/v1/audit"): {
        "declarant": (403, 403),
        "cpias_investigator": (403, 403),
        "ars_viewer": (403, 403),
        "admin": (200, 200),
    },
    # The regional figures (docs/ars.md) answer authorities, each confined to its own scope
    # whatever region it asks (tests/test_regional_figures.py, tests/test_case_figures.py).
    **{
        (svc, "GET", path): {
            "declarant": (403, 403),
            "cpias_investigator": (200, 200),
            "ars_viewer": (200, 200),
            "admin": (200, 200),
        }
        for svc, path in (
            ("intake", "/v1/stats/weekly?region={region_code}"),
            ("intake", "/v1/stats/breakdown?region={region_code}"),
            ("intake", "/v1/line-list?region={region_code}"),
            ("cpias", "/v1/stats/cases?region={region_code}"),
        )
    },
    ("notifier", "GET", "/v1/notifications?declaration_id={declaration_id}"): {
        # Everyone may ask; what comes back is confined to the caller's scope (see
        # tests/test_notifier.py): nothing for a declaration outside it.
        "declarant": (200, 200),
        "cpias_investigator": (200, 200),
        "ars_viewer": (200, 200),
        "admin": (200, 200),
    },
    ("notifier", "GET", "/v1/address-book"): {
        "declarant": (403, 403),
        "cpias_investigator": (403, 403),
        "ars_viewer": (403, 403),
        "admin": (200, 200),
    },
    ("notifier", "PUT", "/v1/address-book/cpias/{cpias}"): {
        "declarant": (403, 403),
        "cpias_investigator": (403, 403),
        "ars_viewer": (403, 403),
        "admin": (200, 200),
    },
    ("notifier", "PUT", "/v1/address-book/ars/{region_code}"): {
        "declarant": (403, 403),
        "cpias_investigator": (403, 403),
        "ars_viewer": (403, 403),
        "admin": (200, 200),
    },
    ("notifier", "GET", "/v1/audit"): {
        "declarant": (403, 403),
        "cpias_investigator": (403, 403),
        "ars_viewer": (403, 403),
        "admin": (200, 200),
    },
    ("router", "GET", "/v1/rules"): {
        "declarant": (200, 200),
        "cpias_investigator": (200, 200),
        "ars_viewer": (200, 200),
        "admin": (200, 200),
    },
}

LYON = make_declaration()
PARIS = make_declaration(establishment__departement="75", establishment__finess="750100125")


class World:
    def __init__(self, tmp: Path, tokens: Tokens, auth: Any) -> None:
        self.tokens = tokens
        self.intake_app = intake_app(
            IntakeSettings(
                database_url=f"sqlite:///{tmp}/i.db", auth=auth, submit_rate_limit="1000/minute"
            ),
            start_workers=False,
        )
        self.cpias_app = cpias_app(
            CpiasSettings(database_url=f"sqlite:///{tmp}/c.db", auth=auth), start_workers=False
        )
        self.router_app = router_app(RouterSettings(auth=auth), start_workers=False)
        self.notifier_app = notifier_app(
            NotifierSettings(database_url=f"sqlite:///{tmp}/n.db", auth=auth), start_workers=False
        )
        self.clients = {
            "intake": TestClient(self.intake_app),
            "cpias": TestClient(self.cpias_app),
            "router": TestClient(self.router_app),
            "notifier": TestClient(self.notifier_app),
        }
        for c in self.clients.values():
            c.__enter__()
        self.admin = tokens.headers("admin")
        self.pairs = 0

    def close(self) -> None:
        for c in self.clients.values():
            c.__exit__(None, None, None)

    def declaration(self, body: dict) -> str:
        r = self.clients["intake"].post("/v1/declarations", json=body, headers=self.admin)
        assert r.status_code == 201
        declaration_id = str(r.json()["id"])
        route_stored(self.intake_app.state.sessions, declaration_id)  # complements need it
        return declaration_id

    def pair(self, body: dict) -> tuple[str, str]:
        """Two cases the cluster rule suggests together, and no other: an episode date of
        their own."""
        self.pairs += 1
        day = (dt.date(2020, 1, 1) + dt.timedelta(days=100 * self.pairs)).isoformat()
        dated = copy.deepcopy(body)
        dated["infection"]["onset_date"] = dated["infection"]["detection_date"] = day
        return self.case(dated), self.case(dated)

    def cluster(self, body: dict) -> str:
        a, b = self.pair(body)
        r = self.clients["cpias"].post(
            f"/v1/cases/{a}/cluster-suggestions/{b}",
            json={"decision": "confirm"},
            headers=self.admin,
        )
        return str(r.json()["cluster"]["id"])

    def case(self, body: dict) -> str:
        routed = received_in_cpias(
            self.cpias_app.state.sessions,
            submitted(body),
            ack_hours={"urgent": 4, "high": 24, "normal": 72},
        )
        r = self.clients["cpias"].get(
            "/v1/cases", params={"declaration_id": routed.declaration_id}, headers=self.admin
        )
        return str(r.json()["items"][0]["id"])


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, tokens: Tokens, auth_settings: Any
) -> Iterator[World]:
    w = World(tmp_path_factory.mktemp("matrix"), tokens, auth_settings)
    yield w
    w.close()


CASES = [
    (svc, method, path, role, scope)
    for (svc, method, path), expected in MATRIX.items()
    for role in ROLES
    for scope in ("own", "other")
]


@pytest.mark.parametrize(
    ("svc", "method", "path", "role", "scope"),
    CASES,
    ids=[f"{m} {p} {r} {s}" for _, m, p, r, s in CASES],
)
def test_authorization(
    world: World, svc: str, method: str, path: str, role: str, scope: str
) -> None:
    body_decl = LYON if scope == "own" else PARIS
    url = path
    json: dict[str, Any] | None = None
    if "{declaration_id}" in path:
        url = path.replace("{declaration_id}", world.declaration(body_decl))
    if "{other_case_id}" in path:
        one, two = world.pair(body_decl)
        url = path.replace("{case_id}", one).replace("{other_case_id}", two)
    elif "{case_id}" in path:
        url = path.replace("{case_id}", world.case(body_decl))
    if "{cluster_id}" in path:
        url = path.replace("{cluster_id}", world.cluster(body_decl))
    # The caller is Lyon's: its CPias and region, or Paris's.
    url = url.replace("{cpias}", "cpias-ara" if scope == "own" else "cpias-idf")
    url = url.replace("{region_code}", "84" if scope == "own" else "11")
    if path == "/v1/declarations":
        json = body_decl
    elif path.endswith("/complement"):
        json = {"cause_analysis": "Analyse", "action_plan": [{"action": "Plan"}]}
    elif path.endswith("/transitions"):
        json = {"to": "acknowledged"}
    elif path.endswith("/assignment"):
        json = {"assignee": "dr.dupont"}
    elif path.endswith("/notes"):
        json = {"kind": "call", "text": "Appel au service"}
    elif "/address-book/" in path:
        json = {"address": "equipe@exemple.fr"}
    elif path.endswith("/links"):
        other_case = world.case(body_decl)
        json = {"case_id": other_case, "kind": "cluster"}
    elif "/cluster-suggestions/" in path:
        json = {"decision": "confirm" if scope == "own" else "dismiss"}
    elif path.endswith("/members"):
        json = {"case_id": world.case(body_decl)}
    if role == "anonymous":
        headers: dict[str, str] = {}
        expected = 401
    else:
        # The caller is always Lyon-scoped; "other" means acting on the Paris object.
        headers = world.tokens.headers(role, **OWN[role])
        expected = MATRIX[(svc, method, path)][role][0 if scope == "own" else 1]
    r = world.clients[svc].request(method, url, json=json, headers=headers)
    assert r.status_code == expected, r.text


def test_queues_hold_only_the_callers_scope(world: World) -> None:
    world.case(LYON)
    world.case(PARIS)

    def cpias_of(headers: dict[str, str]) -> set[str]:
        items = (
            world.clients["cpias"]
            .get("/v1/cases", params={"limit": 500}, headers=headers)
            .json()["items"]
        )
        return {i["cpias"] for i in items}

    assert cpias_of(world.tokens.headers("cpias_investigator", cpias="cpias-ara")) == {"cpias-ara"}
    assert cpias_of(world.tokens.headers("ars_viewer", region="11")) == {"cpias-idf"}
    assert cpias_of(world.tokens.headers("admin")) == {"cpias-ara", "cpias-idf"}
    # Asking for another CPias's queue by filter yields nothing.
    assert (
        world.clients["cpias"]
        .get(
            "/v1/cases",
            params={"cpias": "cpias-idf"},
            headers=world.tokens.headers("cpias_investigator", cpias="cpias-ara"),
        )
        .json()["items"]
        == []
    )
