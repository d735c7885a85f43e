"""Routing rules version 2: every département, every recipient and legal basis, for-information
recipients, obligations, every priority rule, and the rules file's checks."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from schemas.declaration import Declaration
from schemas.reference import REFERENCE_DIR, reference
from services.router.domain.decide import decide
from services.router.domain.routing_rules import RULES_DIR, RulesError, load_routing_data
from tests.factories import declaration_in, load_sample, make_declaration

DATA = load_routing_data()


def route(body: dict) -> dict:
    return decide(Declaration.model_validate(body), DATA).model_dump(mode="json")


def by_id(decision: dict) -> dict[str, dict]:
    return {r["id"]: r for r in decision["recipients"]}


DEPARTEMENTS_TEXT = (REFERENCE_DIR / "departements.csv").read_text(encoding="utf-8")
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
    assert recipients[f"ars-{region}"]["legal_basis"] == ["R1413-79", "R6111-17"]
    assert recipients[cpias]["legal_basis"] == ["R6111-17"]


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


@pytest.mark.parametrize(
    ("kind", "bases"),
    [
        ("ES", ["R1413-79", "R6111-17"]),
        ("ESMS", ["R1413-79", "CASF L331-8-1"]),
        ("ICE", ["R1413-79"]),
        ("ville", ["R1413-79"]),
    ],
)
def test_ars_cites_r6111_17_for_es_and_casf_l331_8_1_for_esms(kind: str, bases: list[str]) -> None:
    assert by_id(route(make_declaration(establishment__kind=kind)))["ars-84"]["legal_basis"] == (
        bases
    )


def test_spf_always_with_r1413_82() -> None:
    assert by_id(route(make_declaration()))["spf"]["legal_basis"] == ["R1413-82"]


@pytest.mark.parametrize(
    ("product", "recipients", "basis"),
    [
        ("medical_device", ["crmrv-84", "ansm"], "L5212-2"),
        ("ivd", ["crmrv-84", "ansm"], "L5222-3"),
        ("drug", ["crpv-84"], "L5121-25"),
        ("blood_product", ["crhst-84"], "L1221-13"),
        ("tissue_or_cells", ["biovigilance"], "L1211-7-1"),
    ],
)
def test_each_product_goes_to_its_vigilance(
    product: str, recipients: list[str], basis: str
) -> None:
    body = make_declaration(
        **{f"products__{product}": {"description": "x", "already_declared": False}}
    )
    got = by_id(route(body))
    assert list(got)[3:] == recipients
    for recipient in recipients:
        assert got[recipient]["legal_basis"] == [basis]
        assert got[recipient]["topic"] == f"ias.to.{recipient}.v1"
        assert got[recipient]["for_information"] is False


def test_device_and_ivd_name_crmrv_and_ansm_once_with_both_bases() -> None:
    product = {"description": "x", "already_declared": False}
    decision = route(make_declaration(products__medical_device=product, products__ivd=product))
    ids = [r["id"] for r in decision["recipients"]]
    assert ids == ["ars-84", "spf", "cpias-ara", "crmrv-84", "ansm"]
    assert by_id(decision)["crmrv-84"]["legal_basis"] == ["L5212-2", "L5222-3"]
    assert by_id(decision)["ansm"]["legal_basis"] == ["L5212-2", "L5222-3"]


def test_product_already_declared_still_routes_for_information_saying_so() -> None:
    decision = route(
        make_declaration(
            products__medical_device={"description": "Endoscope", "already_declared": True},
            products__drug={"description": "Héparine", "already_declared": True},
        )
    )
    got = by_id(decision)
    for recipient in ("crmrv-84", "ansm", "crpv-84"):
        assert got[recipient]["for_information"] is True
        assert "déjà déclaré" in got[recipient]["reason"]
    for recipient in ("ars-84", "spf", "cpias-ara"):
        assert got[recipient]["for_information"] is False
    assert all(o["rule"] != "materiovigilance_ansm" for o in decision["obligations"])


def test_recipient_named_by_a_declared_and_an_undeclared_product_is_for_action() -> None:
    decision = route(
        make_declaration(
            products__medical_device={"description": "Automate", "already_declared": True},
            products__ivd={"description": "Réactif", "already_declared": False},
        )
    )
    assert by_id(decision)["crmrv-84"]["for_information"] is False
    assert by_id(decision)["ansm"]["for_information"] is False
    assert [o["rule"] for o in decision["obligations"]] == ["reactovigilance_ansm"]


def test_no_product_no_vigilance() -> None:
    kinds = {r["kind"] for r in route(make_declaration())["recipients"]}
    assert kinds == {"ars", "spf", "cpias"}


def test_death_adds_no_recipient_only_the_eigs_obligation() -> None:
    decision = route(make_declaration(criteria=["1a", "3"], infection__deaths=1))
    assert [r["id"] for r in decision["recipients"]] == ["ars-84", "spf", "cpias-ara"]
    assert not any(r["id"].startswith("sra-") for r in decision["recipients"])
    (obligation,) = decision["obligations"]
    assert (obligation["rule"], obligation["owed_to"]) == ("serious_adverse_event_ars", "ars")
    assert "R1413-67" in obligation["article"] and "R1413-68" in obligation["article"]
    assert "EIGS" in obligation["message"] and obligation["message_en"]


def test_urgent_notifiable_disease_cites_l3113_1_and_r3113_3_on_the_ars() -> None:
    decision = route(
        make_declaration(criteria=["1a", "4"], infection__notifiable_disease="legionellosis")
    )
    got = by_id(decision)
    assert got["ars-84"]["legal_basis"] == ["R1413-79", "R6111-17", "L3113-1", "R3113-3"]
    assert got["spf"]["legal_basis"] == ["R1413-82"]
    assert [r["id"] for r in decision["recipients"]].count("ars-84") == 1
    (obligation,) = decision["obligations"]
    assert obligation == {
        "rule": "notifiable_disease_report_ars",
        "owed_to": "ars",
        "article": "L3113-1",
        "message": obligation["message"],
        "message_en": obligation["message_en"],
    }
    assert "Légionellose" in obligation["message"] and "ARS" in obligation["message_en"]


@pytest.mark.parametrize("disease", ["tetanus", "hiv", "hepatitis_b_acute", "covid19"])
def test_surveillance_only_disease_cites_l3113_1_and_r3113_4_on_spf(disease: str) -> None:
    decision = route(make_declaration(criteria=["1a", "4"], infection__notifiable_disease=disease))
    got = by_id(decision)
    assert got["spf"]["legal_basis"] == ["R1413-82", "L3113-1", "R3113-4"]
    assert got["ars-84"]["legal_basis"] == ["R1413-79", "R6111-17"]
    assert [(o["rule"], o["owed_to"], o["article"]) for o in decision["obligations"]] == [
        ("notifiable_disease_notification_spf", "spf", "L3113-1")
    ]


def test_nosocomial_covid19_cluster_in_an_ehpad_is_routed() -> None:
    body = make_declaration(
        establishment__kind="ESMS",
        establishment__finess="290000017",
        establishment__departement="29",
        criteria=["2", "4"],
        infection__notifiable_disease="covid19",
        infection__pathogens=[{"species": "SARS-CoV-2", "resistance": [], "mechanism": None}],
    )
    decision = route(body)
    assert decision["priority"] == "high"
    got = by_id(decision)
    assert got["ars-53"]["legal_basis"] == ["R1413-79", "CASF L331-8-1"]
    assert got["spf"]["legal_basis"] == ["R1413-82", "L3113-1", "R3113-4"]
    assert got["cpias-bre"]["legal_basis"] == ["R1413-82"]


def test_device_not_declared_owes_the_ansm_declaration() -> None:
    decision = route(load_sample("candida_auris_paris_device"))
    assert [(o["rule"], o["owed_to"], o["article"]) for o in decision["obligations"]] == [
        ("materiovigilance_ansm", "ansm", "L5212-2")
    ]


def test_every_decision_carries_warnings_and_obligations() -> None:
    decision = route(make_declaration())
    assert decision["warnings"] == [] and decision["obligations"] == []
    warned = route(
        make_declaration(
            infection__pathogens=[
                {"species": "Klebsiella pneumoniae", "resistance": [], "mechanism": "KPC-3"}
            ]
        )
    )
    assert [(w["path"], w["rule"]) for w in warned["warnings"]] == [
        ("infection.pathogens[0].resistance", "mechanism_without_resistance")
    ]


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
        {"criteria": ["1a", "4"], "infection__notifiable_disease": "measles"},
    ],
)
def test_priority_urgent(overrides: dict) -> None:
    assert _priority(**overrides) == "urgent"


@pytest.mark.parametrize(
    "species",
    [
        "Candida auris (clade I)",
        "Candida auris clade IV",
        "CANDIDA AURIS",
        "candida\u00a0auris",
        "Candida\u202fauris",
        "Candida  auris.",
        "Candida-auris",
        "Candidozyma auris (ex-Candida auris)",
        "C auris",
        "C.auris",
        "c. Auris, souche multirésistante",
        "Cándida aurís",
    ],
)
def test_candida_auris_however_written_is_urgent(species: str) -> None:
    pathogens = [{"species": species, "resistance": [], "mechanism": None}]
    assert _priority(infection__pathogens=pathogens) == "urgent"


@pytest.mark.parametrize("species", ["Candida albicans", "Candida parapsilosis", "Aurisia sp."])
def test_other_yeasts_are_not_urgent(species: str) -> None:
    pathogens = [{"species": species, "resistance": [], "mechanism": None}]
    assert _priority(infection__pathogens=pathogens) == "normal"


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


def test_a_field_missing_from_a_rule_names_the_line_of_that_rule(tmp_path: Path) -> None:
    """Not the line of the next rule that has the field: the line where the rule lacking it
    starts. A check made after reading names its rule's line too."""
    text = (RULES_DIR / "rules.json").read_text(encoding="utf-8")
    lines = text.splitlines()
    start = next(i for i, t in enumerate(lines, 1) if '"rule": "materiovigilance_ansm"' in t)
    article = next(i for i in range(start, len(lines)) if '"article"' in lines[i - 1])
    lines[article - 1] = lines[article - 1].replace('"article"', '"articel"')
    bad = tmp_path / "rules.json"
    bad.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(
        RulesError, match=rf"^{bad}:{start}: obligations\.\d+\.article: Field required"
    ):
        load_routing_data(bad)

    rules = json.loads(text)
    rules["recipients"][2]["legal_basis"], rules["recipients"][2]["extra_basis"] = [], []
    bad.write_text(json.dumps(rules, indent=2), encoding="utf-8")
    line = _line_of_recipient(bad.read_text(encoding="utf-8"), 2)
    with pytest.raises(RulesError, match=rf"^{bad}:{line}: recipients\[2\]"):
        load_routing_data(bad)


