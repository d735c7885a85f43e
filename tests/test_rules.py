"""The declaration rules kept from version 1, with the path and article each reports (v2's
new rules: tests/test_rules_v2.py; anonymity: tests/test_anonymity.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from schemas.anonymity import contains_birth_date, contains_nir
from schemas.reference import reference
from schemas.validation import check_complement, check_declaration
from tests.factories import declaration_in, load_sample, make_declaration

TODAY = dt.date(2026, 11, 22)


def problems(body: object) -> dict[str, tuple[str, str | None]]:
    decl, found = check_declaration(body, today=TODAY, ref=reference())
    assert (decl is None) == bool(found)
    return {p.path: (p.rule, p.article) for p in found}


def rules(body: object) -> set[str]:
    return {rule for rule, _ in problems(body).values()}


@pytest.mark.parametrize(
    "name", ["cpe_cluster_lyon", "candida_auris_paris_device", "legionella_death_ehpad_brest"]
)
def test_samples_are_valid(name: str) -> None:
    assert problems(load_sample(name)) == {}


def test_unknown_fields_refused_at_every_level() -> None:
    body = make_declaration()
    body["extra"] = 1
    body["declarant"]["nir"] = "x"
    body["infection"]["pathogens"][0]["colour"] = "red"
    body["products"]["other"] = None
    found = problems(body)
    assert {k for k, v in found.items() if v[0] == "extra_forbidden"} == {
        "extra",
        "declarant.nir",
        "infection.pathogens[0].colour",
        "products.other",
    }


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("declarant.role", "médecin"),
        ("establishment.kind", "hopital"),
        ("criteria", ["5"]),
        ("infection.sites", ["lung"]),
        ("infection.pathogens.0.resistance", ["vre"]),
        ("infection.suspected_origin", "elsewhere"),
    ],
)
def test_enum_values_refused_with_allowed_list(path: str, value: object) -> None:
    decl, found = check_declaration(
        make_declaration(**{path.replace(".", "__"): value}), today=TODAY, ref=reference()
    )
    assert decl is None
    assert found[0].rule == "enum"
    assert "Valeurs possibles" in found[0].message


def test_missing_required_field_named() -> None:
    body = make_declaration()
    del body["infection"]["detection_date"]
    assert problems(body) == {"infection.detection_date": ("missing", None)}


def test_criterion_2_needs_two_cases() -> None:
    body = make_declaration(infection__cases_infected=1, infection__cases_colonised=0)
    assert problems(body)["criteria"] == ("criterion_2_needs_cluster", "R1413-79 2°")


def test_criterion_2_with_two_cases_split_infected_colonised_is_valid() -> None:
    assert (
        problems(make_declaration(infection__cases_infected=1, infection__cases_colonised=1)) == {}
    )


def test_criterion_3_needs_a_death() -> None:
    body = make_declaration(criteria=["1a", "3"])
    assert problems(body)["infection.deaths"] == ("criterion_3_needs_death", "R1413-79 3°")


def test_criterion_4_needs_a_notifiable_disease() -> None:
    body = make_declaration(criteria=["4"])
    assert problems(body)["infection.notifiable_disease"] == (
        "criterion_4_needs_disease",
        "R1413-79 4°",
    )


def test_notifiable_disease_needs_criterion_4() -> None:
    body = make_declaration(infection__notifiable_disease="legionellosis")
    assert problems(body)["criteria"] == ("disease_needs_criterion_4", "R1413-79 4°")


def test_notifiable_disease_must_be_in_the_reference_list() -> None:
    body = make_declaration(criteria=["1a", "2", "4"], infection__notifiable_disease="cpe")
    assert problems(body)["infection.notifiable_disease"] == ("disease_unknown", "L3113-1")


def test_every_reference_disease_is_accepted_with_criterion_4() -> None:
    for code in reference().diseases:
        body = make_declaration(criteria=["1a", "2", "4"], infection__notifiable_disease=code)
        assert problems(body) == {}, code


def test_criterion_1a_needs_a_pathogen() -> None:
    body = make_declaration(infection__pathogens=[])
    assert problems(body)["infection.pathogens"] == ("criterion_1a_needs_pathogen", "R1413-79 1°a")


def test_1b_without_pathogen_is_valid() -> None:
    assert problems(make_declaration(criteria=["1b", "2"], infection__pathogens=[])) == {}


@pytest.mark.parametrize(
    ("finess", "rule"),
    [
        ("750781810", "finess_departement"),
        ("69078181", "finess_format"),
        ("6907818100", "finess_format"),
        ("69078181é", "finess_format"),
    ],
)
def test_finess_must_match_departement_and_length(finess: str, rule: str) -> None:
    found = problems(make_declaration(establishment__finess=finess))
    assert found["establishment.finess"][0] == rule


@pytest.mark.parametrize("dep", ["2A", "2B", "971", "976", "01", "95"])
def test_finess_of_corsica_and_overseas(dep: str) -> None:
    assert problems(declaration_in(dep)) == {}


def test_unknown_departement() -> None:
    found = problems(
        make_declaration(establishment__departement="20", establishment__finess="200000000")
    )
    assert found["establishment.departement"][0] == "departement_unknown"


@pytest.mark.parametrize("rpps", ["1010123456", "101012345678", "1010123456a"])
def test_rpps_has_eleven_digits(rpps: str) -> None:
    assert problems(make_declaration(declarant__rpps=rpps))["declarant.rpps"][0] == "rpps_format"


def test_an_empty_rpps_is_one_not_given() -> None:
    """Not a malformed RPPS: a missing one, owed by a professional (R1413-79)."""
    assert problems(make_declaration(declarant__rpps=""))["declarant.rpps"][0] == "rpps_required"


def test_onset_after_detection_refused() -> None:
    found = problems(make_declaration(infection__onset_date="2026-11-13"))
    assert found["infection.onset_date"][0] == "onset_after_detection"


def test_detection_in_the_future_refused() -> None:
    found = problems(make_declaration(infection__detection_date="2026-11-23"))
    assert found["infection.detection_date"][0] == "date_in_future"


def test_detection_today_is_accepted() -> None:
    assert problems(make_declaration(infection__detection_date="2026-11-22")) == {}


def test_negative_counts_refused() -> None:
    found = problems(make_declaration(infection__cases_colonised=-1))
    assert found["infection.cases_colonised"][0] == "negative_count"


def test_at_least_one_case() -> None:
    found = problems(
        make_declaration(criteria=["1a"], infection__cases_infected=0, infection__cases_colonised=0)
    )
    assert found["infection.cases_infected"][0] == "no_case"


@pytest.mark.parametrize(
    "path",
    [
        "infection.nature",
        "infection.circumstances",
        "investigations",
        "initial_measures",
        "declarant.name",
        "establishment.name",
    ],
)
def test_required_texts_not_blank(path: str) -> None:
    assert problems(make_declaration(**{path.replace(".", "__"): "   "}))[path][0] == "blank"


def test_all_problems_reported_at_once() -> None:
    body = make_declaration(
        criteria=["1a", "3"],
        declarant__rpps="123",
        infection__onset_date="2026-11-20",
        investigations=" ",
    )
    assert {"criterion_3_needs_death", "rpps_format", "onset_after_detection", "blank"} <= rules(
        body
    )


def _nir(body13: str) -> str:
    number = int(body13.replace("2A", "19").replace("2B", "18"))
    return f"{body13}{97 - number % 97:02d}"


@pytest.mark.parametrize(
    "text",
    [
        "Patient {nir} hospitalisé",
        "NIR : {spaced}",
        "sécu {dotted}",
    ],
)
def test_nir_refused_with_article(text: str) -> None:
    nir = _nir("1850775123456")
    spaced = f"{nir[0]} {nir[1:3]} {nir[3:5]} {nir[5:7]} {nir[7:10]} {nir[10:13]} {nir[13:]}"
    body = make_declaration(
        infection__circumstances=text.format(
            nir=nir, spaced=spaced, dotted=spaced.replace(" ", ".")
        )
    )
    found = check_declaration(body, today=TODAY, ref=reference())[1]
    assert [(p.path, p.rule, p.article) for p in found] == [
        ("infection.circumstances", "anonymity_nir", "R1413-80")
    ]
    assert "R1413-80" in found[0].message and "NIR" in found[0].message


@pytest.mark.parametrize("first", ["3", "4", "7", "8"])
def test_nir_of_people_born_abroad_or_temporary_detected(first: str) -> None:
    assert contains_nir(_nir(f"{first}850799123456"))


def test_nir_of_corsica_detected() -> None:
    assert contains_nir(_nir("285072A123456"))
    assert contains_nir(_nir("185072B123456"))


def test_number_with_wrong_key_is_not_a_nir() -> None:
    nir = _nir("1850775123456")
    wrong = nir[:-2] + f"{(int(nir[-2:]) + 1) % 97:02d}"
    assert not contains_nir(wrong)
    assert problems(make_declaration(investigations=f"Lot {wrong}")) == {}


def test_phone_and_finess_are_not_nir() -> None:
    assert not contains_nir("+33 4 72 00 00 00")
    assert not contains_nir("FINESS 690781810")


@pytest.mark.parametrize(
    "text",
    [
        "Patiente née le 12/03/1950",
        "né le 3 mars 1950",
        "date de naissance : 1950-03-12",
        "DDN 12.03.50",
        "born on 12/03/1950",
        "Date of birth: 1950-03-12",
    ],
)
def test_birth_date_refused(text: str) -> None:
    assert contains_birth_date(text)
    found = problems(make_declaration(infection__nature=text))
    assert found["infection.nature"] == ("anonymity_birth_date", "R1413-80")


def test_anonymity_checked_in_nested_free_text() -> None:
    body = make_declaration(
        products__drug={"description": "née le 01/02/1960", "already_declared": False}
    )
    assert problems(body)["products.drug.description"][0] == "anonymity_birth_date"


def test_complement_rules() -> None:
    ok, found = check_complement(
        {
            "cause_analysis": "Défaut de bionettoyage",
            "action_plan": [{"action": "Audit", "due_date": "2027-01-15"}],
        }
    )
    assert ok is not None and found == []
    bad, found = check_complement({"cause_analysis": " ", "action_plan": [], "x": 1})
    assert bad is None and {p.path for p in found} == {"action_plan", "x"}
    bad, found = check_complement(
        {"cause_analysis": "née le 12/03/1950", "action_plan": [{"action": " "}]}
    )
    assert {(p.path, p.rule) for p in found} == {
        ("cause_analysis", "anonymity_birth_date"),
        ("action_plan[0].action", "blank"),
    }


def test_messages_are_french_with_english_beside() -> None:
    _, found = check_declaration(make_declaration(criteria=["3"]), today=TODAY, ref=reference())
    assert all(p.message and p.message_en and p.message != p.message_en for p in found)
