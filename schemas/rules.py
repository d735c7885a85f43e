"""Every rule a declaration must meet, reported as one Problem per failure.

`check_declaration` is the single entry point used by intake (before storing) and by the
router (`iaspipe route --explain`, and to refuse an impossible event).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ValidationError

from schemas.anonymity import contains_birth_date, contains_nir
from schemas.declaration import Complement, Criterion, Declaration
from schemas.problems import Problem, path_of
from schemas.reference import ReferenceData

# Messages for pydantic's error types: (French, English). {allowed} is filled for enums.
_SHAPE_MESSAGES: dict[str, tuple[str, str]] = {
    "missing": ("Champ obligatoire manquant.", "Required field is missing."),
    "extra_forbidden": (
        "Champ inconnu : il ne fait pas partie du formulaire de déclaration.",
        "Unknown field: not part of the declaration form.",
    ),
    "enum": (
        "Valeur non prévue. Valeurs possibles : {allowed}.",
        "Unexpected value. Allowed: {allowed}.",
    ),
    "literal_error": (
        "Valeur non prévue. Valeurs possibles : {allowed}.",
        "Unexpected value. Allowed: {allowed}.",
    ),
    "string_type": ("Un texte est attendu.", "A text value is expected."),
    "string_too_long": (
        "Texte trop long (au plus {max_length} caractères).",
        "Text too long (at most {max_length} characters).",
    ),
    "int_type": ("Un nombre entier est attendu.", "An integer is expected."),
    "int_parsing": ("Un nombre entier est attendu.", "An integer is expected."),
    "int_from_float": ("Un nombre entier est attendu.", "An integer is expected."),
    "bool_type": ("Oui ou non (true/false) est attendu.", "A boolean (true/false) is expected."),
    "bool_parsing": ("Oui ou non (true/false) est attendu.", "A boolean (true/false) is expected."),
    "date_type": ("Une date AAAA-MM-JJ est attendue.", "A date YYYY-MM-DD is expected."),
    "date_parsing": ("Une date AAAA-MM-JJ est attendue.", "A date YYYY-MM-DD is expected."),
    "date_from_datetime_parsing": (
        "Une date AAAA-MM-JJ est attendue.",
        "A date YYYY-MM-DD is expected.",
    ),
    "date_from_datetime_inexact": (
        "Une date AAAA-MM-JJ est attendue.",
        "A date YYYY-MM-DD is expected.",
    ),
    "list_type": ("Une liste est attendue.", "A list is expected."),
    "too_short": (
        "Au moins {min_length} élément(s) attendu(s).",
        "At least {min_length} item(s) expected.",
    ),
    "too_long": ("Au plus {max_length} éléments.", "At most {max_length} items."),
    "model_type": ("Un objet est attendu.", "An object is expected."),
    "model_attributes_type": ("Un objet est attendu.", "An object is expected."),
    "dict_type": ("Un objet est attendu.", "An object is expected."),
}

ANONYMITY_ARTICLE = "R1413-80"


def shape_problems(exc: ValidationError) -> list[Problem]:
    """Turn pydantic's errors into Problems a clinician can read."""
    return problems_from_errors(list(exc.errors(include_url=False)))


def problems_from_errors(errors: list[Any], *, strip_prefix: bool = False) -> list[Problem]:
    """pydantic error dicts -> Problems; strip_prefix drops FastAPI's leading 'body'/'query'."""
    problems = []
    for err in errors:
        fr, en = _SHAPE_MESSAGES.get(
            err["type"], ("Valeur invalide.", err.get("msg", "Invalid value."))
        )
        ctx = dict(err.get("ctx") or {})
        ctx.setdefault("allowed", ctx.get("expected", ""))
        fr_ctx = {
            k: (v.replace(" or ", " ou ") if isinstance(v, str) else v) for k, v in ctx.items()
        }
        with contextlib.suppress(KeyError, IndexError):
            fr, en = fr.format(**fr_ctx), en.format(**ctx)
        loc = tuple(err["loc"])
        if strip_prefix and loc and loc[0] in ("body", "query", "path", "header"):
            loc = loc[1:] if loc[0] == "body" else loc
        problems.append(Problem(path=path_of(loc), message=fr, message_en=en, rule=err["type"]))
    return problems


def _problem(path: str, rule: str, fr: str, en: str, article: str | None = None) -> Problem:
    return Problem(path=path, message=fr, message_en=en, rule=rule, article=article)


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _strings(getattr(value, name), f"{path}.{name}" if path else name)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}[{i}]")
    elif isinstance(value, str):
        yield path, value


