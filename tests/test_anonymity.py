"""Anonymity as written in rules v2 (R1413-80): every NIR form, every announced date of birth,
and no false refusal of ordinary clinical text (tests/corpus/)."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest

from schemas.anonymity import contains_birth_date, contains_nir
from schemas.reference import reference
from schemas.validation import check_declaration, declaration_warnings, names_quoted
from tests.factories import make_declaration

TODAY = dt.date(2026, 11, 22)

CORPUS = Path(__file__).parent / "corpus"
ANONYMOUS: list[str] = json.loads((CORPUS / "anonymous.json").read_text(encoding="utf-8"))
IDENTIFYING: list[str] = json.loads((CORPUS / "identifying.json").read_text(encoding="utf-8"))


def refused_rules(text: str, field: str = "infection__circumstances") -> set[str]:
    _, found = check_declaration(make_declaration(**{field: text}), today=TODAY, ref=reference())
    return {p.rule for p in found if p.article == "R1413-80"}


def test_corpora_are_big_enough_and_distinct() -> None:
    assert len(ANONYMOUS) >= 50 and len(set(ANONYMOUS)) == len(ANONYMOUS)
    assert len(IDENTIFYING) >= 50 and len(set(IDENTIFYING)) == len(IDENTIFYING)


@pytest.mark.parametrize("text", ANONYMOUS)
def test_ordinary_clinical_text_passes(text: str) -> None:
    assert refused_rules(text) == set()


@pytest.mark.parametrize("text", IDENTIFYING)
def test_identifying_text_is_refused(text: str) -> None:
    assert refused_rules(text) & {"anonymity_nir", "anonymity_birth_date"}


# -- NIR -------------------------------------------------------------------------------------


def key(body13: str) -> str:
    number = int(body13.upper().replace("2A", "19").replace("2B", "18"))
    return f"{97 - number % 97:02d}"


def groups(body13: str, sep: str, with_key: bool = True) -> str:
    parts = [body13[0], body13[1:3], body13[3:5], body13[5:7], body13[7:10], body13[10:13]]
    return sep.join(parts + ([key(body13)] if with_key else []))


NIR = "2690469123045"


@pytest.mark.parametrize(
    "sep",
    [
        "",
        " ",
        "   ",
        "\u00a0",
        "\u202f",
        "\u2009",
        "\u2007",
        ".",
        "-",
        "/",
        "\u2010",
        "\u2011",
        "\u2013",
        " - ",
        ". ",
        "\u00a0\u00a0",
    ],
    ids=repr,
)
@pytest.mark.parametrize("with_key", [True, False], ids=["with_key", "without_key"])
def test_nir_found_whatever_separates_its_groups(sep: str, with_key: bool) -> None:
    text = f"Patiente {groups(NIR, sep, with_key)} transférée"
    assert contains_nir(text)
    assert refused_rules(text) == {"anonymity_nir"}


@pytest.mark.parametrize("prefix", ["NIR", "nir:", "Sécu", "n°", "SS"])
def test_nir_with_letters_glued_before_it(prefix: str) -> None:
    assert contains_nir(f"{prefix}{NIR}{key(NIR)}")
    assert contains_nir(f"{prefix}{NIR}")


@pytest.mark.parametrize("body13", ["285022A004123", "176022B033217", "285022a004123"])
def test_corsican_nir_with_2a_or_2b(body13: str) -> None:
    assert contains_nir(groups(body13, " "))
    assert contains_nir(groups(body13, "", with_key=False))


@pytest.mark.parametrize("sex", "123478")
def test_every_sex_digit_of_a_nir(sex: str) -> None:
    body13 = sex + NIR[1:]
    assert contains_nir(groups(body13, " "))
    assert contains_nir(groups(body13, " ", with_key=False))


def test_a_nir_in_groups_is_one_whatever_label_comes_before() -> None:
    """Only 13 digits in one run, as barcodes are written, may be a labelled product code."""
    grouped = groups(NIR, " ", with_key=False)
    assert contains_nir(f"Code postal 69003, patient {grouped}")
    assert contains_nir(f"Réf. dossier {grouped}")
    assert contains_nir(f"Lot du patient {groups(NIR, '.', with_key=False)}")
    assert not contains_nir(f"Lot {NIR}, péremption 06/2027")  # a code in one run
    assert contains_nir(f"Code postal 69003, patient {NIR}")  # "code" alone labels nothing


def test_a_birth_date_typed_with_a_combining_accent_is_one() -> None:
    assert contains_birth_date("ne\u0301 le 03/03/1945")
    assert contains_birth_date("Patiente ne\u0301e le 3 mars 1945")


def test_nir_with_a_key_that_does_not_check_is_not_a_nir() -> None:
    wrong = f"{(int(key(NIR)) + 1) % 97:02d}"
    assert not contains_nir(f"{NIR}{wrong}")
    assert not contains_nir(f"{groups(NIR, ' ', with_key=False)} {wrong}")


@pytest.mark.parametrize(
    ("body13", "why"),
    [
        ("5690469123045", "sex 5"),
        ("0690469123045", "sex 0"),
        ("9690469123045", "sex 9"),
        ("2690069123045", "month 00"),
        ("2691369123045", "month 13"),
        ("2691969123045", "month 19"),
        ("2690400123045", "département 00"),
        ("2690469000045", "commune 000"),
        ("2690469123000", "order 000"),
    ],
)
def test_implausible_13_digits_without_key_are_not_a_nir(body13: str, why: str) -> None:
    assert not contains_nir(groups(body13, " ", with_key=False)), why


@pytest.mark.parametrize("month", ["01", "12", "20", "42", "50", "99"])
def test_unknown_and_fictitious_months_are_plausible(month: str) -> None:
    assert contains_nir(groups(NIR[:3] + month + NIR[5:], " ", with_key=False))


@pytest.mark.parametrize(
    "text",
    [
        "26904691230451",  # 14 digits: a longer number
        "SIRET 26690015700011",
        "+33 4 72 11 22 33",
        "04 72 11 22 33",
        "0033472112233",
        "FINESS 690781810",
        "RPPS 10101234567",
        "GTIN 3760123456789",
        "code CIP13 3400936543212",
        "lot 1850575123456",
        "réf. fabricant 2690469123045",
    ],
)
def test_other_numbers_are_not_a_nir(text: str) -> None:
    assert not contains_nir(text)


# -- dates of birth -----------------------------------------------------------------------------

DATES = ["03/03/1945", "3/3/1945", "03.03.45", "03-03-1945", "3 mars 1945", "1er mars 1945"]
DATES += ["1945-03-03", "3\u00a0mars\u00a01945", "12 déc. 1944", "15 août 1950"]
ANNOUNCEMENTS = [
    "Patient né le {d}",
    "Patiente née le {d}",
    "Résident né(e) le {d}",
    "né à Lyon le {d}",
    "né à Saint-Denis, le {d}",
    "née à Pointe-à-Pitre le {d}",
    # places that end as a participle does, or that carry a number
    "né à Vitré le {d}",
    "né à Thorigné-Fouillard le {d}",
    "née au Pré-Saint-Gervais le {d}",
    "né à Yvré-l'Évêque le {d}",
    "né à Vitré, le {d}",
    "né à Vitré (35) le {d}",
    "né à Paris 15e le {d}",
    "né à Lyon 1er le {d}",
    "Date de naissance : {d}",
    "date de naissance du patient : {d}",
    "Date de naissance (du patient) : {d}",
    "DDN {d}",
    "DDN : {d}",
    "D.D.N. {d}",
    "DN : {d}",
    "DN {d}",
    "DOB {d}",
    "DOB: {d}",
    "born {d}",
    "born on {d}",
    "résidente du 2e étage, {d} (date de naissance)",
    "{d} (DDN)",
]


@pytest.mark.parametrize("date", DATES)
@pytest.mark.parametrize("announcement", ANNOUNCEMENTS)
def test_every_announced_birth_date_is_refused(announcement: str, date: str) -> None:
    text = announcement.format(d=date)
    assert contains_birth_date(text)
    assert refused_rules(text) == {"anonymity_birth_date"}


@pytest.mark.parametrize(
    "text",
    [
        "détecté le 12/11/2026",
        "Patient né prématurément, hospitalisé depuis le 03/11/2026",
        "ADN détecté le 12/11/2026",
        "DNA extracted on 12/11/2026",
        "Nouveau-né prématuré hospitalisé le 12/11/2026",
        "bébé né à terme, hospitalisé le 03/11/2026",
        "né à 32 SA, admis le 03/11/2026",
        "né à 32 SA hospitalisé le 03/11/2026",
        "nouveau-né à terme, transféré le 03/11/2026",
        "Date de début : 10/11/2026",
        "Naissance prématurée à 28 SA",
        "âgé de 81 ans",
        "nés en 1945",
        "12/11/2026 (date de détection)",
        "Dernier cas le 20/11/2026 (DDN inconnue)",
        "Prélèvement du 12/11/2026",
        "Deux patients de réanimation",
        "nés en 2020",
        "Âgée de 76 ans",
    ],
)
def test_dates_not_announced_as_birth_pass(text: str) -> None:
    assert not contains_birth_date(text)


@pytest.mark.parametrize("filler", [" ", "\u00a0", "1 ", "a ", ". ", "- "])
def test_no_text_makes_the_patterns_backtrack_without_end(filler: str) -> None:
    """A hostile text as long as a request may carry (64 KiB), with a run of spaces, digits
    or words inside each announcement of a date of birth: "DDN" then 10,000 spaces took 16 s of
    CPU (two optional runs of spaces side by side). Each text is now read in a few
    milliseconds; the bound below is a hundred times that, to catch a pattern that backtracks
    quadratically again, not to measure speed (make bench does)."""
    texts = [
        "né({}e) le 1945",
        "date de naissance ({}du patient) : 1945",
        "1 85{}05 75 123 456",
        "Lot{}1850575123456",
    ]
    for announcement in ANNOUNCEMENTS:
        words = announcement.format(d="1945").split(" ")
        texts += [" ".join(words[:i]) + " {}" + " ".join(words[i:]) for i in range(len(words) + 1)]
    for template in texts:
        text = template.format(filler * 8000)
        started = time.process_time()
        contains_birth_date(text)
        contains_nir(text)
        assert time.process_time() - started < 1.0, template


@pytest.mark.parametrize("names", ["Mme Aa ", "Dr Xy ", "Mme Aubert Mme Blanc ", "M. Le Goff "])
def test_quoting_the_names_of_a_long_list_stays_linear(names: str) -> None:
    """A list of names without commas, as long as a text may be (4,000 characters): each run
    of a name is read once (quoting once ran every name to the end of the list: 0.3 s for
    4,000 characters, a quadratic time), and the warning quotes a few of them, not all."""
    body = make_declaration(infection__circumstances=(names * 1_000)[:4_000])
    decl, found = check_declaration(body, today=None, ref=reference())
    assert decl is not None, found
    warned = [p for p in declaration_warnings(decl, ref=reference()) if p.rule == "name_in_text"]
    started = time.process_time()
    (said,) = names_quoted(warned, decl)
    assert time.process_time() - started < 1.0
    assert len(said.message) < 500 and "Relev" in said.message