def _line_of_recipient(text: str, index: int) -> int:
    """The line of the `index`th recipient rule of a rules file written with indent=2."""
    starts = [i for i, t in enumerate(text.splitlines(), 1) if t.startswith("    {")]
    return starts[index]


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


def _reference_copy(tmp_path: Path, edit: str, old: str, new: str) -> Path:
    """The shipped reference files in tmp_path, `old` replaced by `new` in the file `edit`."""
    for name in ("departements.csv", "notifiable_diseases.csv"):
        text = (REFERENCE_DIR / name).read_text(encoding="utf-8")
        if name == edit:
            assert old in text
            text = text.replace(old, new)
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("edit", "old", "new", "error"),
    [
        # A département left out would send its declarations to the dead letters.
        ("departements.csv", "69,Rhône,84,", "", r"departements.csv: départements missing: 69$"),
        ("departements.csv", "\n01,", "\n99,", r"departements.csv:\d+: bad département code '99'"),
        ("departements.csv", "\n01,", "\n20,", r"departements.csv:\d+: bad département code '20'"),
        (
            "departements.csv",
            "69,Rhône,84,Auvergne-Rhône-Alpes,cpias-ara",
            "69,Rhône,84,Auvergne-Rhône-Alpes,cpias-idf",
            r"departements.csv:\d+: region 84 has two CPias \(cpias-ara and cpias-idf\)",
        ),
        ("notifiable_diseases.csv", "D3113-9,false", "D3113-9,true", r"must be false for"),
        ("notifiable_diseases.csv", "D3113-8,true", "D3113-8,false", r"must be true for"),
        ("notifiable_diseases.csv", "D3113-8,true", "L3113-1,true", r"D3113-8 or D3113-9"),
    ],
)
def test_reference_data_that_would_misroute_stops_the_router(
    tmp_path: Path, edit: str, old: str, new: str, error: str
) -> None:
    """Loaded at start, checked whole: every département once, one CPias a region, and the
    urgent flag of a notifiable disease that of its article (D3113-8 urgent, D3113-9 not)."""
    if old == "69,Rhône,84,":
        line = next(t for t in DEPARTEMENTS_TEXT.splitlines() if t.startswith(old))
        old, new = line + "\n", ""
    with pytest.raises(RulesError, match=error):
        load_routing_data(reference_dir=_reference_copy(tmp_path, edit, old, new))


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