def anonymity_problems(model: BaseModel) -> list[Problem]:
    """R1413-80: no patient identity; a NIR or a date of birth in any text is refused."""
    problems = []
    for path, text in _strings(model, ""):
        if contains_nir(text):
            problems.append(
                _problem(
                    path,
                    "anonymity_nir",
                    "Ce texte contient un numéro de sécurité sociale (NIR). La déclaration doit "
                    "rester anonyme : retirez-le (article R1413-80 du CSP).",
                    "This text holds a social-security number (NIR). Declarations are anonymous: "
                    "remove it (article R1413-80).",
                    ANONYMITY_ARTICLE,
                )
            )
        if contains_birth_date(text):
            problems.append(
                _problem(
                    path,
                    "anonymity_birth_date",
                    "Ce texte contient une date de naissance. La déclaration doit rester anonyme : "
                    "retirez-la, indiquez au besoin un âge (article R1413-80 du CSP).",
                    "This text holds a date of birth. Declarations are anonymous: remove it, give "
                    "an age if needed (article R1413-80).",
                    ANONYMITY_ARTICLE,
                )
            )
    return problems


def _blank(path: str) -> Problem:
    return _problem(path, "blank", "Ce champ ne peut pas être vide.", "This field cannot be blank.")


_RPPS = re.compile(r"\d{11}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def coherence_problems(decl: Declaration, *, today: dt.date, ref: ReferenceData) -> list[Problem]:
    """Rules that link fields together, or fields to reference data and to today."""
    p: list[Problem] = []
    d, e, inf = decl.declarant, decl.establishment, decl.infection
    crit = set(decl.criteria)

    required_texts = {
        "declarant.name": d.name,
        "declarant.email": d.email,
        "establishment.name": e.name,
        "infection.nature": inf.nature,
        "infection.circumstances": inf.circumstances,
        "investigations": decl.investigations,
        "initial_measures": decl.initial_measures,
    }
    for i, pathogen in enumerate(inf.pathogens):
        required_texts[f"infection.pathogens[{i}].species"] = pathogen.species
    for name in ("medical_device", "ivd", "drug", "blood_product", "tissue_or_cells"):
        product = getattr(decl.products, name)
        if product is not None:
            required_texts[f"products.{name}.description"] = product.description
    p += [_blank(path) for path, text in required_texts.items() if not text.strip()]

    if not _RPPS.fullmatch(d.rpps):
        p.append(
            _problem(
                "declarant.rpps",
                "rpps_format",
                "Le numéro RPPS comporte exactement 11 chiffres.",
                "The RPPS number has exactly 11 digits.",
            )
        )
    if d.email.strip() and not _EMAIL.fullmatch(d.email):
        p.append(
            _problem(
                "declarant.email",
                "email_format",
                "Adresse électronique invalide.",
                "Invalid email address.",
            )
        )

    if e.departement not in ref.departements:
        p.append(
            _problem(
                "establishment.departement",
                "departement_unknown",
                "Code de département inconnu (01 à 95, 2A, 2B, 971 à 976).",
                "Unknown département code (01-95, 2A, 2B, 971-976).",
            )
        )
    if not (len(e.finess) == 9 and e.finess.isalnum() and e.finess.upper() == e.finess):
        p.append(
            _problem(
                "establishment.finess",
                "finess_format",
                "Le numéro FINESS comporte 9 caractères.",
                "The FINESS number has 9 characters.",
            )
        )
    elif e.departement in ref.departements and not e.finess.startswith(e.departement):
        p.append(
            _problem(
                "establishment.finess",
                "finess_departement",
                f"Le numéro FINESS doit commencer par le code du département ({e.departement}).",
                f"The FINESS number must start with the département code ({e.departement}).",
            )
        )

    if inf.onset_date > inf.detection_date:
        p.append(
            _problem(
                "infection.onset_date",
                "onset_after_detection",
                "La date de début ne peut pas être postérieure à la date de détection.",
                "Onset cannot be after detection.",
                "R1413-80",
            )
        )
    if inf.detection_date > today:
        p.append(
            _problem(
                "infection.detection_date",
                "date_in_future",
                "La date de détection ne peut pas être dans le futur.",
                "Detection date cannot be in the future.",
            )
        )
    if inf.onset_date > today:
        p.append(
            _problem(
                "infection.onset_date",
                "date_in_future",
                "La date de début ne peut pas être dans le futur.",
                "Onset date cannot be in the future.",
            )
        )

    for field in ("cases_infected", "cases_colonised", "deaths"):
        if getattr(inf, field) < 0:
            p.append(
                _problem(
                    f"infection.{field}",
                    "negative_count",
                    "Un nombre de cas ne peut pas être négatif.",
                    "A count cannot be negative.",
                )
            )
    cases = max(inf.cases_infected, 0) + max(inf.cases_colonised, 0)
    if cases < 1:
        p.append(
            _problem(
                "infection.cases_infected",
                "no_case",
                "Au moins un cas (infecté ou colonisé) doit être déclaré.",
                "At least one case (infected or colonised) must be declared.",
                "R1413-79",
            )
        )
    if inf.deaths > inf.cases_infected + inf.cases_colonised and inf.deaths >= 0 and cases >= 1:
        p.append(
            _problem(
                "infection.deaths",
                "deaths_exceed_cases",
                "Le nombre de décès ne peut pas dépasser le nombre de cas.",
                "Deaths cannot exceed the number of cases.",
            )
        )

    if Criterion.c2 in crit and cases < 2:
        p.append(
            _problem(
                "criteria",
                "criterion_2_needs_cluster",
                "Le critère 2 (cas groupés) suppose au moins deux cas (infectés + colonisés).",
                "Criterion 2 (clustered cases) needs at least two cases.",
                "R1413-79 2°",
            )
        )
    if Criterion.c3 in crit and inf.deaths < 1:
        p.append(
            _problem(
                "infection.deaths",
                "criterion_3_needs_death",
                "Le critère 3 (décès) suppose au moins un décès déclaré.",
                "Criterion 3 (death) needs at least one death.",
                "R1413-79 3°",
            )
        )
    if Criterion.c4 in crit and inf.notifiable_disease is None:
        p.append(
            _problem(
                "infection.notifiable_disease",
                "criterion_4_needs_disease",
                "Le critère 4 suppose d'indiquer la maladie à déclaration obligatoire concernée.",
                "Criterion 4 needs the notifiable disease.",
                "R1413-79 4°",
            )
        )
    if inf.notifiable_disease is not None:
        if inf.notifiable_disease not in ref.diseases:
            p.append(
                _problem(
                    "infection.notifiable_disease",
                    "disease_unknown",
                    "Maladie à déclaration obligatoire inconnue de la liste réglementaire.",
                    "Not a notifiable disease of the list.",
                    "L3113-1",
                )
            )
        if Criterion.c4 not in crit:
            p.append(
                _problem(
                    "criteria",
                    "disease_needs_criterion_4",
                    "Une maladie à déclaration obligatoire est indiquée : cochez "
                    "aussi le critère 4.",
                    "A notifiable disease is given: criterion 4 must be ticked too.",
                    "R1413-79 4°",
                )
            )
    if Criterion.c1a in crit and not inf.pathogens:
        p.append(
            _problem(
                "infection.pathogens",
                "criterion_1a_needs_pathogen",
                "Le critère 1a (micro-organisme inhabituel) suppose d'indiquer au "
                "moins un micro-organisme.",
                "Criterion 1a (unusual pathogen) needs at least one pathogen.",
                "R1413-79 1°a",
            )
        )
    if len(crit) != len(decl.criteria):
        p.append(
            _problem(
                "criteria",
                "duplicate",
                "Un critère est coché deux fois.",
                "A criterion is listed twice.",
            )
        )
    return p


def check_declaration(
    body: Any, *, today: dt.date, ref: ReferenceData
) -> tuple[Declaration | None, list[Problem]]:
    """Validate a raw body: the declaration when valid, else every problem found."""
    try:
        decl = Declaration.model_validate(body)
    except ValidationError as exc:
        return None, shape_problems(exc)
    problems = coherence_problems(decl, today=today, ref=ref) + anonymity_problems(decl)
    return (decl if not problems else None), problems


def check_complement(body: Any) -> tuple[Complement | None, list[Problem]]:
    try:
        complement = Complement.model_validate(body)
    except ValidationError as exc:
        return None, shape_problems(exc)
    problems = []
    if not complement.cause_analysis.strip():
        problems.append(_blank("cause_analysis"))
    for i, item in enumerate(complement.action_plan):
        if not item.action.strip():
            problems.append(_blank(f"action_plan[{i}].action"))
    problems += anonymity_problems(complement)
    return (complement if not problems else None), problems
