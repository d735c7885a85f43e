"""The portal's pure rules: the form and its body, problems back to fields, lock-out, claims."""

from __future__ import annotations

import datetime as dt

import pytest

from iaspipe.principal import Role
from schemas.problems import Problem
from schemas.reference import reference
from schemas.reference import time_zone_of as reference_zone
from schemas.validation import check_declaration
from services.portal.domain import form, labels
from services.portal.domain.accounts import Attempts, Person, scope_problems
from services.portal.domain.claims import ClaimMapping, NoRoleHere, claim_values, person_from_claims
from tests.factories import finess_in, load_sample, make_declaration

T0 = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)


def without_nulls(value: object) -> object:
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


@pytest.mark.parametrize(
    "sample", ["cpe_cluster_lyon", "legionella_death_ehpad_brest", "candida_auris_paris_device"]
)
def test_a_declaration_read_back_into_the_form_gives_the_same_body(sample: str) -> None:
    body = load_sample(sample)
    assert form.build_body(form.from_body(body)) == without_nulls(body)


def test_empty_fields_are_left_out_so_intake_names_what_is_missing() -> None:
    body = form.build_body({"declarant.name": "  ", "infection.deaths": "", "criteria": []})
    assert body["declarant"] == {} and "deaths" not in body["infection"]
    assert body["criteria"] == [] and body["infection"]["pathogens"] == []
    assert body["products"] == {}


def test_numbers_are_sent_as_typed_when_they_are_not_numbers() -> None:
    body = form.build_body({"infection.cases_infected": "2", "infection.deaths": "deux"})
    assert body["infection"]["cases_infected"] == 2
    assert body["infection"]["deaths"] == "deux"


def test_the_notifiable_disease_is_sent_only_with_criterion_4() -> None:
    data: form.FormData = {"criteria": ["1a"], "infection.notifiable_disease": "legionellosis"}
    assert "notifiable_disease" not in form.build_body(data)["infection"]
    data["criteria"] = ["1a", "4"]
    assert form.build_body(data)["infection"]["notifiable_disease"] == "legionellosis"


def test_a_product_is_sent_only_when_ticked() -> None:
    data: form.FormData = {
        "products.drug": "",
        "products.drug.description": "Héparine lot 12",
        "products.ivd": "on",
        "products.ivd.description": "Automate",
        "products.ivd.already_declared": "on",
    }
    products = form.build_body(data)["products"]
    assert products == {"ivd": {"description": "Automate", "already_declared": True}}


def test_v2_fields_are_sent_only_when_filled() -> None:
    assert "function" not in form.build_body({"declarant.function": ""})["declarant"]
    body = form.build_body({"declarant.function": "Directrice", "establishment.commune": "29019"})
    assert body["declarant"]["function"] == "Directrice"
    assert body["establishment"]["commune"] == "29019"


@pytest.mark.parametrize(
    ("path", "field", "step"),
    [
        ("infection.circumstances", "infection.circumstances", "infection"),
        ("infection.sites[1]", "infection.sites", "infection"),
        ("infection.pathogens", "infection.pathogens", "infection"),
        ("infection.pathogens[0].species", "infection.pathogens[0].species", "infection"),
        ("infection.pathogens[2].resistance[0]", "infection.pathogens[2].resistance", "infection"),
        ("products.drug.description", "products.drug.description", "produits"),
        ("products.drug", "products.drug", "produits"),
        ("criteria", "criteria", "criteres"),
        ("infection.notifiable_disease", "infection.notifiable_disease", "criteres"),
        ("establishment.finess", "establishment.finess", "etablissement"),
        ("patients_informed", "patients_informed", "mesures"),
        ("body", None, None),
        ("Idempotency-Key", None, None),
    ],
)
def test_each_problem_finds_its_field_and_step(path: str, field: str | None, step: str) -> None:
    placed = form.place([Problem(path=path, message="m", message_en="m", rule="r")])[0]
    assert (placed.field, placed.step) == (field, step)


def test_every_field_of_the_contract_is_on_a_step() -> None:
    assert set(form.FIELDS) == set(form.STEP_OF)


