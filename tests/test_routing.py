"""Routing rules version 1: every département, every recipient rule, every priority rule."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from schemas.declaration import Declaration
from schemas.reference import REFERENCE_DIR, reference
from services.router.domain.decide import decide
from services.router.domain.routing_rules import RULES_DIR, RulesError, load_routing_data
from tests.factories import declaration_in, make_declaration

DATA = load_routing_data()


def route(body: dict) -> dict:
    return decide(Declaration.model_validate(body), DATA).model_dump(mode="json")


def by_id(decision: dict) -> dict[str, dict]:
    return {r["id"]: r for r in decision["recipients"]}


DEPARTEMENTS = list(csv.DictReader((REFERENCE_DIR / "departements.csv").open(encoding="utf-8")))


def test_reference_has_101_departements_18_regions_17_cpias() -> None:
    ref = reference()
    assert len(DEPARTEMENTS) == 101 == len(ref.departements)
    assert len(ref.region_codes) == 18
    assert len(ref.cpias_ids) == 17


@pytest.mark.parametrize("row", DEPARTEMENTS, ids=[r["departement_code"] for r in DEPARTEMENTS])
def test_every_departement_routes_to_its_region_and_cpias(row: dict[str, str]) -> None:
    decision = route(declaration_in(row["departement_code"]))
    region, cpias = row["region_code"], row["cpias_id"]
    assert (decision["region_code"], decision["cpias"]) == (region, cpias)
    recipients = by_id(decision)
    assert list(recipients) == [f"ars-{region}", "spf", cpias]
    assert recipients[cpias]["topic"] == f"ias.to.{cpias}.v1"
    assert recipients[f"ars-{region}"]["legal_basis"] == ["R1413-79"]


def test_mayotte_and_reunion_share_the_ocean_indien_cpias_but_not_the_region() -> None:
    assert (
        route(declaration_in("974"))["cpias"]
        == route(declaration_in("976"))["cpias"]
        == ("cpias-oi")
    )
    assert (
        route(declaration_in("974"))["region_code"] != route(declaration_in("976"))["region_code"]
    )


@pytest.mark.parametrize(
    ("kind", "basis"),
    [("ES", "R6111-17"), ("ESMS", "R1413-82"), ("ICE", "R1413-82"), ("ville", "R1413-82")],
)
def test_cpias_legal_basis_depends_on_establishment_kind(kind: str, basis: str) -> None:
    decision = route(make_declaration(establishment__kind=kind))
    assert by_id(decision)["cpias-ara"]["legal_basis"] == [basis]


def test_spf_always_with_r1413_82() -> None:
    assert by_id(route(make_declaration()))["spf"]["legal_basis"] == ["R1413-82"]


@pytest.mark.parametrize(
    ("product", "recipient", "basis"),
    [
        ("medical_device", "crmrv-84", "L5212-2"),
        ("ivd", "crmrv-84", "L5222-3"),
        ("drug", "crpv-84", "L5121-25"),
        ("blood_product", "crhst-84", "L1221-13"),
        ("tissue_or_cells", "biovigilance", "L1211-7-1"),
    ],
)
def test_each_product_goes_to_its_vigilance(product: str, recipient: str, basis: str) -> None:
    body = make_declaration(
        **{f"products__{product}": {"description": "x", "already_declared": False}}
    )
    got = by_id(route(body))
    assert got[recipient]["legal_basis"] == [basis]
    assert got[recipient]["topic"] == f"ias.to.{recipient}.v1"


def test_device_and_ivd_name_crmrv_once_with_both_bases() -> None:
    product = {"description": "x", "already_declared": False}
    decision = route(make_declaration(products__medical_device=product, products__ivd=product))
    ids = [r["id"] for r in decision["recipients"]]
    assert ids.count("crmrv-84") == 1
    assert by_id(decision)["crmrv-84"]["legal_basis"] == ["L5212-2", "L5222-3"]


def test_no_product_no_vigilance() -> None:
    kinds = {r["kind"] for r in route(make_declaration())["recipients"]}
    assert kinds == {"ars", "spf", "cpias"}


def test_death_goes_to_sra_as_possible_serious_adverse_event() -> None:
    decision = route(make_declaration(criteria=["1a", "3"], infection__deaths=1))
    assert by_id(decision)["sra-84"]["legal_basis"] == ["R1413-68"]


def test_criterion_4_adds_l3113_1_to_the_ars_entry() -> None:
    decision = route(
        make_declaration(criteria=["1a", "4"], infection__notifiable_disease="tetanus")
    )
    assert by_id(decision)["ars-84"]["legal_basis"] == ["R1413-79", "L3113-1"]
    assert [r["id"] for r in decision["recipients"]].count("ars-84") == 1


def _priority(**overrides: object) -> str:
    base = {
        "criteria": ["1a"],
        "infection__cases_infected": 1,
        "infection__cases_colonised": 0,
        "infection__pathogens": [
            {"species": "Escherichia coli", "resistance": ["esbl"], "mechanism": None}
        ],
        "cpias_support_requested": False,
    }
    return str(route(make_declaration(**{**base, **overrides}))["priority"])


def test_priority_normal_by_default() -> None:
    assert _priority() == "normal"


@pytest.mark.parametrize(
    "overrides",
    [
        {"criteria": ["1a", "3"], "infection__deaths": 1},
        {"criteria": ["1a", "4"], "infection__notifiable_disease": "legionellosis"},
        {
            "infection__pathogens": [
                {"species": "Candida auris", "resistance": [], "mechanism": None}
            ]
        },
        {
            "infection__pathogens": [
                {"species": "candida auris ", "resistance": [], "mechanism": None}
            ]
        },
        {"infection__pathogens": [{"species": "C. auris", "resistance": [], "mechanism": None}]},
        {
            "infection__pathogens": [
                {"species": "Candidozyma auris", "resistance": [], "mechanism": None}
            ]
        },
    ],
)
def test_priority_urgent(overrides: dict) -> None:
    assert _priority(**overrides) == "urgent"


@pytest.mark.parametrize(
    "overrides",
    [
        {"criteria": ["1a", "2"], "infection__cases_colonised": 1},
        {
            "infection__pathogens": [
                {"species": "K. pneumoniae", "resistance": ["cpe"], "mechanism": "KPC"}
            ]
        },
        {
            "infection__pathogens": [
                {"species": "E. faecium", "resistance": ["gre"], "mechanism": None}
            ]
        },
        {"cpias_support_requested": True},
        {
            "criteria": ["1a", "4"],
            "infection__notifiable_disease": "hiv",
            "cpias_support_requested": True,
        },
    ],
)
def test_priority_high(overrides: dict) -> None:
    assert _priority(**overrides) == "high"


def test_non_urgent_notifiable_disease_alone_is_normal() -> None:
    assert _priority(criteria=["1a", "4"], infection__notifiable_disease="hepatitis_b_acute") == (
        "normal"
    )


def test_decision_carries_rules_version() -> None:
    assert route(make_declaration())["rules_version"] == DATA.rules.version


def test_bad_rules_file_names_file_and_line(tmp_path: Path) -> None:
    text = (RULES_DIR / "rules.json").read_text(encoding="utf-8")
    bad = tmp_path / "rules.json"
    bad.write_text(text.replace('"kind": "spf"', '"kind": 12'), encoding="utf-8")
    with pytest.raises(RulesError) as err:
        load_routing_data(bad)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if '"kind": "spf"' in t)
    assert str(err.value).startswith(f"{bad}:{line}:")


def test_bad_json_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "rules.json"
    bad.write_text('{\n  "version": "x",\n  oops\n}', encoding="utf-8")
    with pytest.raises(RulesError, match=rf"^{bad}:3: invalid JSON"):
        load_routing_data(bad)


def test_bad_reference_csv_names_file_and_line(tmp_path: Path) -> None:
    lines = (REFERENCE_DIR / "departements.csv").read_text(encoding="utf-8").splitlines()
    lines[5] = lines[5].replace(",93,", ",9X,")
    (tmp_path / "departements.csv").write_text("\n".join(lines), encoding="utf-8")
    (tmp_path / "notifiable_diseases.csv").write_text(
        (REFERENCE_DIR / "notifiable_diseases.csv").read_text(encoding="utf-8"), encoding="utf-8"
    )
    with pytest.raises(RulesError, match=r"departements.csv:6: bad region code"):
        load_routing_data(reference_dir=tmp_path)


def test_router_refuses_to_start_on_bad_rules(tmp_path: Path) -> None:
    bad = tmp_path / "rules.json"
    bad.write_text("{}", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "services.router"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"ROUTER_RULES_FILE": str(bad), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 2
    assert str(bad) in proc.stderr


def _explain(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", "route", "--explain", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
    )


def test_explain_prints_the_decision_shape_of_the_design() -> None:
    body = json.dumps(make_declaration())
    proc = _explain("-", stdin=body)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) == {"region_code", "cpias", "priority", "rules_version", "recipients"}
    assert out["recipients"][0] == {
        "id": "ars-84",
        "kind": "ars",
        "topic": "ias.to.ars-84.v1",
        "legal_basis": ["R1413-79"],
        "reason": out["recipients"][0]["reason"],
    }


def test_explain_of_invalid_declaration_fails_with_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(make_declaration(criteria=["3"])), encoding="utf-8")
    proc = _explain(str(path))
    assert proc.returncode == 1
    assert "infection.deaths" in proc.stderr and "R1413-79" in proc.stderr
