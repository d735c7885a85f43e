"""Every rule a declaration must meet, reported as one Problem per failure.

Shape (types, enums, lengths, unknown fields) is pydantic's; the rules that link fields
together, to reference data and to today are small functions below, each carrying its rule
name and article, composed by one list (`COHERENCE`). Anonymity (R1413-80) runs on every text.
`check_declaration` is the single entry point used by intake (before storing) and by the
router (`iaspipe route --explain`, and to refuse an impossible event).

Warnings (`WARNINGS`, built the same way) never refuse: they travel in the 201 answer and in
the routing decision so that the declarant looks again (docs/rules.md lists both).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from schemas import organisms
from schemas.anonymity import as_read, contains_birth_date, contains_nir
from schemas.declaration import (
    Complement,
    Criterion,
    DeclarantRole,
    Declaration,
    Establishment,
    EstablishmentKind,
    Infection,
    Pathogen,
    Resistance,
    Site,
)
from schemas.notifications import is_mailbox
from schemas.organisms import Taxon
from schemas.plain import CONTROL_MESSAGE, CONTROL_MESSAGE_EN, has_forbidden_character, is_blank
from schemas.problems import Problem, path_of
from schemas.reference import (
    ReferenceData,
    departement_of_finess,
    finess_key_ok,
    local_today,
)

# Messages for pydantic's error types: (French, English). {allowed} is filled for enums.
_SHAPE_MESSAGES: dict[str, tuple[str, str]] = {
    "missing": ("Champ obligatoire manquant.", "Required field is missing."),
    "extra_forbidden": (
        "Champ inconnu : ce formulaire ne le prévoit pas.",
        "Unknown field: this form has no such field.",
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
    "string_too_short": (
        "Texte trop court (au moins {min_length} caractères).",
        "Text too short (at least {min_length} characters).",
    ),
    "control_character": (CONTROL_MESSAGE, CONTROL_MESSAGE_EN),
    "blank": ("Ce champ ne peut pas être vide.", "This field cannot be blank."),
    "string_pattern_mismatch": (
        "Valeur non prévue (forme attendue : {pattern}).",
        "Unexpected value (expected form: {pattern}).",
    ),
    "case_ref_missing": (
        "Indiquez l'autre dossier : son identifiant (case_id), celui de sa déclaration "
        "(declaration_id) ou sa référence (reference).",
        "Name the other case by case_id, declaration_id or reference.",
    ),
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
    "less_than_equal": (
        "Valeur trop grande (au plus {le}).",
        "Value too large (at most {le}).",
    ),
    "greater_than_equal": (
        "Valeur trop petite (au moins {ge}).",
        "Value too small (at least {ge}).",
    ),
    "too_short": (
        "Au moins {min_length} élément(s) attendu(s).",
        "At least {min_length} item(s) expected.",
    ),
    "too_long": ("Au plus {max_length} éléments.", "At most {max_length} items."),
    "model_type": ("Un objet est attendu.", "An object is expected."),
    "model_attributes_type": ("Un objet est attendu.", "An object is expected."),
    "dict_type": ("Un objet est attendu.", "An object is expected."),
}


# A field's name as a path may say it back: a name of ours, or what looks like one (lower-case
# words joined by "_", as all of ours are). Any other key of a body (a sentence, a person's
# name, a number such as a NIR typed as a key) is never echoed.
_FIELD_NAME = re.compile(r"[a-z_]{1,40}")
UNKNOWN_KEY = "(champ inconnu)"


def _said_key(part: int | str) -> int | str:
    return part if isinstance(part, int) or _FIELD_NAME.fullmatch(part) else UNKNOWN_KEY


def shape_problems(exc: ValidationError) -> list[Problem]:
    """Turn pydantic's errors into Problems a clinician can read."""
    return problems_from_errors(list(exc.errors(include_url=False)))


# A bound that is a date is said as a date, in French as the French write it (31/12/2100).
_DATE_BOUND = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_DATE_BOUND_MESSAGES = {
    "less_than_equal": (
        "La date doit être au plus tard le {le}.",
        "Date too late (at most {le}).",
    ),
    "greater_than_equal": (
        "La date doit être au plus tôt le {ge}.",
        "Date too early (at least {ge}).",
    ),
}


def _french_date(value: Any) -> str | None:
    match = _DATE_BOUND.fullmatch(str(value)) if isinstance(value, str | dt.date) else None
    return None if match is None else f"{match[3]}/{match[2]}/{match[1]}"


def problems_from_errors(errors: list[Any], *, strip_prefix: bool = False) -> list[Problem]:
    """pydantic error dicts -> Problems; strip_prefix drops FastAPI's leading 'body'/'query'."""
    problems = []
    for err in errors:
        fr, en = _SHAPE_MESSAGES.get(
            err["type"], ("Valeur invalide.", err.get("msg", "Invalid value."))
        )
        ctx = dict(err.get("ctx") or {})
        if err["type"] == "string_too_short" and ctx.get("min_length") == 1:
            fr, en = BLANK
        bound = _french_date(ctx.get("le", ctx.get("ge")))
        if err["type"] in _DATE_BOUND_MESSAGES and bound is not None:
            fr, en = _DATE_BOUND_MESSAGES[err["type"]]
            fr = fr.format(le=bound, ge=bound)
        ctx.setdefault("allowed", ctx.get("expected", ""))
        fr_ctx = {
            k: (v.replace(" or ", " ou ") if isinstance(v, str) else v) for k, v in ctx.items()
        }
        with contextlib.suppress(KeyError, IndexError):
            fr, en = fr.format(**fr_ctx), en.format(**ctx)
        loc = tuple(_said_key(part) for part in err["loc"])
        if strip_prefix and loc and loc[0] in ("body", "query"):
            loc = loc[1:]  # a field of the body or a query parameter, named as the caller wrote it
        problems.append(Problem(path=path_of(loc), message=fr, message_en=en, rule=err["type"]))
    return problems