def test_ticking_criterion_4_without_the_disease_shown_keeps_the_step() -> None:
    criteria = form.step("criteres")
    assert criteria is not None
    data, revealed = form.read_step(criteria, {"criteria": ["1a", "4"]}, {})
    assert revealed == "criteria=4" and data["criteria"] == ["1a", "4"]
    shown = {"criteria": ["4"], "_shown": ["criteria=4"], "infection.notifiable_disease": ["x"]}
    data, revealed = form.read_step(criteria, shown, {})
    assert revealed is None and data["infection.notifiable_disease"] == "x"


def test_a_hidden_part_keeps_what_the_draft_holds() -> None:
    products = form.step("produits")
    assert products is not None
    saved: form.FormData = {"products.drug": "on", "products.drug.description": "Héparine"}
    data, _ = form.read_step(products, {}, saved)
    assert data["products.drug"] == "" and data["products.drug.description"] == "Héparine"


def test_removing_a_pathogen_row_moves_the_next_ones_up() -> None:
    data: form.FormData = {
        form.ROWS: "3",
        "infection.pathogens[0].species": "A",
        "infection.pathogens[1].species": "B",
        "infection.pathogens[2].species": "C",
        "infection.pathogens[2].resistance": ["cpe"],
    }
    out = form.remove_row(data, 1)
    assert out[form.ROWS] == "2"
    assert out["infection.pathogens[1].species"] == "C"
    assert out["infection.pathogens[1].resistance"] == ["cpe"]
    assert "infection.pathogens[2].species" not in out
    assert form.add_row(out)[form.ROWS] == "3"


def test_a_new_draft_starts_with_the_accounts_establishment() -> None:
    data = form.initial_data(finess="690781810", name="Dr Martin", email="m@x.fr", ref=reference())
    assert data["establishment.finess"] == "690781810"
    assert data["establishment.departement"] == "69"
    assert data["declarant.email"] == "m@x.fr"


def test_reminders_follow_the_criteria_and_products() -> None:
    data = form.from_body(make_declaration("legionella_death_ehpad_brest"))
    articles = [article for article, _ in form.reminders(data)]
    assert articles == ["L3113-1", "R1413-67, R1413-68"]
    assert form.reminders(form.from_body(load_sample())) == []


def test_recipients_and_statuses_read_in_french() -> None:
    ref = reference()
    assert labels.recipient_name("ars-84", ref) == "ARS Auvergne-Rhône-Alpes"
    assert labels.recipient_name("spf", ref) == "Santé publique France"
    assert labels.recipient_name("cpias-ara", ref).startswith("CPias")
    # A step of the transmission, like "Envoyée" and "Transmise": not DSFR's "new" badge,
    # which flags what asks for attention (the ARS's "Pas encore prise en compte").
    assert labels.status_label("received_by_cpias") == ("Reçue par le CPias", "info")
    assert (
        labels.local_time(dt.datetime(2026, 7, 1, 10, 0, tzinfo=dt.UTC))
        == "01/07/2026 à\u00a012\u00a0h\u00a000"
    )
    assert labels.criteria_codes(["1a", "2"]) == "1° a, 2°"
    assert labels.criteria_codes(["1a", "2", "1b"]) == "1° a, 1° b, 2°"
    assert labels.criteria_codes(["4", "x", "3"]) == "3°, 4°, x"


# -- lock-out ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("person", "clock"),
    [
        (Person("a", Role.declarant, finess="690781810"), "Europe/Paris"),
        (Person("b", Role.declarant, finess=finess_in("974")), "Indian/Reunion"),
        (Person("c", Role.declarant, finess=finess_in("976")), "Indian/Mayotte"),
        (Person("d", Role.declarant, finess=finess_in("2A")), "Europe/Paris"),
        (Person("e", Role.cpias_investigator, cpias="cpias-oi"), "Indian/Reunion"),
        (Person("f", Role.cpias_investigator, cpias="cpias-glp"), "America/Guadeloupe"),
        (Person("g", Role.cpias_investigator, cpias="cpias-ara"), "Europe/Paris"),
        (Person("h", Role.ars_viewer, region="03"), "America/Cayenne"),
        (Person("i", Role.ars_viewer, region="06"), "Indian/Mayotte"),
        (Person("j", Role.ars_viewer, region="84"), "Europe/Paris"),
        (Person("k", Role.admin), "Europe/Paris"),
        (Person("l", Role.cpias_investigator, cpias="cpias-unknown"), "Europe/Paris"),
    ],
)
def test_each_person_reads_times_on_the_clock_of_their_place(person: Person, clock: str) -> None:
    assert person.clock(reference()).key == clock