def _explain(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", "route", "--explain", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_explain_prints_the_decision_shape_of_the_design() -> None:
    body = json.dumps(make_declaration())
    proc = _explain("-", stdin=body)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) == {
        "region_code",
        "cpias",
        "priority",
        "rules_version",
        "recipients",
        "warnings",
        "obligations",
    }
    assert out["rules_version"] == "2026-11-v2"
    assert out["recipients"][0] == {
        "id": "ars-84",
        "kind": "ars",
        "topic": "ias.to.ars-84.v1",
        "legal_basis": ["R1413-79", "R6111-17"],
        "reason": out["recipients"][0]["reason"],
        "for_information": False,
    }


def test_explain_reads_the_rules_and_reference_data_the_router_is_given(tmp_path: Path) -> None:
    """`route --explain` decides with ROUTER_RULES_FILE and ROUTER_REFERENCE_DIR, as the
    router does, not with the files shipped in the package."""
    rules = json.loads((RULES_DIR / "rules.json").read_text(encoding="utf-8"))
    rules["version"] = "local-v3"
    (tmp_path / "rules.json").write_text(json.dumps(rules), encoding="utf-8")
    lines = (REFERENCE_DIR / "departements.csv").read_text(encoding="utf-8").splitlines()
    (tmp_path / "departements.csv").write_text(
        "\n".join(
            "69,Rhône,11,Île-de-France,cpias-idf,CPias Île-de-France" if t.startswith("69,") else t
            for t in lines
        ),
        encoding="utf-8",
    )
    (tmp_path / "notifiable_diseases.csv").write_text(
        (REFERENCE_DIR / "notifiable_diseases.csv").read_text(encoding="utf-8"), encoding="utf-8"
    )
    env = {"ROUTER_RULES_FILE": str(tmp_path / "rules.json"), "ROUTER_REFERENCE_DIR": str(tmp_path)}
    proc = _explain("-", stdin=json.dumps(make_declaration()), env=env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["rules_version"], out["region_code"], out["cpias"]) == (
        "local-v3",
        "11",
        "cpias-idf",
    )