@dataclass(frozen=True)
class Context:
    """What a rule may look at besides the declaration. `today` is the département's calendar
    day; None when dates are not to be checked against it."""

    today: dt.date | None
    ref: ReferenceData


Finding = tuple[str, str, str]  # path, French message, English message


@dataclass(frozen=True)
class Rule:
    """One rule: its name (the `rule` of each Problem), its article, and its check, which
    yields (path, French, English) for every place the declaration breaks it. A rule that
    reads only one part of the declaration (`part`: "establishment", "infection", or "episode"
    for the criteria with the infection) also keeps its check of that part (`on_part`), so a
    form can apply it as soon as that part is filled in."""

    name: str
    article: str | None
    check: Callable[[Declaration, Context], Iterator[Finding]]
    part: str | None = None
    on_part: Callable[[Any, Context], Iterator[Finding]] | None = None

    def __call__(self, decl: Declaration, ctx: Context) -> list[Problem]:
        return self.problems(self.check(decl, ctx))

    def problems(self, findings: Iterable[Finding]) -> list[Problem]:
        return [
            Problem(path=path, rule=self.name, message=fr, message_en=en, article=self.article)
            for path, fr, en in findings
        ]


def rule(
    name: str, article: str | None = None
) -> Callable[[Callable[[Declaration, Context], Iterator[Finding]]], Rule]:
    def wrap(check: Callable[[Declaration, Context], Iterator[Finding]]) -> Rule:
        return Rule(name, article, check)

    return wrap


def part_rule(
    part: str, name: str, article: str | None = None
) -> Callable[[Callable[[Any, Context], Iterator[Finding]]], Rule]:
    """A rule that reads only `part` of the declaration (see Rule.on_part)."""

    def wrap(check: Callable[[Any, Context], Iterator[Finding]]) -> Rule:
        return Rule(name, article, lambda decl, ctx: check(getattr(decl, part), ctx), part, check)

    return wrap


def establishment_rule(
    name: str, article: str | None = None
) -> Callable[[Callable[[Establishment, Context], Iterator[Finding]]], Rule]:
    return part_rule("establishment", name, article)


def infection_rule(
    name: str, article: str | None = None
) -> Callable[[Callable[[EpisodeDates, Context], Iterator[Finding]]], Rule]:
    return part_rule("infection", name, article)


class Episode(Protocol):
    """What the rules between the criteria and the infection read: a Declaration, or a form's
    criteria and infection once both are filled in."""

    @property
    def criteria(self) -> list[Criterion]: ...

    @property
    def infection(self) -> Infection: ...


def episode_rule(
    name: str, article: str | None = None
) -> Callable[[Callable[[Episode, Context], Iterator[Finding]]], Rule]:
    """A rule that reads only the criteria and the infection (part "episode"): a form applies
    it once both are filled in, whatever the rest of the declaration holds."""

    def wrap(check: Callable[[Episode, Context], Iterator[Finding]]) -> Rule:
        return Rule(name, article, check, "episode", check)

    return wrap


def _strings(value: Any, path: str) -> list[tuple[str, str]]:
    """Every text of a model with its path (infection.pathogens[0].species), in field order."""
    found: list[tuple[str, str]] = []
    _collect(value, path, found)
    return found


def _collect(value: Any, path: str, found: list[tuple[str, str]]) -> None:
    # `type(...) is str` leaves out the enumerations' values (a StrEnum is a str subclass):
    # only what people typed is text. A model's __dict__ holds its fields in field order.
    if type(value) is str:
        found.append((path, value))
    elif isinstance(value, BaseModel):
        prefix = f"{path}." if path else ""
        for name, item in value.__dict__.items():
            if type(item) is str:
                found.append((prefix + name, item))
            elif type(item) is list or isinstance(item, BaseModel):
                _collect(item, prefix + name, found)
    elif type(value) is list:
        for i, item in enumerate(value):
            _collect(item, f"{path}[{i}]", found)


M = TypeVar("M", bound=BaseModel)

ANONYMITY_ARTICLE = "R1413-80"


@dataclass(frozen=True)
class TextCheck:
    """Something no text may hold: patient identity (R1413-80), or characters that hide what
    a text says."""

    rule: str
    found_in: Callable[[str], bool]
    message: str
    message_en: str
    article: str | None = None


CONTROL_CHECK = TextCheck(
    "control_character", has_forbidden_character, CONTROL_MESSAGE, CONTROL_MESSAGE_EN
)

IDENTITY_CHECKS: list[TextCheck] = [
    TextCheck(
        "anonymity_nir",
        contains_nir,
        "Ce texte contient un numéro de sécurité sociale (NIR) : retirez-le, car une "
        "déclaration et son suivi restent anonymes (article R1413-80).",
        "This text holds a social-security number (NIR). A declaration and its follow-up "
        "are anonymous: remove it (article R1413-80).",
        ANONYMITY_ARTICLE,
    ),
    TextCheck(
        "anonymity_birth_date",
        contains_birth_date,
        "Ce texte contient une date de naissance : retirez-la et indiquez au besoin un âge, "
        "car une déclaration et son suivi restent anonymes (article R1413-80).",
        "This text holds a date of birth. A declaration and its follow-up are anonymous: "
        "remove it, give an age if needed (article R1413-80).",
        ANONYMITY_ARTICLE,
    ),
]
TEXT_CHECKS: list[TextCheck] = [CONTROL_CHECK, *IDENTITY_CHECKS]


def _checked(texts: Iterable[tuple[str, str]], checks: list[TextCheck]) -> list[Problem]:
    """One Problem per text (under its path) and check it fails."""
    return [
        Problem(
            path=path,
            rule=check.rule,
            message=check.message,
            message_en=check.message_en,
            article=check.article,
        )
        for path, text in texts
        for check in checks
        if check.found_in(text)
    ]