@pytest.mark.parametrize(
    ("person", "where", "clock"),
    [
        # Community practice: no establishment, the clock of the declaration's place.
        (Person("a", Role.declarant), "972", "America/Martinique"),
        (Person("b", Role.declarant), "974", "Indian/Reunion"),
        (Person("c", Role.declarant), "69", "Europe/Paris"),
        (Person("d", Role.declarant), None, "Europe/Paris"),
        # An establishment's clock, or a CPias's, or a region's, whatever the page shows.
        (Person("e", Role.declarant, finess=finess_in("974")), "972", "Indian/Reunion"),
        (Person("f", Role.cpias_investigator, cpias="cpias-ara"), "974", "Europe/Paris"),
        (Person("g", Role.ars_viewer, region="04"), "69", "Indian/Reunion"),
        (Person("h", Role.admin), "973", "Europe/Paris"),
    ],
)
def test_a_declarant_without_finess_reads_on_the_clock_of_what_the_page_shows(
    person: Person, where: str | None, clock: str
) -> None:
    assert person.clock(reference(), where).key == clock


def test_a_moment_is_written_on_the_clock_given() -> None:
    at = dt.datetime(2026, 12, 1, 8, 5, 9, tzinfo=dt.UTC)
    reunion = reference_zone("974")
    assert labels.local_time(at) == "01/12/2026 à\u00a09\u00a0h\u00a005"
    assert labels.local_time(at, reunion) == "01/12/2026 à\u00a012\u00a0h\u00a005"
    assert (
        labels.local_second(at, reunion)
        == "01/12/2026 à\u00a012\u00a0h\u00a005\u00a0min\u00a009\u00a0s"
    )
    assert labels.local_time(at, reference_zone("971")) == "01/12/2026 à\u00a04\u00a0h\u00a005"


@pytest.mark.parametrize(
    ("name", "of"),
    [
        ("Dr Paul Enquêteur", "du Dr Paul Enquêteur"),
        ("Pr Lise Durand", "du Pr Lise Durand"),
        ("Anne Martin", "d’Anne Martin"),
        ("Émile Roux", "d’Émile Roux"),
        ("anne.martin@chu.example", "anne.martin@chu.example"),
        ("Claire Martin", "de Claire Martin"),
        ("Mme Yvette Petit", "de Mme Yvette Petit"),
        ("Hélène Blanc", "d’Hélène Blanc"),
        ("Drago Petrović", "de Drago Petrović"),
    ],
)
def test_de_before_a_name_takes_the_article_of_a_title_elides_or_gives_way_to_an_address(
    name: str, of: str
) -> None:
    assert labels.of_person(name) == of


def test_the_fifth_failure_in_a_row_locks_the_username() -> None:
    lock = dt.timedelta(minutes=15)
    attempts = Attempts("x@y.fr")
    for i in range(4):
        attempts = attempts.failed(T0 + dt.timedelta(seconds=i), max_failures=5, lock_for=lock)
        assert not attempts.is_locked(T0 + dt.timedelta(seconds=i))
    attempts = attempts.failed(T0 + dt.timedelta(seconds=5), max_failures=5, lock_for=lock)
    assert attempts.is_locked(T0 + dt.timedelta(minutes=14))
    assert not attempts.is_locked(T0 + dt.timedelta(minutes=16))