def test_explain_shows_warnings_and_obligations(tmp_path: Path) -> None:
    body = load_sample("legionella_death_ehpad_brest")
    body["criteria"] = ["3"]
    body["infection"]["notifiable_disease"] = None
    path = tmp_path / "legionella.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    out = json.loads(_explain(str(path)).stdout)
    assert [w["rule"] for w in out["warnings"]] == ["notifiable_species_without_criterion_4"]
    assert [o["rule"] for o in out["obligations"]] == ["serious_adverse_event_ars"]


def test_explain_of_invalid_declaration_fails_with_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(make_declaration(criteria=["3"])), encoding="utf-8")
    proc = _explain(str(path))
    assert proc.returncode == 1
    assert "infection.deaths" in proc.stderr and "R1413-79" in proc.stderr


def _rules_with(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    rules = json.loads((RULES_DIR / "rules.json").read_text(encoding="utf-8"))
    change(rules)
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(rules, indent=2), encoding="utf-8")
    return path


def test_rules_naming_a_recipient_without_topic_are_refused(tmp_path: Path) -> None:
    def sra_again(rules: dict[str, Any]) -> None:
        rules["recipients"].append(
            {
                "kind": "sra",
                "recipient": "sra-{region}",
                "when": {"criteria": ["3"]},
                "legal_basis": ["R1413-68"],
                "reason": "Décès",
            }
        )

    path = _rules_with(tmp_path, sra_again)
    with pytest.raises(RulesError, match=r"recipient 'sra-\d\d' \(sra-\{region\}\) has no topic"):
        load_routing_data(path)