def _text_problems(model: BaseModel, prefix: str, checks: list[TextCheck]) -> list[Problem]:
    return _checked(_strings(model, prefix), checks)


def texts_problems(texts: Mapping[str, str | None]) -> list[Problem]:
    """`text_problems` for texts that come one by one (a note, a reason, a cluster's name),
    each under its path."""
    return _checked(((path, text) for path, text in texts.items() if text), TEXT_CHECKS)


def _raw_strings(body: Any) -> Iterator[tuple[str, str]]:
    """Every string of a JSON body as it came (dicts, lists, strings), with its path, in
    document order. Iterative: a body nested deep is walked without recursion."""
    stack: list[tuple[str, Any]] = [("", body)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            yield path or "body", value
        elif isinstance(value, dict):
            prefix = f"{path}." if path else ""
            stack.extend((prefix + str(k), v) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", v) for i, v in reversed(list(enumerate(value))))


def raw_text_problems(body: Any, refused: Iterable[Problem] = ()) -> list[Problem]:
    """The text checks (control characters, patient identity) on every string of a body
    whose shape was refused, so that one answer says every problem: a NIR is said with the
    missing field, not on the next try. A path already refused is not said twice."""
    said = {p.path for p in refused}
    return _checked(((p, t) for p, t in _raw_strings(body) if p not in said), TEXT_CHECKS)


def anonymity_problems(model: BaseModel, prefix: str = "") -> list[Problem]:
    """R1413-80: no patient identity in any text of `model`; one Problem per text and kind of
    identity found."""
    return _text_problems(model, prefix, IDENTITY_CHECKS)


def text_problems(model: BaseModel, prefix: str = "") -> list[Problem]:
    """Every text of a request body (a declaration, a complement, a note, a reason...): no
    control or bidirectional-override character, no patient identity (R1413-80)."""
    return _text_problems(model, prefix, TEXT_CHECKS)


BLANK = ("Ce champ ne peut pas être vide.", "This field cannot be blank.")
PRODUCTS = ("medical_device", "ivd", "drug", "blood_product", "tissue_or_cells")


@rule("blank")
def required_texts_not_blank(decl: Declaration, _ctx: Context) -> Iterator[Finding]:
    d, e, inf = decl.declarant, decl.establishment, decl.infection
    texts = {
        "declarant.name": d.name,
        "declarant.email": d.email,
        "establishment.name": e.name,
        "infection.nature": inf.nature,
        "infection.circumstances": inf.circumstances,
        "investigations": decl.investigations,
        "initial_measures": decl.initial_measures,
    }
    for i, pathogen in enumerate(inf.pathogens):
        texts[f"infection.pathogens[{i}].species"] = pathogen.species
    for name in PRODUCTS:
        product = getattr(decl.products, name)
        if product is not None:
            texts[f"products.{name}.description"] = product.description
    for path, text in texts.items():
        if is_blank(text):
            yield path, *BLANK


# -- who declares (R1413-79) -----------------------------------------------------------------

_RPPS = re.compile(r"[0-9]{11}")


@rule("rpps_required", "R1413-79")
def rpps_given_unless_legal_representative(decl: Declaration, _ctx: Context) -> Iterator[Finding]:
    d = decl.declarant
    if d.rpps is None and d.role is not DeclarantRole.representant_legal:
        yield (
            "declarant.rpps",
            "Le numéro RPPS est obligatoire, sauf pour le représentant légal d'un établissement.",
            "The RPPS number is required, except for an establishment's legal representative.",
        )


@rule("function_required", "R1413-79")
def legal_representative_without_rpps_gives_function(
    decl: Declaration, _ctx: Context
) -> Iterator[Finding]:
    d = decl.declarant
    if d.rpps is None and d.role is DeclarantRole.representant_legal and is_blank(d.function or ""):
        yield (
            "declarant.function",
            "Sans numéro RPPS, indiquez votre fonction (par exemple « Directrice de l'EHPAD »).",
            'Without an RPPS number, give your function (e.g. "Director of the nursing home").',
        )


@rule("rpps_format")
def rpps_has_11_digits(decl: Declaration, _ctx: Context) -> Iterator[Finding]:
    rpps = decl.declarant.rpps
    if rpps is not None and not _RPPS.fullmatch(rpps):
        yield (
            "declarant.rpps",
            "Le numéro RPPS comporte exactement 11 chiffres.",
            "The RPPS number has exactly 11 digits.",
        )


@rule("email_format")
def email_is_an_address(decl: Declaration, _ctx: Context) -> Iterator[Finding]:
    """One mailbox, as the notifier sends to it: an address it would refuse (a comma, a
    semicolon, brackets) would leave the declarant without a receipt."""
    email = decl.declarant.email
    if email.strip() and not is_mailbox(email):
        yield (
            "declarant.email",
            "Adresse électronique invalide : une seule adresse, sans espace, virgule ni "
            "point-virgule, par exemple nom@exemple.fr.",
            "Invalid email address: one address, without spaces, commas or semicolons.",
        )


# -- where (establishment, département, commune) ---------------------------------------------


@establishment_rule("departement_unknown")
def departement_known(e: Establishment, ctx: Context) -> Iterator[Finding]:
    if e.departement not in ctx.ref.departements:
        yield (
            "establishment.departement",
            "Code de département inconnu (01 à 95, 2A, 2B, 971 à 976).",
            "Unknown département code (01-95, 2A, 2B, 971-976).",
        )


@establishment_rule("finess_required", "R1413-79")
def finess_given_unless_community_practice(e: Establishment, _ctx: Context) -> Iterator[Finding]:
    if e.finess is None and e.kind is not EstablishmentKind.ville:
        yield (
            "establishment.finess",
            "Le numéro FINESS est obligatoire pour un établissement ; seul l'exercice de ville "
            "(kind « ville ») déclare sans FINESS.",
            "The FINESS number is required for an establishment; only community practice "
            '(kind "ville") declares without one.',
        )


def _finess_well_formed(finess: str) -> bool:
    return len(finess) == 9 and finess.isascii() and finess.isalnum()


@establishment_rule("finess_format")
def finess_has_9_characters(e: Establishment, _ctx: Context) -> Iterator[Finding]:
    finess = e.finess
    if finess is not None and not _finess_well_formed(finess):
        yield (
            "establishment.finess",
            "Le numéro FINESS comporte 9 caractères.",
            "The FINESS number has 9 characters.",
        )


@establishment_rule("finess_departement")
def finess_matches_departement(e: Establishment, ctx: Context) -> Iterator[Finding]:
    if (
        e.finess is not None
        and _finess_well_formed(e.finess)
        and e.departement in ctx.ref.departements
        and (named := departement_of_finess(e.finess)) != e.departement
    ):
        chosen = ctx.ref.departements[e.departement]
        other = ctx.ref.departements.get(named)
        if other is not None:  # say which one it names: the département may be the slip
            yield (
                "establishment.finess",
                f"Ce numéro FINESS n'est pas celui d'un établissement du département "
                f"{chosen.code} — {chosen.name} : il désigne le département {other.code} — "
                f"{other.name}. Vérifiez le numéro FINESS ou le département choisi.",
                f"This FINESS number does not belong to département {chosen.code} "
                f"({chosen.name}): it names département {other.code} ({other.name}). Check the "
                f"FINESS number or the département chosen.",
            )
            return
        yield (
            "establishment.finess",
            f"Ce numéro FINESS n'est pas celui d'un établissement du département "
            f"{e.departement} (préfixes : 2A/2B en Corse, 9701 à 9704 pour 971 à 974, 98 pour "
            f"Mayotte, sinon les deux chiffres du département).",
            f"This FINESS number does not belong to département {e.departement} (prefixes: "
            f"2A/2B for Corsica, 9701-9704 for 971-974, 98 for Mayotte, else the two digits of "
            f"the département).",
        )


_COMMUNE = re.compile(r"[0-9]{5}|2[AB][0-9]{3}")


@establishment_rule("commune_format")
def commune_is_an_insee_code(e: Establishment, _ctx: Context) -> Iterator[Finding]:
    commune = e.commune
    if commune is not None and not _COMMUNE.fullmatch(commune):
        yield (
            "establishment.commune",
            "Le code commune INSEE comporte 5 caractères (par exemple 69383, 2A004, 97411).",
            "The INSEE commune code has 5 characters (e.g. 69383, 2A004, 97411).",
        )


# -- dates (R1413-80: onset, or failing that detection) -------------------------------------


class EpisodeDates(Protocol):
    """What the date rules read of an infection: an Infection, or a form's three dates."""

    @property
    def onset_date(self) -> dt.date | None: ...

    @property
    def detection_date(self) -> dt.date: ...

    @property
    def last_case_date(self) -> dt.date | None: ...


@infection_rule("onset_after_detection")
def onset_not_after_detection(inf: EpisodeDates, _ctx: Context) -> Iterator[Finding]:
    if inf.onset_date is not None and inf.onset_date > inf.detection_date:
        yield (
            "infection.onset_date",
            "La date de début ne peut pas être postérieure à la date de détection.",
            "Onset cannot be after detection.",
        )


@infection_rule("last_case_before_onset")
def last_case_not_before_onset(inf: EpisodeDates, _ctx: Context) -> Iterator[Finding]:
    if (
        inf.onset_date is not None
        and inf.last_case_date is not None
        and inf.last_case_date < inf.onset_date
    ):
        yield (
            "infection.last_case_date",
            "La date du dernier cas ne peut pas précéder la date de début.",
            "The last case cannot come before the onset.",
        )


_DATES = (
    ("detection_date", "La date de détection", "Detection date"),
    ("onset_date", "La date de début", "Onset date"),
    ("last_case_date", "La date du dernier cas", "Last case date"),
)


@infection_rule("date_in_future")
def dates_not_in_future(inf: EpisodeDates, ctx: Context) -> Iterator[Finding]:
    """Against the département's own calendar day (reference.local_today)."""
    if ctx.today is None:
        return
    for field, fr, en in _DATES:
        value = getattr(inf, field)
        if value is not None and value > ctx.today:
            yield (
                f"infection.{field}",
                f"{fr} ne peut pas être dans le futur (aujourd'hui : {ctx.today:%d/%m/%Y} dans "
                f"le département).",
                f"{en} cannot be in the future (today is {ctx.today.isoformat()} in the "
                f"département).",
            )


# -- counts and criteria ----------------------------------------------------------------------

COUNTS = ("cases_infected", "cases_colonised", "deaths")


@episode_rule("negative_count")
def counts_not_negative(decl: Episode, _ctx: Context) -> Iterator[Finding]:
    for field in COUNTS:
        if getattr(decl.infection, field) < 0:
            yield (
                f"infection.{field}",
                "Un nombre de cas ne peut pas être négatif.",
                "A count cannot be negative.",
            )


def _cases(decl: Episode) -> int:
    return max(decl.infection.cases_infected, 0) + max(decl.infection.cases_colonised, 0)


@episode_rule("no_case", "R1413-79")
def at_least_one_case(decl: Episode, _ctx: Context) -> Iterator[Finding]:
    if _cases(decl) < 1:
        yield (
            "infection.cases_infected",
            "Au moins un cas (infecté ou colonisé) doit être déclaré.",
            "At least one case (infected or colonised) must be declared.",
        )


@episode_rule("deaths_exceed_cases")
def deaths_within_cases(decl: Episode, _ctx: Context) -> Iterator[Finding]:
    inf = decl.infection
    cases = _cases(decl)
    if cases >= 1 and inf.deaths >= 0 and inf.deaths > inf.cases_infected + inf.cases_colonised:
        yield (
            "infection.deaths",
            "Le nombre de décès ne peut pas dépasser le nombre de cas.",
            "Deaths cannot exceed the number of cases.",
        )


@episode_rule("colonisation_only_exclusive")
def colonisation_only_alone(decl: Episode, _ctx: Context) -> Iterator[Finding]:
    sites = set(decl.infection.sites)
    if Site.colonisation_only in sites and len(sites) > 1:
        yield (
            "infection.sites",
            "« Colonisation seule » exclut tout autre site d'infection.",
            '"Colonisation only" excludes every other site of infection.',
        )


@episode_rule("colonisation_only_with_infected")
def colonisation_only_without_infected(decl: Episode, _ctx: Context) -> Iterator[Finding]:
    inf = decl.infection
    if Site.colonisation_only in inf.sites and inf.cases_infected != 0:
        yield (
            "infection.cases_infected",
            "« Colonisation seule » : aucun patient infecté ne peut être compté ; déclarez les "
            "patients porteurs comme colonisés.",
            '"Colonisation only": no infected patient can be counted; count carriers as colonised.',
        )


@episode_rule("criterion_2_needs_cluster", "R1413-79 2°")
def criterion_2_needs_two_cases(decl: Episode, _ctx: Context) -> Iterator[Finding]:
    if Criterion.c2 in decl.criteria and _cases(decl) < 2:
        yield (
            "criteria",
            "Le critère 2 (cas groupés) suppose au moins deux cas (infectés + colonisés) ; "
            "corrigez le nombre de cas, ou retirez le critère 2.",
            "Criterion 2 (clustered cases) needs at least two cases: correct the number of "
            "cases, or remove criterion 2.",
        )


@episode_rule("criterion_3_needs_death", "R1413-79 3°")
def criterion_3_needs_death(decl: Episode, _ctx: Context) -> Iterator[Finding]:
    if Criterion.c3 in decl.criteria and decl.infection.deaths < 1:
        yield (
            "infection.deaths",
            "Le critère 3 (décès) suppose au moins un décès déclaré ; indiquez le nombre de "
            "décès, ou retirez le critère 3.",
            "Criterion 3 (death) needs at least one death: give the number of deaths, or "
            "remove criterion 3.",
        )


@episode_rule("criterion_3_deaths_exceed_infected", "R1413-79 3°")
def criterion_3_deaths_among_infected(decl: Episode, _ctx: Context) -> Iterator[Finding]:
    inf = decl.infection
    if Criterion.c3 in decl.criteria and inf.deaths > max(inf.cases_infected, 0):
        yield (
            "infection.deaths",
            "Le critère 3 vise un décès causé par l'infection : le nombre de décès ne peut pas "
            "dépasser le nombre de patients infectés (un patient colonisé n'en est pas mort).",
            "Criterion 3 is a death caused by the infection: deaths cannot exceed infected "
            "patients (a colonised patient did not die of it).",
        )


@episode_rule("criterion_4_needs_disease", "R1413-79 4°")
def criterion_4_needs_disease(decl: Episode, _ctx: Context) -> Iterator[Finding]:
    if Criterion.c4 in decl.criteria and decl.infection.notifiable_disease is None:
        yield (
            "infection.notifiable_disease",
            "Le critère 4 suppose d'indiquer la maladie à déclaration obligatoire concernée ; "
            "choisissez-la, ou retirez le critère 4.",
            "Criterion 4 needs the notifiable disease: choose it, or remove criterion 4.",
        )


@episode_rule("disease_unknown", "L3113-1")
def disease_on_the_list(decl: Episode, ctx: Context) -> Iterator[Finding]:
    disease = decl.infection.notifiable_disease
    if disease is not None and disease not in ctx.ref.diseases:
        yield (
            "infection.notifiable_disease",
            "Maladie à déclaration obligatoire inconnue de la liste réglementaire.",
            "Not a notifiable disease of the list.",
        )


@episode_rule("disease_needs_criterion_4", "R1413-79 4°")
def disease_needs_criterion_4(decl: Episode, _ctx: Context) -> Iterator[Finding]:
    if decl.infection.notifiable_disease is not None and Criterion.c4 not in decl.criteria:
        yield (
            "criteria",
            "Une maladie à déclaration obligatoire est indiquée : cochez aussi le critère 4.",
            "A notifiable disease is given: criterion 4 must be ticked too.",
        )


@episode_rule("criterion_1a_needs_pathogen", "R1413-79 1°a")
def criterion_1a_needs_pathogen(decl: Episode, _ctx: Context) -> Iterator[Finding]:
    if Criterion.c1a in decl.criteria and not decl.infection.pathogens:
        yield (
            "infection.pathogens",
            "Le critère 1a (micro-organisme inhabituel) suppose d'indiquer au "
            "moins un micro-organisme.",
            "Criterion 1a (unusual pathogen) needs at least one pathogen.",
        )


@episode_rule("duplicate")
def criteria_listed_once(decl: Episode, _ctx: Context) -> Iterator[Finding]:
    if len(set(decl.criteria)) != len(decl.criteria):
        yield "criteria", "Un critère est coché deux fois.", "A criterion is listed twice."


COHERENCE: list[Rule] = [
    required_texts_not_blank,
    rpps_given_unless_legal_representative,
    legal_representative_without_rpps_gives_function,
    rpps_has_11_digits,
    email_is_an_address,
    departement_known,
    finess_given_unless_community_practice,
    finess_has_9_characters,
    finess_matches_departement,
    commune_is_an_insee_code,
    onset_not_after_detection,
    last_case_not_before_onset,
    dates_not_in_future,
    counts_not_negative,
    at_least_one_case,
    deaths_within_cases,
    colonisation_only_alone,
    colonisation_only_without_infected,
    criterion_2_needs_two_cases,
    criterion_3_needs_death,
    criterion_3_deaths_among_infected,
    criterion_4_needs_disease,
    disease_on_the_list,
    disease_needs_criterion_4,
    criterion_1a_needs_pathogen,
    criteria_listed_once,
]


# -- warnings: the declaration is accepted; the declarant is asked to look again ---------------


def _pathogens(decl: Declaration) -> Iterator[tuple[str, Pathogen, Taxon]]:
    for i, pathogen in enumerate(decl.infection.pathogens):
        yield f"infection.pathogens[{i}]", pathogen, organisms.normalise_species(pathogen.species)


@rule("mechanism_without_resistance", "R1413-79 1°a")
def mechanism_names_its_resistance(decl: Declaration, _ctx: Context) -> Iterator[Finding]:
    for path, pathogen, _taxon in _pathogens(decl):
        families = organisms.mechanism_families(pathogen.mechanism or "")
        resistance = set(pathogen.resistance)
        carbapenemases = [f for f in families if f in organisms.CARBAPENEMASES]
        if carbapenemases and Resistance.cpe not in resistance:
            yield (
                f"{path}.resistance",
                f"Mécanisme {carbapenemases[0]} (carbapénémase) indiqué sans la résistance "
                f"« cpe » : vérifiez le profil de résistance.",
                f'Mechanism {carbapenemases[0]} (a carbapenemase) given without resistance "cpe": '
                f"check the resistance profile.",
            )
        vans = [f for f in families if f in organisms.GLYCOPEPTIDE_RESISTANCE]
        if vans and Resistance.gre not in resistance:
            yield (
                f"{path}.resistance",
                f"Mécanisme {vans[0]} (résistance aux glycopeptides) indiqué sans la résistance "
                f"« gre » : vérifiez le profil de résistance.",
                f'Mechanism {vans[0]} (glycopeptide resistance) given without resistance "gre": '
                f"check the resistance profile.",
            )


# resistance -> (does this taxon carry it?, French group, English group)
_RESISTANCE_TAXA: dict[Resistance, tuple[Callable[[Taxon], bool], str, str]] = {
    Resistance.cpe: (organisms.is_enterobacterales, "entérobactéries", "Enterobacterales"),
    Resistance.gre: (organisms.is_enterococcus, "entérocoques", "Enterococcus"),
    Resistance.mrsa: (
        organisms.is_staphylococcus_aureus,
        "Staphylococcus aureus",
        "Staphylococcus aureus",
    ),
}


@rule("resistance_wrong_taxon")
def resistance_fits_the_taxon(decl: Declaration, _ctx: Context) -> Iterator[Finding]:
    for path, pathogen, taxon in _pathogens(decl):
        for resistance in pathogen.resistance:
            if resistance not in _RESISTANCE_TAXA:
                continue
            fits, group_fr, group_en = _RESISTANCE_TAXA[resistance]
            # "S. fonticola": an initial this module cannot resolve gets the benefit of the
            # doubt (it may be a Serratia), not a warning.
            if not organisms.may_be(taxon, fits):
                yield (
                    f"{path}.resistance",
                    # Never what was typed: warnings travel to every recipient.
                    f"La résistance « {resistance.value} » concerne les {group_fr} ; l'espèce "
                    "indiquée n'en fait pas partie : vérifiez l'espèce ou la résistance.",
                    f'Resistance "{resistance.value}" belongs to {group_en}; the species given '
                    "is not one: check the species or the resistance.",
                )


@rule("notifiable_species_without_criterion_4", "L3113-1")
def notifiable_species_ticks_criterion_4(decl: Declaration, _ctx: Context) -> Iterator[Finding]:
    if Criterion.c4 in decl.criteria:
        return
    named = []
    for _path, _pathogen, taxon in _pathogens(decl):
        if organisms.is_legionella(taxon) and "légionellose" not in named:
            named.append("légionellose")
        if organisms.is_mycobacterium_tuberculosis(taxon) and "tuberculose" not in named:
            named.append("tuberculose")
    english = {"légionellose": "legionellosis", "tuberculose": "tuberculosis"}
    for disease in named:
        yield (
            "criteria",
            f"La {disease} est une maladie à déclaration obligatoire : cochez le critère 4 et "
            f"indiquez-la ; le signalement nominatif à l'ARS reste dû.",
            f"{english[disease].capitalize()} is a notifiable disease: tick criterion 4 and "
            f"name it; the nominative report to the ARS is still owed.",
        )


@rule("emerging_without_criterion_1a", "R1413-79 1°a")
def emerging_organism_ticks_criterion_1a(decl: Declaration, _ctx: Context) -> Iterator[Finding]:
    if Criterion.c1a in decl.criteria:
        return
    for _path, pathogen, _taxon in _pathogens(decl):
        emerging = organisms.is_candida_auris(pathogen.species) or {
            Resistance.cpe,
            Resistance.gre,
        } & set(pathogen.resistance)
        if emerging:
            yield (
                "criteria",
                "Candida auris, une entérobactérie productrice de carbapénémase ou un entérocoque "
                "résistant aux glycopeptides est un micro-organisme inhabituel : cochez le "
                "critère 1a.",
                "Candida auris, a carbapenemase-producing Enterobacterales or a "
                "glycopeptide-resistant enterococcus is an unusual pathogen: tick criterion 1a.",
            )
            return


@rule("finess_key")
def finess_key_checks(decl: Declaration, _ctx: Context) -> Iterator[Finding]:
    finess = decl.establishment.finess
    if finess is not None and _finess_well_formed(finess) and finess_key_ok(finess) is False:
        yield (
            "establishment.finess",
            "La clé de contrôle de ce numéro FINESS ne correspond pas : vérifiez-le.",
            "This FINESS number's check digit does not match: check it.",
        )


# A title then a capitalised (or upper-case) name: "Dr Martin", "Mme LE GOFF", "IDE Sophie",
# "Mme Łukasz" (any alphabet's capital: checked on the match, not by a range), with
# initials before it ("Dr J. Martin", "Pr J.-P. Durand", "M. J Dupont"), or glued to a title
# that ends with its dot ("Dr.Martin", "M.Dupont").
_TITLES = r"(?i:dr|docteur|pr|professeur|mme|madame|mlle|mademoiselle|monsieur|mr)\.?|IDE"
_INITIALS = r"(?:[^\W\d_]\.?(?:-[^\W\d_]\.?)?\s+)?"
_NAME = r"(?P<name>[^\W\d_](?:[^\W\d_]|['’\-])*)"


def _person(titles: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w.])(?:{titles})(?:\s+|(?<=\.)){_INITIALS}{_NAME}")


_PERSON = _person(rf"{_TITLES}|M\.")
# In an organism's name "M." is a genus (M. tuberculosis, M. morganii): the other titles only.
_PERSON_BUT_M = _person(_TITLES)


# After a name, more capitalised words on the same line are of it ("Mme Le Goff", "Pr Jean
# Le Goff"): at most two, and never a title, which starts the next name. A word that starts
# sentences ("Le", "Elle"...) is of the name only before another capitalised word: "Mme Le
# Goff", but "Mme Durand" in "Mme Durand Le patient".
_NEXT_WORD = re.compile(r"[^\S\r\n]+([^\W\d_](?:[^\W\d_]|['’\-])*)")
_TITLE_WORD = re.compile(rf"(?:{_TITLES}|M)\.?")
_MORE_WORDS = 2
_SENTENCE_WORDS = frozenset(
    (  # noqa: SIM905 (a list of words reads better as words)
        "le la les l un une des du de d au aux ce cet cette ces il elle ils elles on son sa ses "
        "leur leurs et mais puis donc or ni car pas en y a est"
    ).split()
)
QUOTED_NAMES = 5  # the most a warning quotes; "…" says there are more


def _people_named(text: str, titles: re.Pattern[str] = _PERSON) -> list[str]:
    """The runs of a text, as read, that name a person ("Mme Le Goff"), each once, in order.
    Linear: each search starts where the last run ended."""
    read = as_read(text)
    found: list[str] = []
    at = 0
    while m := titles.search(read, at):
        at = m.end()
        if len(m["name"]) > 1 and m["name"][0].isupper():
            for _ in range(_MORE_WORDS):
                more = _NEXT_WORD.match(read, at)
                if not more or not more[1][0].isupper() or _TITLE_WORD.fullmatch(more[1]):
                    break
                if more[1].lower() in _SENTENCE_WORDS:
                    after = _NEXT_WORD.match(read, more.end())
                    if not after or not after[1][0].isupper():
                        break
                at = more.end()
            found.append(read[m.start() : at])
    return list(dict.fromkeys(found))


def _titles_for(path: str) -> re.Pattern[str]:
    return _PERSON_BUT_M if path.endswith(".species") else _PERSON


def _names_a_person(text: str, titles: re.Pattern[str] = _PERSON) -> bool:
    return any(
        len(m["name"]) > 1 and m["name"][0].isupper() for m in titles.finditer(as_read(text))
    )


# The declarant is identified on purpose, and an establishment is named after whoever it is.
_NOT_CHECKED_FOR_NAMES = ("declarant.", "establishment.name")


def _names_in(texts: Iterable[tuple[str, str]]) -> Iterator[Finding]:
    """The texts (path, text) that seem to name a person."""
    for path, text in texts:
        if not path.startswith(_NOT_CHECKED_FOR_NAMES) and _names_a_person(text, _titles_for(path)):
            yield (
                path,
                "Ce texte semble contenir le nom d'une personne (Dr, Pr, Mme, M. ou IDE suivi "
                "d'un nom) : une déclaration ne nomme ni patient ni soignant ; vérifiez "
                "(article R1413-80).",
                "This text seems to name a person (Dr, Pr, Mme, M., IDE and a name): declarations "
                "are anonymous, naming neither patients nor carers; check it (article R1413-80).",
            )


@rule("name_in_text", ANONYMITY_ARTICLE)
def texts_name_nobody(decl: Declaration, _ctx: Context) -> Iterator[Finding]:
    yield from _names_in(_strings(decl, ""))


def complement_warnings(complement: Complement) -> list[Problem]:
    """What the sender of a complement should look at again, never a reason to refuse: its
    texts read as the declaration's are (R1413-80), for a name after a title."""
    return texts_name_nobody.problems(_names_in(_strings(complement, "")))


def names_quoted(problems: list[Problem], model: BaseModel) -> list[Problem]:
    """The problems as a form says them to the author of `model`'s texts: a `name_in_text`
    warning quotes the words that made it ("Relevé : « Mme Durand »."). Only there: intake
    never quotes them, since its warnings travel with the declaration to its recipients."""
    texts = dict(_strings(model, ""))
    out = []
    for p in problems:
        if p.rule == "name_in_text" and p.path in texts:
            found = _people_named(texts[p.path], _titles_for(p.path))
            quoted = ", ".join(f"« {f} »" for f in found[:QUOTED_NAMES])
            more = ", …" if len(found) > QUOTED_NAMES else ""
            said = "Relevés" if len(found) > 1 else "Relevé"
            p = p.model_copy(update={"message": f"{p.message} {said} : {quoted}{more}."})
        out.append(p)
    return out


WARNINGS: list[Rule] = [
    mechanism_names_its_resistance,
    resistance_fits_the_taxon,
    notifiable_species_ticks_criterion_4,
    emerging_organism_ticks_criterion_1a,
    finess_key_checks,
    texts_name_nobody,
]


def coherence_problems(
    decl: Declaration, *, today: dt.date | None, ref: ReferenceData
) -> list[Problem]:
    """Rules that link fields together, or fields to reference data and to today (None: dates
    are not checked against today, as the router does for events intake already checked)."""
    ctx = Context(today=today, ref=ref)
    return [p for r in COHERENCE for p in r(decl, ctx)]


def part_problems(
    part: str, value: Any, *, ref: ReferenceData, today: dt.date | None = None
) -> list[Problem]:
    """The coherence rules that read only `part` of a declaration, applied to `value`: what a
    form can say as soon as that part is filled in, with the same words as the API.

    - "establishment": département known, FINESS required, well formed and of that
      département, commune code;
    - "infection": the onset not after the detection, the last case not before the onset,
      no date after `today` (the département's day; None: not checked). They read only the
      three dates (EpisodeDates): a form may give those alone;
    - "episode": the rules between the criteria and the infection (counts, deaths, criteria 1a,
      2, 3 and 4, the notifiable disease, "colonisation only"), given both (Episode)."""
    ctx = Context(today=today, ref=ref)
    return [
        p
        for r in COHERENCE
        if r.part == part and r.on_part is not None
        for p in r.problems(r.on_part(value, ctx))
    ]


@dataclass(frozen=True)
class TypedEpisode:
    """The criteria and the infection, given apart from a whole declaration (Episode)."""

    criteria: list[Criterion]
    infection: Infection


def _well_formed(model: type[M], value: Any) -> M | None:
    try:
        return model.model_validate(value)
    except ValidationError:
        return None


def _criteria(value: Any) -> list[Criterion] | None:
    if not isinstance(value, list) or not value:
        return None
    try:
        return [Criterion(c) for c in value]
    except ValueError:
        return None


def well_formed_parts_problems(
    body: Any,
    refused: Iterable[Problem],
    *,
    ref: ReferenceData,
    today: dt.date | None = None,
    now: dt.datetime | None = None,
) -> list[Problem]:
    """The coherence rules of the parts of a body that are well formed when the body as a
    whole is not (a field missing elsewhere, an unknown value): the establishment's, the
    infection's dates (against `today`, else the département's day at `now` when the
    establishment is well formed) and, given well-formed criteria, the episode's, so that
    one answer says them with the shape's problems. A path already refused is not said
    twice."""
    if not isinstance(body, dict):
        return []
    establishment = _well_formed(Establishment, body.get("establishment"))
    infection = _well_formed(Infection, body.get("infection"))
    criteria = _criteria(body.get("criteria"))
    found: list[Problem] = []
    if establishment is not None:
        found += part_problems("establishment", establishment, ref=ref)
    if today is None:
        # The département alone tells the day, even in an establishment refused for another
        # field (an unknown kind): the dates are judged in the same answer.
        departement = (
            establishment.departement
            if establishment is not None
            else _known_departement(body.get("establishment"), ref)
        )
        if departement is not None:
            today = local_today(departement, now or dt.datetime.now(dt.UTC))
    if infection is not None:
        found += part_problems("infection", infection, ref=ref, today=today)
        if criteria is not None:
            found += part_problems("episode", TypedEpisode(criteria, infection), ref=ref)
    said = {p.path for p in refused}
    return [p for p in found if p.path not in said]


def _known_departement(block: Any, ref: ReferenceData) -> str | None:
    """The `departement` of a raw establishment block, when it is one the reference knows
    (in any case, as the model reads it)."""
    code = block.get("departement") if isinstance(block, dict) else None
    if not isinstance(code, str):
        return None
    code = code.strip().upper()
    return code if code in ref.departements else None


def establishment_problems(e: Establishment, *, ref: ReferenceData) -> list[Problem]:
    """part_problems of the establishment."""
    return part_problems("establishment", e, ref=ref)


def declaration_warnings(decl: Declaration, *, ref: ReferenceData) -> list[Problem]:
    """What the declarant should look at again; never a reason to refuse."""
    ctx = Context(today=None, ref=ref)
    return [p for r in WARNINGS for p in r(decl, ctx)]


def declaration_today(decl: Declaration, now: dt.datetime | None = None) -> dt.date:
    """Today in the declaration's département (its time zone), at `now` (default: now)."""
    return local_today(decl.establishment.departement, now or dt.datetime.now(dt.UTC))


def shape_refusal(
    body: Any,
    shape: list[Problem],
    *,
    ref: ReferenceData | None = None,
    today: dt.date | None = None,
    now: dt.datetime | None = None,
) -> list[Problem]:
    """Every problem of a body whose shape was refused: its `shape` problems, the rules of
    its well-formed parts when it is a declaration (given `ref`: well_formed_parts_problems),
    and the identity checks of its texts as they came (raw_text_problems)."""
    parts = (
        []
        if ref is None
        else well_formed_parts_problems(body, shape, ref=ref, today=today, now=now)
    )
    return shape + parts + raw_text_problems(body, shape)


def check_declaration(
    body: Any,
    *,
    ref: ReferenceData,
    today: dt.date | None = None,
    now: dt.datetime | None = None,
) -> tuple[Declaration | None, list[Problem]]:
    """Validate a raw body: the declaration when valid, else every problem found. Dates are
    checked against `today` when given, else against today in the declaration's département
    at `now` (default: now)."""
    try:
        decl = Declaration.model_validate(body)
    except ValidationError as exc:
        return None, shape_refusal(body, shape_problems(exc), ref=ref, today=today, now=now)
    if today is None:
        today = declaration_today(decl, now)
    problems = coherence_problems(decl, today=today, ref=ref) + text_problems(decl)
    return (decl if not problems else None), problems


def check_complement(body: Any) -> tuple[Complement | None, list[Problem]]:
    try:
        complement = Complement.model_validate(body)
    except ValidationError as exc:
        return None, shape_refusal(body, shape_problems(exc))
    problems = []
    if is_blank(complement.cause_analysis):
        problems.append(
            Problem(path="cause_analysis", rule="blank", message=BLANK[0], message_en=BLANK[1])
        )
    for i, item in enumerate(complement.action_plan):
        if is_blank(item.action):
            problems.append(
                Problem(
                    path=f"action_plan[{i}].action",
                    rule="blank",
                    message=BLANK[0],
                    message_en=BLANK[1],
                )
            )
    problems += text_problems(complement)
    return (complement if not problems else None), problems