def test_old_failures_are_forgotten() -> None:
    lock = dt.timedelta(minutes=15)
    attempts = Attempts("x@y.fr")
    for _ in range(4):
        attempts = attempts.failed(T0, max_failures=5, lock_for=lock)
    attempts = attempts.failed(T0 + dt.timedelta(hours=1), max_failures=5, lock_for=lock)
    assert attempts.failures == 1 and not attempts.is_locked(T0 + dt.timedelta(hours=1))


def test_each_role_takes_its_scope_and_no_other() -> None:
    assert scope_problems(Role.declarant, "690781810", None, None) == []
    # A declarant without FINESS: a professional in community practice.
    assert scope_problems(Role.declarant, None, None, None) == []
    assert scope_problems(Role.declarant, None, "cpias-ara", None) == [
        "the role declarant takes no --cpias"
    ]
    assert scope_problems(Role.cpias_investigator, None, None, None) == [
        "the role cpias_investigator needs --cpias"
    ]
    assert scope_problems(Role.admin, None, None, "84") == ["the role admin takes no --region"]


# -- claims --------------------------------------------------------------------------------

PSC_LIKE = {
    "sub": "810101234567",
    "given_name": "Claire",
    "SubjectNameID": "810101234567",
    "SubjectRefPro": {
        "exercices": [
            {"activities": [{"ancienIdentifiantDeLaStructure": "690781810"}]},
            {"activities": [{"ancienIdentifiantDeLaStructure": "010008407"}]},
        ]
    },
}
PSC_MAPPING = ClaimMapping(
    subject="SubjectNameID",
    name="given_name",
    default_role=Role.declarant,
    finess="SubjectRefPro.exercices[].activities[].ancienIdentifiantDeLaStructure",
)


def test_claim_paths_reach_into_lists() -> None:
    path = "SubjectRefPro.exercices[].activities[].ancienIdentifiantDeLaStructure"
    assert claim_values(PSC_LIKE, path) == ["690781810", "010008407"]
    assert claim_values({"roles": ["a", "b"]}, "roles") == ["a", "b"]
    assert claim_values({}, "a.b[].c") == []


def test_a_pro_sante_connect_professional_declares_for_the_first_structure() -> None:
    person = person_from_claims(PSC_LIKE, PSC_MAPPING)
    assert (person.subject, person.role, person.finess) == (
        "810101234567",
        Role.declarant,
        "690781810",
    )
    assert person.display_name == "Claire"


def test_role_values_map_the_providers_groups() -> None:
    mapping = ClaimMapping(role="groups", role_values={"cpias-team": Role.cpias_investigator})
    claims = {"sub": "u1", "groups": ["staff", "cpias-team"], "cpias": "cpias-ara"}
    person = person_from_claims(claims, mapping)
    assert (person.role, person.cpias, person.finess) == (
        Role.cpias_investigator,
        "cpias-ara",
        None,
    )


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "u1"},  # no role, no default
        {"sub": "u1", "iaspipe_role": "cpias_investigator"},  # no CPias
        {"sub": "u1", "iaspipe_role": "superuser"},  # not a role
        {"iaspipe_role": "admin"},  # no subject
    ],
)
def test_no_role_or_no_scope_means_no_access(claims: dict) -> None:
    with pytest.raises(NoRoleHere):
        person_from_claims(claims, ClaimMapping())


def test_a_declarant_without_finess_claim_declares_in_community_practice() -> None:
    person = person_from_claims({"sub": "u1", "iaspipe_role": "declarant"}, ClaimMapping())
    assert (person.role, person.finess) == (Role.declarant, None)


def establishment_step_problems(**establishment: str) -> list[tuple[str, str]]:
    body = make_declaration()
    body["establishment"] = {"name": "Cabinet", **establishment}
    problems = form.typed_problems(form.STEPS[0], form.from_body(body), reference(), T0)
    return [(p.path, p.rule) for p in problems]