def test_rules_leaving_an_establishment_kind_without_legal_basis_are_refused(
    tmp_path: Path,
) -> None:
    def drop_ville(rules: dict[str, Any]) -> None:
        cpias = next(r for r in rules["recipients"] if r["kind"] == "cpias")
        cpias["extra_basis"][1]["when"]["establishment_kind"] = ["ESMS", "ICE"]

    with pytest.raises(RulesError, match="no legal basis for kind ville"):
        load_routing_data(_rules_with(tmp_path, drop_ville))


def test_already_declared_condition_needs_its_product(tmp_path: Path) -> None:
    def orphan(rules: dict[str, Any]) -> None:
        del rules["obligations"][-1]["when"]["product"]

    with pytest.raises(RulesError, match="product_already_declared needs a product"):
        load_routing_data(_rules_with(tmp_path, orphan))


def test_unknown_condition_names_file_and_line(tmp_path: Path) -> None:
    def typo(rules: dict[str, Any]) -> None:
        rules["obligations"][0]["when"]["critera"] = ["4"]

    path = _rules_with(tmp_path, typo)
    line = next(
        i for i, t in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if "critera" in t
    )
    with pytest.raises(RulesError, match=rf"^{path}:{line}: obligations\.0\.when\.critera"):
        load_routing_data(path)


def test_rules_version_is_v2() -> None:
    assert DATA.rules.version == "2026-11-v2"


@pytest.mark.parametrize(
    ("departement", "at", "accepted"),
    [
        ("974", "2026-11-22T21:30:00+00:00", True),  # 01:30 on the 23rd in La Réunion
        ("69", "2026-11-22T21:30:00+00:00", False),  # 22:30 on the 22nd in Lyon
        ("971", "2026-11-23T02:30:00+00:00", False),  # 22:30 on the 22nd in Guadeloupe
        ("69", "2026-11-23T02:30:00+00:00", True),
    ],
)
def test_explain_judges_dates_against_the_departements_day_like_intake(
    departement: str, at: str, accepted: bool
) -> None:
    body = declaration_in(departement, infection__detection_date="2026-11-23")
    proc = _explain("-", "--at", at, stdin=json.dumps(body))
    assert (proc.returncode == 0) is accepted, proc.stderr
    if not accepted:
        assert "infection.detection_date" in proc.stderr


def test_explain_refuses_an_instant_without_time_zone() -> None:
    proc = _explain("-", "--at", "2026-11-22T21:30", stdin=json.dumps(make_declaration()))
    assert proc.returncode == 2 and "time zone" in proc.stderr
