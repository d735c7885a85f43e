"""Declaration rules version 2: real declarants accepted (overseas, Mayotte and Corsican FINESS,
community practice without FINESS, a legal representative without RPPS), optional dates,
"today" in the département's time zone, the new coherence refusals, and the warnings that
never block."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from schemas.declaration import Declaration
from schemas.problems import Problem
from schemas.reference import local_today, reference
from schemas.validation import check_declaration, declaration_warnings, names_quoted
from tests.factories import finess_in, load_sample, make_declaration

TODAY = dt.date(2026, 11, 22)


def problems(body: dict[str, Any], **kw: Any) -> dict[str, tuple[str, str | None]]:
    kw.setdefault("today", TODAY)
    decl, found = check_declaration(body, ref=reference(), **kw)
    assert (decl is None) == bool(found)
    return {p.path: (p.rule, p.article) for p in found}


def warnings(body: dict[str, Any]) -> list[Problem]:
    decl, found = check_declaration(body, today=TODAY, ref=reference())
    assert decl is not None, found  # a warning never refuses
    return declaration_warnings(decl, ref=reference())


def warned(body: dict[str, Any]) -> set[tuple[str, str]]:
    return {(w.path, w.rule) for w in warnings(body)}


def located(finess: str | None, departement: str, **overrides: Any) -> dict[str, Any]:
    return make_declaration(
        establishment__finess=finess, establishment__departement=departement, **overrides
    )


# -- FINESS by prefix ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("finess", "departement"),
    [
        ("970100228", "971"),  # CHU de Guadeloupe
        ("970211207", "972"),  # CHU de Martinique
        ("970302022", "973"),  # Guyane
        ("970408589", "974"),  # La Réunion
        ("980500003", "976"),  # Mayotte
        ("2A0000014", "2A"),  # Corse-du-Sud
        ("2B0000020", "2B"),  # Haute-Corse
        ("690781810", "69"),
        ("010000008", "01"),
        ("950000000", "95"),
    ],
)
def test_real_finess_of_every_overseas_departement_and_corsica_is_accepted(
    finess: str, departement: str
) -> None:
    body = located(finess, departement)
    assert problems(body) == {}
    assert warnings(body) == []


@pytest.mark.parametrize(
    ("finess", "departement"),
    [
        ("971000004", "971"),  # 971 is not a FINESS prefix: Guadeloupe's is 9701
        ("970211207", "971"),  # Martinique's FINESS in Guadeloupe
        ("970100228", "972"),
        ("980500003", "974"),  # Mayotte's in La Réunion
        ("970408589", "976"),  # La Réunion's in Mayotte
        ("970500001", "974"),  # 9705 names no département of the list
        ("760000001", "976"),
        ("2B0000020", "2A"),
        ("200000001", "2A"),
        ("750100125", "69"),
    ],
)
def test_finess_of_another_departement_is_refused(finess: str, departement: str) -> None:
    assert problems(located(finess, departement))["establishment.finess"] == (
        "finess_departement",
        None,
    )


@pytest.mark.parametrize("dep", ["971", "972", "973", "974", "976", "2A", "2B"])
def test_factory_finess_follow_the_prefix_table(dep: str) -> None:
    assert problems(located(finess_in(dep), dep)) == {}


def test_finess_whose_key_fails_is_accepted_with_a_warning() -> None:
    body = located("690781811", "69")
    assert problems(body) == {}
    (warning,) = warnings(body)
    assert (warning.path, warning.rule) == ("establishment.finess", "finess_key")
    assert warning.message and warning.message_en


def test_corsican_finess_is_not_key_checked() -> None:
    assert warnings(located("2A0000019", "2A")) == []


@pytest.mark.parametrize("finess", ["69078181A", "69ABCDEFG", "6907818I0"])
def test_a_letter_in_a_finess_outside_corsica_fails_its_key(finess: str) -> None:
    """Every FINESS but Corsica's is digits: a letter elsewhere is warned as a failing key
    (a warning, not a refusal, as for any failing key)."""
    body = located(finess, "69")
    assert problems(body) == {}
    assert warned(body) == {("establishment.finess", "finess_key")}


def test_a_code_left_empty_is_one_not_given() -> None:
    """ "" (or spaces) for a FINESS, a commune or an RPPS reads as the field left out: owed
    where the rules say so, with its article, and accepted where it may be missing."""
    assert problems(liberal_nurse(establishment__finess="")) == {}
    assert problems(liberal_nurse(establishment__finess="  ", establishment__commune="")) == {}
    assert problems(located("", "69")) == {"establishment.finess": ("finess_required", "R1413-79")}
    assert problems(ehpad_director(rpps="")) == {}
    assert problems(
        make_declaration(declarant__role="professionnel_sante", declarant__rpps=" ")
    ) == {"declarant.rpps": ("rpps_required", "R1413-79")}
    decl = Declaration.model_validate(liberal_nurse(establishment__finess=""))
    assert decl.establishment.finess is None


@pytest.mark.parametrize("departement", ["2a", "2b"])
def test_departement_codes_are_case_insensitive(departement: str) -> None:
    body = located(finess_in(departement.upper()), departement)
    assert problems(body) == {}
    assert Declaration.model_validate(body).establishment.departement == departement.upper()


def test_lower_case_corsican_finess_is_read_upper_case() -> None:
    body = located("2a0000014", "2a")
    assert problems(body) == {}
    assert Declaration.model_validate(body).establishment.finess == "2A0000014"


# -- community practice and legal representatives ---------------------------------------------


def liberal_nurse(**overrides: Any) -> dict[str, Any]:
    """A liberal nurse in Lyon: community practice, no FINESS."""
    nurse: dict[str, Any] = {
        "declarant__name": "Infirmière libérale",
        "declarant__role": "professionnel_sante",
        "declarant__email": "cabinet.infirmier@example.fr",
        "establishment__finess": None,
        "establishment__name": "Cabinet infirmier de la Croix-Rousse",
        "establishment__kind": "ville",
        "establishment__departement": "69",
        "establishment__unit": None,
    }
    return make_declaration(**{**nurse, **overrides})


def test_liberal_nurse_declares_without_finess() -> None:
    body = liberal_nurse()
    assert problems(body) == {}
    assert warnings(body) == []


def test_liberal_nurse_may_give_the_insee_commune() -> None:
    assert problems(liberal_nurse(establishment__commune="69384")) == {}
    assert problems(liberal_nurse(establishment__commune="2A004")) == {}


def test_finess_field_may_be_absent_for_community_practice() -> None:
    body = liberal_nurse()
    del body["establishment"]["finess"]
    assert problems(body) == {}


@pytest.mark.parametrize("commune", ["6938", "693840", "ABCDE", "2C004"])
def test_commune_is_a_5_character_insee_code(commune: str) -> None:
    found = problems(liberal_nurse(establishment__commune=commune))
    assert found == {"establishment.commune": ("commune_format", None)}


@pytest.mark.parametrize("kind", ["ES", "ESMS", "ICE"])
def test_establishments_other_than_community_practice_need_their_finess(kind: str) -> None:
    found = problems(make_declaration(establishment__kind=kind, establishment__finess=None))
    assert found == {"establishment.finess": ("finess_required", "R1413-79")}


def test_community_practice_with_a_finess_checks_it() -> None:
    assert problems(liberal_nurse(establishment__finess="690781810")) == {}
    assert problems(liberal_nurse(establishment__finess="750100125"))["establishment.finess"] == (
        "finess_departement",
        None,
    )


def ehpad_director(**overrides: Any) -> dict[str, Any]:
    """The director of an EHPAD in Brest: legal representative, no RPPS."""
    body = load_sample("legionella_death_ehpad_brest")
    body["declarant"].update(
        {"rpps": None, "name": "Anne Le Goff", "function": "Directrice de l'EHPAD"}
    )
    for key, value in overrides.items():
        body["declarant"][key] = value
    return body


def test_ehpad_director_declares_without_rpps_giving_her_function() -> None:
    assert problems(ehpad_director()) == {}


def test_legal_representative_without_rpps_must_give_a_function() -> None:
    assert problems(ehpad_director(function=None)) == {
        "declarant.function": ("function_required", "R1413-79")
    }
    assert problems(ehpad_director(function="  ")) == {
        "declarant.function": ("function_required", "R1413-79")
    }


def test_legal_representative_with_rpps_needs_no_function() -> None:
    assert problems(ehpad_director(rpps="10009876543", function=None)) == {}


@pytest.mark.parametrize(
    "role", ["responsable_signalement", "praticien_hygiene", "professionnel_sante"]
)
def test_health_professionals_still_need_their_rpps(role: str) -> None:
    found = problems(make_declaration(declarant__role=role, declarant__rpps=None))
    assert found == {"declarant.rpps": ("rpps_required", "R1413-79")}


# -- dates --------------------------------------------------------------------------------------


def test_onset_date_may_be_unknown() -> None:
    assert problems(make_declaration(infection__onset_date=None)) == {}
    body = make_declaration()
    del body["infection"]["onset_date"]
    assert problems(body) == {}


def test_last_case_date_after_onset_is_accepted() -> None:
    assert problems(make_declaration(infection__last_case_date="2026-11-20")) == {}
    assert problems(make_declaration(infection__last_case_date="2026-11-10")) == {}


def test_last_case_before_onset_is_refused() -> None:
    found = problems(make_declaration(infection__last_case_date="2026-11-09"))
    assert found == {"infection.last_case_date": ("last_case_before_onset", None)}


def test_last_case_date_without_onset_is_not_compared() -> None:
    body = make_declaration(infection__onset_date=None, infection__last_case_date="2026-11-01")
    assert problems(body) == {}


def test_last_case_date_in_the_future_is_refused() -> None:
    found = problems(make_declaration(infection__last_case_date="2026-11-23"))
    assert found == {"infection.last_case_date": ("date_in_future", None)}


# 21:30 UTC on 22 November: 22:30 in Paris, already the 23rd in La Réunion and Mayotte.
EVENING_UTC = dt.datetime(2026, 11, 22, 21, 30, tzinfo=dt.UTC)
# 02:30 UTC on 23 November: the 23rd in Paris, still the 22nd in the Antilles and Guyane.
NIGHT_UTC = dt.datetime(2026, 11, 23, 2, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("departement", "now", "today"),
    [
        ("974", EVENING_UTC, dt.date(2026, 11, 23)),
        ("976", EVENING_UTC, dt.date(2026, 11, 23)),
        ("69", EVENING_UTC, dt.date(2026, 11, 22)),
        ("2A", EVENING_UTC, dt.date(2026, 11, 22)),
        ("971", NIGHT_UTC, dt.date(2026, 11, 22)),
        ("972", NIGHT_UTC, dt.date(2026, 11, 22)),
        ("973", NIGHT_UTC, dt.date(2026, 11, 22)),
        ("75", NIGHT_UTC, dt.date(2026, 11, 23)),
    ],
)
def test_today_is_the_calendar_day_of_the_departement(
    departement: str, now: dt.datetime, today: dt.date
) -> None:
    assert local_today(departement, now) == today


@pytest.mark.parametrize(
    ("departement", "now", "accepted"),
    [
        ("974", EVENING_UTC, True),
        ("976", EVENING_UTC, True),
        ("69", EVENING_UTC, False),
        ("971", NIGHT_UTC, False),
        ("973", NIGHT_UTC, False),
        ("69", NIGHT_UTC, True),
    ],
)
def test_detection_on_the_23rd_is_judged_against_the_departements_own_day(
    departement: str, now: dt.datetime, accepted: bool
) -> None:
    body = located(
        finess_in(departement),
        departement,
        infection__detection_date="2026-11-23",
        infection__last_case_date="2026-11-23",
    )
    found = problems(body, today=None, now=now)
    assert (found == {}) is accepted
    if not accepted:
        assert found["infection.detection_date"] == ("date_in_future", None)


# -- coherence refusals ------------------------------------------------------------------------


def test_criterion_3_deaths_cannot_exceed_infected_patients() -> None:
    body = make_declaration(
        criteria=["1a", "2", "3"],
        infection__cases_infected=1,
        infection__cases_colonised=3,
        infection__deaths=2,
    )
    assert problems(body) == {
        "infection.deaths": ("criterion_3_deaths_exceed_infected", "R1413-79 3°")
    }


def test_criterion_3_with_a_colonised_patient_only_is_refused() -> None:
    body = make_declaration(
        criteria=["1a", "3"],
        infection__sites=["colonisation_only"],
        infection__cases_infected=0,
        infection__cases_colonised=1,
        infection__deaths=1,
    )
    assert problems(body)["infection.deaths"] == (
        "criterion_3_deaths_exceed_infected",
        "R1413-79 3°",
    )


def test_criterion_3_deaths_equal_to_infected_is_accepted() -> None:
    body = make_declaration(criteria=["1a", "3"], infection__cases_infected=2, infection__deaths=2)
    assert problems(body) == {}


def test_death_of_a_colonised_patient_without_criterion_3_is_accepted() -> None:
    body = make_declaration(infection__cases_infected=0, infection__deaths=1)
    assert problems(body) == {}


def test_colonisation_only_excludes_other_sites() -> None:
    body = make_declaration(
        infection__sites=["colonisation_only", "bacteraemia"], infection__cases_infected=0
    )
    assert problems(body) == {"infection.sites": ("colonisation_only_exclusive", None)}


def test_colonisation_only_counts_no_infected_patient() -> None:
    body = make_declaration(infection__sites=["colonisation_only"])
    assert problems(body) == {"infection.cases_infected": ("colonisation_only_with_infected", None)}


def test_colonisation_only_with_colonised_patients_is_accepted() -> None:
    assert problems(load_sample("candida_auris_paris_device")) == {}


# -- warnings -----------------------------------------------------------------------------------


def pathogen(species: str, resistance: list[str], mechanism: str | None = None) -> dict:
    return {"species": species, "resistance": resistance, "mechanism": mechanism}


@pytest.mark.parametrize(
    "mechanism", ["OXA-48", "oxa-48-like", "OXA48", "blaOXA-181", "KPC-3", "NDM-1", "VIM", "IMP-4"]
)
def test_carbapenemase_without_cpe_is_a_warning(mechanism: str) -> None:
    body = make_declaration(
        infection__pathogens=[pathogen("Klebsiella pneumoniae", ["esbl"], mechanism)]
    )
    assert warned(body) == {("infection.pathogens[0].resistance", "mechanism_without_resistance")}


@pytest.mark.parametrize("mechanism", ["vanA", "VanB", "vanA/vanB", "vanB2"])
def test_van_gene_without_gre_is_a_warning(mechanism: str) -> None:
    body = make_declaration(infection__pathogens=[pathogen("Enterococcus faecium", [], mechanism)])
    assert warned(body) == {("infection.pathogens[0].resistance", "mechanism_without_resistance")}


def test_mechanism_with_its_resistance_is_no_warning() -> None:
    body = make_declaration(
        infection__pathogens=[
            pathogen("Klebsiella pneumoniae", ["cpe"], "OXA-48-like"),
            pathogen("Enterococcus faecium", ["gre"], "vanA"),
            pathogen("Legionella pneumophila", [], "sérogroupe 1"),
        ],
        criteria=["1a", "2", "4"],
        infection__notifiable_disease="legionellosis",
    )
    assert warnings(body) == []


@pytest.mark.parametrize(
    ("species", "resistance"),
    [
        ("Pseudomonas aeruginosa", "cpe"),
        ("Acinetobacter baumannii", "cpe"),
        ("Staphylococcus aureus", "gre"),
        ("Enterococcus faecium", "cpe"),
        ("Staphylococcus epidermidis", "mrsa"),
        ("Enterococcus faecalis", "mrsa"),
        ("P. aeruginosa", "cpe"),
        ("E. gallinarum", "cpe"),
        ("A. nouvellespecies", "cpe"),
    ],
)
def test_resistance_on_the_wrong_taxon_is_a_warning(species: str, resistance: str) -> None:
    body = make_declaration(infection__pathogens=[pathogen(species, [resistance])])
    assert ("infection.pathogens[0].resistance", "resistance_wrong_taxon") in warned(body)
    # Warnings travel to every recipient: they never quote what was typed.
    [said] = [w for w in warnings(body) if w.rule == "resistance_wrong_taxon"]
    assert species not in said.message and species not in said.message_en


@pytest.mark.parametrize(
    ("species", "resistance"),
    [
        ("Klebsiella pneumoniae", "cpe"),
        ("K. pneumoniae", "cpe"),
        ("Escherichia coli", "cpe"),
        ("Enterobacter cloacae complex", "cpe"),
        ("Klebsiella aerogenes", "cpe"),
        ("Enterobacter aerogenes", "cpe"),
        ("Citrobacter freundii", "cpe"),
        ("Serratia marcescens", "cpe"),
        ("Proteus mirabilis", "cpe"),
        ("Morganella morganii", "cpe"),
        ("Providencia stuartii", "cpe"),
        ("Salmonella enterica", "cpe"),
        ("Shigella sonnei", "cpe"),
        ("Hafnia alvei", "cpe"),
        ("Raoultella ornithinolytica", "cpe"),
        ("Entérobactérie productrice de carbapénémase", "cpe"),
        ("Enterococcus faecium", "gre"),
        ("E. faecalis", "gre"),
        ("Staphylococcus aureus", "mrsa"),
        ("Staphylocoque doré", "mrsa"),
        ("Staph. aureus", "mrsa"),
        ("S. doré", "mrsa"),
        # an abbreviated genus, by its epithet or, unknown, by the benefit of the doubt
        ("S. liquefaciens", "cpe"),
        ("K. quasipneumoniae", "cpe"),
        ("E. asburiae", "cpe"),
        ("C. braakii", "cpe"),
        ("E. gallinarum", "gre"),
        ("E. casseliflavus", "gre"),
        ("S. nouvellespecies", "cpe"),
    ],
)
def test_resistance_on_its_own_taxon_is_no_warning(species: str, resistance: str) -> None:
    body = make_declaration(infection__pathogens=[pathogen(species, [resistance])])
    assert warnings(body) == []


@pytest.mark.parametrize(
    "species",
    [
        "Legionella pneumophila",
        "Legionella spp.",
        "L. longbeachae",
        "L. micdadei",
        "Mycobacterium tuberculosis",
    ],
)
def test_legionella_or_tuberculosis_without_criterion_4_is_a_warning(species: str) -> None:
    body = make_declaration(criteria=["1b", "2"], infection__pathogens=[pathogen(species, [])])
    (warning,) = warnings(body)
    assert (warning.path, warning.rule, warning.article) == (
        "criteria",
        "notifiable_species_without_criterion_4",
        "L3113-1",
    )


def test_legionella_with_criterion_4_is_no_warning() -> None:
    assert warnings(load_sample("legionella_death_ehpad_brest")) == []


@pytest.mark.parametrize(
    ("species", "resistance"),
    [
        ("Candida auris", []),
        ("C. auris (clade I)", []),
        ("Klebsiella pneumoniae", ["cpe"]),
        ("Enterococcus faecium", ["gre"]),
    ],
)
def test_emerging_organism_without_criterion_1a_is_a_warning(
    species: str, resistance: list[str]
) -> None:
    body = make_declaration(criteria=["2"], infection__pathogens=[pathogen(species, resistance)])
    (warning,) = warnings(body)
    assert (warning.path, warning.rule, warning.article) == (
        "criteria",
        "emerging_without_criterion_1a",
        "R1413-79 1°a",
    )


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("infection.circumstances", "Patient pris en charge par le Dr Martin en réanimation"),
        ("infection.circumstances", "Signalé par Pr Durand, chef de service"),
        ("investigations", "Entretien avec Mme Le Goff, fille de la résidente"),
        ("investigations", "M. Dupont a été dépisté le 12/11/2026"),
        ("initial_measures", "IDE Sophie affectée au secteur des cas"),
        ("initial_measures", "Madame DURAND prévenue"),
        ("establishment.unit", "Service du Pr Lefèvre"),
        ("products.drug.description", "Prescrit par le Docteur Bernard"),
        ("infection.circumstances", "Signalé par Mme Łukaszewska"),
        ("infection.circumstances", "Vu avec Dr Œhlenschläger"),
        # initials before the name, a title glued to it
        ("infection.circumstances", "Vu par le Dr J. Martin hier"),
        ("investigations", "Entretien avec Mme C. Dupont"),
        ("investigations", "Avis du Pr J.-P. Durand"),
        ("initial_measures", "M. J Dupont prévenu"),
        ("infection.circumstances", "Appel du Dr.Martin"),
        ("infection.circumstances", "M.Dupont informé"),
        # an organism's fields too: a name has nothing to do there
        ("infection.pathogens[0].mechanism", "OXA-48 chez Mme Dupont"),
        ("infection.pathogens[0].species", "Klebsiella pneumoniae (patient de Mme Dupont)"),
    ],
)
def test_names_that_look_like_people_are_a_warning(path: str, text: str) -> None:
    body = make_declaration(products__drug={"description": "Héparine", "already_declared": False})
    set_text(body, path, text)
    (warning,) = warnings(body)
    assert (warning.path, warning.rule, warning.article) == (path, "name_in_text", "R1413-80")
    surname = text.split()[-1]
    assert surname not in warning.message  # the warning itself names nobody


@pytest.mark.parametrize(
    ("path", "text", "quoted"),
    [
        ("infection.circumstances", "Vu par le Dr J. Martin hier", "Relevé : « Dr J. Martin »"),
        (
            "investigations",
            "Mme Le Goff, puis Mme Le Goff et M.Dupont",
            "Relevés : « Mme Le Goff », « M.Dupont »",
        ),
        ("initial_measures", "Vu par \uff24\uff52 Martin", "Relevé : « Dr Martin »"),
        # a name ends at the line's end and before the next title
        ("investigations", "Appel du Dr Martin\nTraitement adapté", "Relevé : « Dr Martin »"),
        ("investigations", "Mme Dupont Mme Durand", "Relevés : « Mme Dupont », « Mme Durand »"),
        # a word that starts a sentence is of the name only before another capitalised word
        ("investigations", "Vu par Mme Durand Le patient va mieux", "Relevé : « Mme Durand »"),
        ("investigations", "Appel de Mme Durand Elle rappelle demain", "Relevé : « Mme Durand »"),
        ("investigations", "Entretien avec Pr Jean Le Goff hier", "Relevé : « Pr Jean Le Goff »"),
        ("investigations", "Vu par Mme Marie Durand ce matin", "Relevé : « Mme Marie Durand »"),
        # in an organism's name, "M." is a genus: only the title before the name is quoted
        (
            "infection.pathogens[0].species",
            "M. tuberculosis (patient de Mme Dupont)",
            "Relevé : « Mme Dupont »",
        ),
    ],
)
def test_a_form_quotes_to_its_author_the_words_that_look_like_a_name(
    path: str, text: str, quoted: str
) -> None:
    body = make_declaration()
    set_text(body, path, text)
    decl, _ = check_declaration(body, today=TODAY, ref=reference())
    assert decl is not None
    found = [w for w in declaration_warnings(decl, ref=reference()) if w.rule == "name_in_text"]
    (said,) = names_quoted(found, decl)
    assert said.message.endswith(f"(article R1413-80). {quoted}.")
    # intake's own warning, the one that travels to the recipients, quotes nobody
    assert "Relevé" not in found[0].message


def test_quoting_leaves_other_problems_as_they_are() -> None:
    decl, _ = check_declaration(
        located("690781811", "69", infection__circumstances="Dr Martin"),
        today=TODAY,
        ref=reference(),
    )
    assert decl is not None
    found = declaration_warnings(decl, ref=reference())
    said = names_quoted(found, decl)
    assert [p.rule for p in said] == [p.rule for p in found] == ["finess_key", "name_in_text"]
    assert said[0] == found[0] and said[1].message.endswith("Relevé : « Dr Martin ».")


def set_text(body: dict[str, Any], path: str, text: str) -> None:
    *parents, last = re.sub(r"\[(\d+)\]", r".\1", path).split(".")
    node: Any = body
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[last] = text


@pytest.mark.parametrize(
    "text",
    [
        "IDE de nuit et aide-soignante du secteur B",
        "Le Dr de garde a été prévenu à 22 h",
        "Avis du médecin infectiologue, M. tuberculosis exclu",
        "Mme la directrice a informé les familles",
        "Patients de la chambre 12 (M et F)",
    ],
)
def test_ordinary_mentions_of_staff_are_no_warning(text: str) -> None:
    assert warnings(make_declaration(infection__circumstances=text)) == []


def test_the_declarant_and_the_establishment_may_be_named() -> None:
    body = make_declaration(
        declarant__name="Dr Claire Martin", establishment__name="Clinique du Dr Jean Eyraud"
    )
    assert warnings(body) == []


def test_every_warning_at_once_never_refuses() -> None:
    body = located(
        "690781811",
        "69",
        criteria=["2"],
        infection__pathogens=[
            pathogen("Pseudomonas aeruginosa", ["cpe"]),
            pathogen("Klebsiella pneumoniae", ["esbl"], "NDM-1"),
            pathogen("Legionella pneumophila", []),
        ],
        infection__circumstances="Cas signalé par le Dr Martin",
    )
    assert {rule for _, rule in warned(body)} == {
        "finess_key",
        "mechanism_without_resistance",
        "resistance_wrong_taxon",
        "notifiable_species_without_criterion_4",
        "emerging_without_criterion_1a",
        "name_in_text",
    }
    assert all(w.message and w.message_en and w.message != w.message_en for w in warnings(body))


ARABIC_INDIC_RPPS = "".join(chr(0x0660 + int(d)) for d in "10123456789")


@pytest.mark.parametrize(
    ("overrides", "path", "rule"),
    [
        # Digits of other scripts are not the digits of an RPPS or an INSEE code.
        ({"declarant__rpps": ARABIC_INDIC_RPPS}, "declarant.rpps", "rpps_format"),
        ({"declarant__rpps": "\uff11" * 11}, "declarant.rpps", "rpps_format"),
        (
            {"establishment__commune": "\uff16\uff19\uff13\uff18\uff14"},
            "establishment.commune",
            "commune_format",
        ),
        # Texts that show nothing are blank.
        ({"declarant__name": "\u200b"}, "declarant.name", "blank"),
        ({"infection__nature": "\u3164"}, "infection.nature", "blank"),
        ({"investigations": "\u0301\u00ad"}, "investigations", "blank"),
    ],
)
def test_what_reads_as_a_number_or_as_nothing_is_judged_as_read(
    overrides: dict[str, Any], path: str, rule: str
) -> None:
    assert problems(make_declaration(**overrides)).get(path, (None,))[0] == rule


def test_a_name_behind_an_invisible_or_fullwidth_title_is_still_a_name() -> None:
    for text in ("Vu par Dr\u200b Martin", "Vu par \uff24\uff52 Martin"):
        assert ("infection.circumstances", "name_in_text") in warned(
            make_declaration(infection__circumstances=text)
        ), text


@pytest.mark.parametrize(
    "email",
    [
        "claire,martin@chu.example",
        "claire.martin@chu.example; secretariat@chu.example",
        "Claire <claire.martin@chu.example>",
        "claire martin@chu.example",
        "claire.martin@chu",
        # what an e-mail header would carry otherwise: to nobody, or to another mailbox
        "claire.martin@chu.example.",
        "claire.martin@chu..example",
        "hygiene:claire@chu.example",
        ".claire@chu.example",
        "claire..martin@chu.example",
        '"claire"@chu.example',
        "claire@chu_lyon.example",
        "claire@-chu.example",
    ],
)
def test_an_address_the_receipt_cannot_be_sent_to_is_refused(email: str) -> None:
    """The declarant's address is the one the receipt goes to: one mailbox, as the notifier
    accepts it, or the declarant would never hear of the declaration."""
    assert problems(make_declaration(declarant__email=email)) == {
        "declarant.email": ("email_format", None)
    }


@pytest.mark.parametrize(
    "email",
    [
        "claire.martin+ias@chu-lyon.example.fr",
        "o'neil@chu.example",
        "josé.martin@chu.example",
        "eoh_hygiene@xn--chu-lyon-9za.example",
    ],
)
def test_an_ordinary_address_passes(email: str) -> None:
    assert problems(make_declaration(declarant__email=email)) == {}


def test_a_body_of_the_wrong_shape_is_still_read_for_identity() -> None:
    """check_declaration (intake, the portal, route --explain): the text checks run on the
    body as it came when its shape is refused, down any depth, without recursion."""
    body = make_declaration(investigations="Née le 3 mars 1945 à Lyon")
    body["infection"]["cases_infected"] = "deux"
    deep: Any = "DDN : 03/03/1945"
    for _ in range(5_000):
        deep = [deep]
    body["extra"] = {"note": deep}
    decl, problems = check_declaration(body, ref=reference())
    assert decl is None
    said = {(p.path, p.rule) for p in problems}
    assert ("infection.cases_infected", "int_type") in said
    assert ("investigations", "anonymity_birth_date") in said
    assert ("extra", "extra_forbidden") in said
    assert any(
        p.rule == "anonymity_birth_date" and p.path.startswith("extra.note[0]") for p in problems
    )