@pytest.mark.parametrize(
    ("establishment", "expected"),
    [
        ({"kind": "ES", "departement": "69", "finess": "690781810"}, []),
        (
            {"kind": "ES", "departement": "38", "finess": "690781810"},
            [("establishment.finess", "finess_departement")],
        ),
        ({"kind": "ES", "departement": "2a", "finess": "2A0000103"}, []),
        ({"kind": "ES", "departement": "974", "finess": "970400012"}, []),
        ({"kind": "ES", "departement": "976", "finess": "980000012"}, []),
        (
            {"kind": "ES", "departement": "971", "finess": "970400012"},
            [("establishment.finess", "finess_departement")],
        ),
        ({"kind": "ES", "departement": "69"}, [("establishment.finess", "finess_required")]),
        ({"kind": "ville", "departement": "69", "commune": "69383"}, []),
        (
            {"kind": "ville", "departement": "69", "commune": "693"},
            [("establishment.commune", "commune_format")],
        ),
        (
            {"kind": "ES", "departement": "69", "finess": "69078181"},
            [("establishment.finess", "finess_format")],
        ),
        (
            {"kind": "ES", "departement": "99", "finess": "690781810"},
            [("establishment.departement", "departement_unknown")],
        ),
        # What the model itself refuses (no kind) is left to intake's answer at the review.
        ({"departement": "38", "finess": "690781810"}, []),
    ],
)
def test_the_establishment_step_says_what_the_api_would_refuse(
    establishment: dict[str, str], expected: list[tuple[str, str]]
) -> None:
    assert establishment_step_problems(**establishment) == expected


def test_a_finess_of_another_departement_marks_the_departement_too() -> None:
    body = make_declaration(establishment__departement="38")
    problems = form.typed_problems(form.STEPS[0], form.from_body(body), reference(), T0)
    placed = {p.field: p for p in form.place(problems)}
    assert set(placed) == {"establishment.finess", "establishment.departement"}
    assert {p.step for p in placed.values()} == {"etablissement"}
    assert "38 — Isère" in placed["establishment.finess"].problem.message
    assert "69 — Rhône" in placed["establishment.finess"].problem.message
    assert "numéro FINESS saisi" in placed["establishment.departement"].problem.message


@pytest.mark.parametrize(
    ("message", "article", "said"),
    [
        ("Texte d'exemple.", None, "Texte d’exemple."),
        ("La déclaration reste due.", "L3113-1", "La déclaration reste due (article L3113-1)."),
        ("Refusé (article R1413-80 du CSP).", "R1413-80", "Refusé (article R1413-80 du CSP)."),
        (
            "Une déclaration EIGS peut être due (R1413-68).",
            "R1413-67, R1413-68",
            "Une déclaration EIGS peut être due (R1413-68) (article R1413-67).",
        ),
        ("Due", "L5212-2, L5222-3", "Due (articles L5212-2, L5222-3)"),
    ],
)
def test_a_problem_is_said_with_the_articles_it_does_not_cite(
    message: str, article: str | None, said: str
) -> None:
    assert labels.said(message, article) == said


def date_step_problems(departement: str = "69", **dates: str | None) -> list[tuple[str, str]]:
    body = make_declaration(establishment__departement=departement)
    for name, value in dates.items():
        if value is None:
            body["infection"].pop(name, None)
        else:
            body["infection"][name] = value
    problems = form.typed_problems(form.STEPS[2], form.from_body(body), reference(), T0)
    return [(p.path, p.rule) for p in problems]


@pytest.mark.parametrize(
    ("departement", "dates", "expected"),
    [
        ("69", {"onset_date": "2026-11-10", "detection_date": "2026-11-12"}, []),
        (
            "69",
            {"onset_date": "2026-11-14", "detection_date": "2026-11-12"},
            [("infection.onset_date", "onset_after_detection")],
        ),
        (
            "69",
            {"onset_date": "2026-11-10", "last_case_date": "2026-11-09"},
            [("infection.last_case_date", "last_case_before_onset")],
        ),
        ("69", {"onset_date": None, "last_case_date": "2026-11-01"}, []),
        # T0 is 25/11/2026 at 09:00 UTC: the 25th in Lyon and in Guadeloupe (05:00 there).
        ("69", {"detection_date": "2026-11-26"}, [("infection.detection_date", "date_in_future")]),
        ("69", {"onset_date": "2026-11-25", "detection_date": "2026-11-25"}, []),
        ("971", {"onset_date": "2026-11-25", "detection_date": "2026-11-25"}, []),
        # A detection date missing or malformed is said by intake at the review.
        ("69", {"onset_date": "2026-11-14", "detection_date": None}, []),
        ("69", {"onset_date": "14/11/2026", "detection_date": "2026-11-12"}, []),
    ],
)
def test_the_infection_step_says_what_the_api_would_refuse_of_its_dates(
    departement: str, dates: dict[str, str | None], expected: list[tuple[str, str]]
) -> None:
    assert date_step_problems(departement, **dates) == expected


def test_a_date_of_tomorrow_in_reunion_is_today_in_guadeloupe() -> None:
    # 25/11/2026 at 21:30 UTC: already the 26th in La Réunion (UTC+4), still the 25th in
    # Guadeloupe (UTC-4).
    late = dt.datetime(2026, 11, 25, 21, 30, tzinfo=dt.UTC)
    for departement, expected in (("974", []), ("971", ["date_in_future"])):
        body = make_declaration(establishment__departement=departement)
        body["infection"].update(onset_date="2026-11-26", detection_date="2026-11-26")
        problems = form.typed_problems(form.STEPS[2], form.from_body(body), reference(), late)
        assert sorted({p.rule for p in problems}) == expected, departement


def test_a_sentence_after_a_colon() -> None:
    assert labels.after_colon("La date de début ne peut pas…") == "la date de début ne peut pas…"
    assert labels.after_colon("Ce texte contient un NIR.") == "ce texte contient un NIR."
    assert labels.after_colon("NIR refusé.") == "NIR refusé."
    assert labels.after_colon("L’adresse est refusée.") == "l’adresse est refusée."
    assert labels.after_colon("FINESS inconnu.") == "FINESS inconnu."
    assert labels.after_colon("« Colonisation seule » exclut…") == "« Colonisation seule » exclut…"
    assert labels.after_colon("") == "" and labels.after_colon("A") == "A"


def test_the_products_ticked_with_their_vigilance() -> None:
    body = make_declaration(
        products={
            "drug": {"description": "Antiseptique", "already_declared": False},
            "medical_device": {"description": "Endoscope", "already_declared": True},
        }
    )
    assert form.products_named(form.from_body(body)) == [
        "dispositif médical : matériovigilance",
        "médicament : pharmacovigilance",
    ]
    assert form.products_named(form.from_body(make_declaration())) == []


def test_how_long_ago_a_case_opened() -> None:
    from services.portal.domain.casework import age, ago

    assert age(T0, T0 + dt.timedelta(seconds=30)) == "à l’instant"
    assert age(T0, T0 + dt.timedelta(minutes=12)) == "12 min"
    assert age(T0, T0 + dt.timedelta(hours=5)) == "5 h"
    assert age(T0, T0 + dt.timedelta(days=3)) == "3 j"
    assert ago(T0, T0 + dt.timedelta(seconds=30)) == "à l’instant"
    assert ago(T0, T0 + dt.timedelta(minutes=12)) == "il y a 12 min"


def test_lists_and_suggestion_bases_read_as_french_sentences() -> None:
    from services.portal.domain.casework import and_list, cluster_basis

    assert and_list([]) == ""
    assert and_list(["38"]) == "38"
    assert and_list(["38", "69"]) == "38 et 69"
    assert and_list(["01", "38", "69"]) == "01, 38 et 69"
    basis = {
        "organism": "Klebsiella pneumoniae",
        "mechanism_family": "OXA-48",
        "departements": ["69", "38"],
        "days_apart": 3,
    }
    # In numeric order, as a confirmed cluster lists them.
    assert cluster_basis(basis) == (
        "Klebsiella pneumoniae OXA-48, départements 38 et 69, épisodes survenus à 3 jours d’écart"
    )


def test_problems_are_listed_in_the_order_of_the_fields_on_the_pages() -> None:
    """Intake answers its problems in the order of its rules; a person reads them in the
    order of the fields: general ones first, then step by step, rows in their order."""
    paths = [
        "infection.pathogens[1].species",
        "infection.detection_date",
        "criteria",
        "infection.pathogens[0].resistance",
        "",
        "establishment.finess",
        "infection.pathogens[0].species",
        "infection.onset_date",
    ]
    problems = [Problem(path=p, message="m", message_en="m", rule="r") for p in paths]
    # A FINESS of another département also marks the département: said beside both.
    problems[5] = problems[5].model_copy(update={"rule": "finess_departement"})
    assert [p.problem.path for p in form.place(problems)] == [
        "",
        "establishment.finess",
        "establishment.departement",  # the FINESS's companion, with it
        "criteria",
        "infection.onset_date",
        "infection.detection_date",
        "infection.pathogens[0].species",
        "infection.pathogens[0].resistance",
        "infection.pathogens[1].species",
    ]
    assert [p.companion for p in form.place(problems)][:3] == [False, False, True]


def test_a_vigilance_is_named_with_its_article_elided_before_a_vowel() -> None:
    from services.portal.domain.labels import to_the

    assert to_the("pharmacovigilance") == "à la pharmacovigilance"
    assert to_the("hémovigilance") == "à l’hémovigilance"
    assert form.field("products.blood_product.already_declared").label == (
        "Déjà déclaré à l’hémovigilance"
    )
    assert form.reminders({"products.blood_product": "on"}) == [
        (
            "L1221-13",
            "Produit sanguin labile : cette transmission ne remplace pas sa déclaration à "
            "l’hémovigilance, qui reste due si elle n’est pas faite.",
        )
    ]


def test_the_rules_between_criteria_and_infection_wait_for_both_steps() -> None:
    ref = reference()
    body = make_declaration(criteria=["2", "3"], infection__cases_infected=1)
    body["infection"].update(cases_colonised=0, deaths=2)
    problems = form.episode_problems(form.from_body(body), ref)
    assert problems is not None
    assert sorted((p.path, p.rule) for p in problems) == [
        ("criteria", "criterion_2_needs_cluster"),
        ("infection.deaths", "criterion_3_deaths_exceed_infected"),
        ("infection.deaths", "deaths_exceed_cases"),
    ]
    assert {p.rule for p in problems} <= form.EPISODE_RULES
    # The same words as intake's.
    _, refused = check_declaration(body, ref=ref, now=T0)
    assert {(p.path, p.rule, p.message) for p in problems} <= {
        (p.path, p.rule, p.message) for p in refused
    }
    incomplete = form.from_body(body)
    incomplete["infection.nature"] = ""
    assert form.episode_problems(incomplete, ref) is None
    assert form.episode_problems(form.from_body(dict(body, criteria=[])), ref) is None


def test_a_list_answer_is_read_back_a_choice_a_line() -> None:
    # Criterion 1° a's label has commas of its own: in a comma list, where would it end?
    shown = form.display("criteria", ["1a", "2"])
    lines = shown.split("\n")
    assert len(lines) == 2 and lines[0].startswith("1° a") and lines[1].startswith("2°")
    assert "," in lines[0]  # the criterion's own label is kept whole
    assert form.display("criteria", ["3"]).startswith("3°")


def test_a_strain_without_resistance_is_read_as_such_not_as_unanswered() -> None:
    # Ticking no resistance is an answer; criteria left empty are not (they are required).
    for nothing in ([], None):
        shown = form.display("infection.pathogens[0].resistance", nothing)
        assert shown == "Aucune résistance cochée"
    assert form.display("criteria", []) == ""


def test_a_case_closed_says_its_outcome_in_brackets_in_its_history() -> None:
    from services.portal.domain.casework import history_text

    closed = history_text("status", {"status": "closed", "outcome": "controlled"}, {})
    assert closed == "Statut : Clôturé (issue : épisode maîtrisé)"
    assert history_text("status", {"status": "acknowledged"}, {}) == "Statut : Pris en compte"
