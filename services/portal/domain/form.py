"""The declaration form: its steps, its fields named by the contract's paths
(`establishment.finess`, `infection.pathogens[0].species`...), how the posted fields become the
body intake reads, and how each problem intake answers finds its field and step again.

The form judges nothing by rules of its own: intake's answer is the judge (schemas/validation.py),
so the rules live in one place. Numbers and dates are sent as typed; intake says what is wrong.
One exception, with the same rules: when a step is left, what is typed in its texts is checked
for patient identity (R1413-80), and the establishment against the rules that read only it (a
FINESS of another département), so that these are said beside their fields at once rather than
five steps later."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from schemas.declaration import Criterion, Declaration, Establishment, Infection
from schemas.problems import Problem
from schemas.reference import ReferenceData, local_today
from schemas.validation import (
    COHERENCE,
    TypedEpisode,
    declaration_warnings,
    establishment_problems,
    names_quoted,
    part_problems,
    shape_problems,
    texts_problems,
)
from services.portal.domain import labels

Value = str | list[str]
FormData = dict[str, Value]

ROWS = "_pathogen_rows"  # how many pathogen rows the draft shows
SHOWN = "_shown"  # hidden inputs naming the conditional blocks the page showed
MAX_PATHOGENS = 50  # the contract's most (schemas/declaration.py)


@dataclass(frozen=True)
class Field:
    """One input. `name` is the contract's path; in rows, `[]` stands for the index."""

    name: str
    label: str
    kind: str  # text textarea date number email tel select radios checkboxes checkbox group
    hint: str = ""
    options: tuple[tuple[str, str], ...] = ()
    optional: bool = False
    # When the answer is required only in some cases, said after the label in place of
    # "(facultatif)": "obligatoire sans numéro RPPS".
    condition: str = ""
    # What reading a list of checkboxes says when none is ticked (else "Sans réponse").
    none_ticked: str = ""
    autocomplete: str | None = None
    # Shown only when this checkbox value is ticked: ("criteria", "4").
    revealed_by: tuple[str, str] | None = None
    maxlength: int | None = None

    @property
    def block(self) -> str | None:
        """The conditional block the field belongs to, e.g. "criteria=4"."""
        return f"{self.revealed_by[0]}={self.revealed_by[1]}" if self.revealed_by else None


def _opts(mapping: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(mapping.items())


YES_NO = _opts(labels.YES_NO)

_FIELDS: list[Field] = [
    # -- établissement et déclarant
    Field(
        "establishment.kind",
        "Type de structure",
        "radios",
        options=_opts(labels.ESTABLISHMENT_KINDS),
    ),
    Field(
        "establishment.finess",
        "Numéro FINESS de l’établissement",
        "text",
        hint="9 caractères, par exemple 690781810.",
        condition="facultatif en exercice de ville",
        maxlength=9,
    ),
    Field("establishment.name", "Nom de la structure", "text", autocomplete="organization"),
    Field("establishment.departement", "Département", "select"),
    Field(
        "establishment.commune",
        "Commune (code INSEE)",
        "text",
        hint=(
            "Le code INSEE, différent du code postal : 5 caractères, par exemple 69123 pour "
            "Lyon. Utile en exercice de ville, sans FINESS."
        ),
        optional=True,
        maxlength=5,
    ),
    Field(
        "establishment.unit",
        "Service ou unité de soins",
        "text",
        hint="Par exemple : Réanimation médicale.",
        optional=True,
    ),
    Field("declarant.name", "Vos nom et prénom", "text", autocomplete="name"),
    Field(
        "declarant.role",
        "Vous déclarez en tant que",
        "radios",
        options=_opts(labels.DECLARANT_ROLES),
    ),
    Field(
        "declarant.rpps",
        "Votre numéro RPPS",
        "text",
        hint="11 chiffres. Si vous êtes représentant légal sans numéro RPPS, laissez ce champ "
        "vide et indiquez votre fonction.",
        condition="facultatif pour un représentant légal",
        maxlength=11,
    ),
    Field(
        "declarant.function",
        "Votre fonction",
        "text",
        hint="Par exemple : Directrice de l’EHPAD.",
        optional=True,
        condition="obligatoire si vous n’avez pas de numéro RPPS",
        autocomplete="organization-title",
    ),
    Field("declarant.email", "Votre adresse électronique", "email", autocomplete="email"),
    Field(
        "declarant.phone",
        "Votre téléphone",
        "tel",
        hint="Pour que l’ARS ou le CPias puisse vous joindre.",
        optional=True,
        autocomplete="tel",
    ),
    # -- critères
    Field(
        "criteria",
        "Critères de signalement remplis (article R1413-79)",
        "checkboxes",
        hint="Cochez tous les critères que l’infection remplit.",
        options=_opts(labels.CRITERIA),
    ),
    Field(
        "infection.notifiable_disease",
        "Maladie à déclaration obligatoire concernée",
        "select",
        hint="La déclaration nominative de la maladie reste due par ailleurs (article L3113-1).",
        revealed_by=("criteria", "4"),
    ),
    # -- infection
    Field(
        "infection.nature",
        "Nature de l’infection",
        "textarea",
        hint="Par exemple : bactériémies à Klebsiella pneumoniae productrice de carbapénémase "
        "OXA-48. Aucune donnée permettant d’identifier un patient.",
    ),
    Field(
        "infection.sites",
        "Localisation de l’infection",
        "checkboxes",
        options=_opts(labels.SITES),
    ),
    Field("infection.onset_date", "Date de début des signes", "date", optional=True),
    Field("infection.detection_date", "Date de détection", "date"),
    Field("infection.last_case_date", "Date du dernier cas", "date", optional=True),
    Field(
        "infection.circumstances",
        "Circonstances de survenue",
        "textarea",
        hint="Sans nom, date de naissance ni numéro de sécurité sociale : la déclaration est "
        "anonyme (article R1413-80).",
    ),
    Field("infection.cases_infected", "Nombre de patients infectés", "number"),
    Field("infection.cases_colonised", "Nombre de patients colonisés", "number"),
    Field("infection.deaths", "Nombre de décès", "number"),
    Field("infection.pathogens", "Micro-organismes en cause", "group"),
    Field(
        "infection.pathogens[].species",
        "Espèce",
        "text",
        hint="Par exemple : Klebsiella pneumoniae.",
    ),
    Field(
        "infection.pathogens[].resistance",
        "Résistance aux anti-infectieux",
        "checkboxes",
        options=_opts(labels.RESISTANCES),
        none_ticked="Aucune résistance cochée",
    ),
    Field(
        "infection.pathogens[].mechanism",
        "Mécanisme de résistance ou typage",
        "text",
        hint="Par exemple : OXA-48, KPC, NDM, vanA ; pour une souche sans résistance, "
        "son typage (sérogroupe 1).",
        optional=True,
    ),
    Field(
        "infection.suspected_origin",
        "Origine suspectée",
        "radios",
        options=_opts(labels.ORIGINS),
    ),
    # -- produits de santé
    *[
        f
        for key, (name, vigilance) in labels.PRODUCTS.items()
        for f in (
            Field(f"products.{key}", name, "checkbox", hint=vigilance[0].upper() + vigilance[1:]),
            Field(
                f"products.{key}.description",
                f"{name} : description",
                "textarea",
                hint="Nom, référence, numéro de lot si connu.",
                revealed_by=(f"products.{key}", "on"),
            ),
            Field(
                f"products.{key}.already_declared",
                f"Déjà déclaré {labels.to_the(vigilance.split(',')[0])}",
                "checkbox",
                revealed_by=(f"products.{key}", "on"),
            ),
        )
    ],
    # -- investigations et mesures
    Field(
        "investigations",
        "Investigations menées",
        "textarea",
        hint="Dépistages, prélèvements, enquêtes en cours (article R1413-80).",
    ),
    Field(
        "initial_measures",
        "Premières mesures prises",
        "textarea",
        hint="Pour lutter contre l’infection et en prévenir la propagation (article R1413-80).",
    ),
    Field("cpias_support_requested", "Demandez-vous l’appui du CPias ?", "radios", options=YES_NO),
    Field("episode_under_control", "L’épisode est-il maîtrisé ?", "radios", options=YES_NO),
    Field(
        "patients_informed",
        "Les patients concernés ont-ils été informés ?",
        "radios",
        options=YES_NO,
    ),
]

FIELDS: dict[str, Field] = {f.name: f for f in _FIELDS}


@dataclass(frozen=True)
class Step:
    slug: str
    title: str
    fields: tuple[str, ...]


STEPS: tuple[Step, ...] = (
    Step(
        "etablissement",
        "Établissement et déclarant",
        tuple(n for n in FIELDS if n.startswith(("establishment.", "declarant."))),
    ),
    Step("criteres", "Critères de signalement", ("criteria", "infection.notifiable_disease")),
    Step(
        "infection",
        "Infection",
        tuple(
            n for n in FIELDS if n.startswith("infection.") and n != "infection.notifiable_disease"
        ),
    ),
    Step(
        "produits",
        "Produits de santé en cause",
        tuple(n for n in FIELDS if n.startswith("products.")),
    ),
    Step(
        "mesures",
        "Investigations et mesures",
        (
            "investigations",
            "initial_measures",
            "cpias_support_requested",
            "episode_under_control",
            "patients_informed",
        ),
    ),
)
REVIEW = Step("verification", "Vérification et envoi", ())
ALL_STEPS: tuple[Step, ...] = (*STEPS, REVIEW)
STEP_OF: dict[str, str] = {name: s.slug for s in STEPS for name in s.fields}


def step(slug: str) -> Step | None:
    return next((s for s in ALL_STEPS if s.slug == slug), None)


def step_index(slug: str) -> int:
    return next(i for i, s in enumerate(ALL_STEPS) if s.slug == slug)


def pattern(name: str) -> str:
    """infection.pathogens[2].species -> infection.pathogens[].species"""
    return re.sub(r"\[\d+\]", "[]", name)


def field(name: str) -> Field:
    return FIELDS[pattern(name)]


_WHOLE = re.compile(r"[0-9]{1,6}")


def whole_number(value: object, *, default: int = 1, at_most: int = 100_000) -> int:
    """A number a page posted or put in its address (a page, a count of rows, a row's index),
    read as ASCII digits only ("²" and a thousand nines are not numbers): `default` for
    anything else, `at_most` at the most."""
    if isinstance(value, str) and _WHOLE.fullmatch(value):
        return min(int(value), at_most)
    return default


def rows(data: FormData) -> int:
    return max(whole_number(data.get(ROWS), at_most=MAX_PATHOGENS), 1)


def names_of(s: Step, data: FormData) -> list[str]:
    """The inputs a step shows: its fields, the row fields once per row."""
    out: list[str] = []
    for name in s.fields:
        if "[]" in name:
            out += [name.replace("[]", f"[{i}]") for i in range(rows(data))]
        else:
            out.append(name)
    return out


def typed_problems(s: Step, data: FormData, ref: ReferenceData, now: dt.datetime) -> list[Problem]:
    """What the API's rules refuse in step `s` as soon as it is filled in, each under its
    field: patient identity and control characters in its texts (R1413-80); on the
    establishment's step the rules that read only the establishment (FINESS of the
    département, département known, commune code); on the infection's step those of its dates
    (onset not after detection, last case not before onset, none after today in the
    département at `now`)."""
    texts = {
        name: value
        for name in names_of(s, data)
        if field(name).kind in ("text", "textarea") and isinstance(value := data.get(name), str)
    }
    problems = texts_problems(texts)
    if s is STEPS[0]:
        problems += _establishment_problems(data, ref)
    elif s is STEPS[2]:
        problems += _date_problems(data, ref, now)
    return problems


def missing_problems(data: FormData) -> list[Problem]:
    """The answers the declaration cannot go without that are still empty, in the words intake
    would use: the step being left says them beside their fields instead of the review."""
    try:
        Declaration.model_validate(build_body(data))
    except ValidationError as exc:
        return [p for p in shape_problems(exc) if p.rule == "missing"]
    return []


DATES = ("onset_date", "detection_date", "last_case_date")


def _date_problems(data: FormData, ref: ReferenceData, now: dt.datetime) -> list[Problem]:
    body = build_body(data)
    typed = body["infection"]
    try:
        dates = {name: dt.date.fromisoformat(typed[name]) for name in DATES if name in typed}
    except (TypeError, ValueError):
        return []  # a malformed date: intake names it at the review
    if "detection_date" not in dates:
        return []  # required: said by missing_problems
    departement = body["establishment"].get("departement")
    today = local_today(departement, now) if departement in ref.departements else None
    typed_dates = TypedDates(
        dates.get("onset_date"), dates["detection_date"], dates.get("last_case_date")
    )
    return part_problems("infection", typed_dates, ref=ref, today=today)


@dataclass(frozen=True)
class TypedDates:
    """The infection's dates as a step typed them (schemas.validation.EpisodeDates)."""

    onset_date: dt.date | None
    detection_date: dt.date
    last_case_date: dt.date | None


# The names of the rules between the criteria and the infection (what `episode_problems` says).
EPISODE_RULES = frozenset(r.name for r in COHERENCE if r.part == "episode")


def episode_problems(data: FormData, ref: ReferenceData) -> list[Problem] | None:
    """What the rules between the criteria and the infection refuse (criterion 3 without a
    death, criterion 2 with one case, more deaths than cases...), each under its field, on
    whichever of the two steps it stands; None while either step is not yet a valid part
    (intake names what is missing at the review)."""
    body = build_body(data)
    try:
        criteria = [Criterion(c) for c in body.get("criteria") or ()]
        infection = Infection.model_validate(body["infection"])
    except ValueError:  # a criterion unknown, or the infection incomplete (ValidationError)
        return None
    if not criteria:
        return None
    return part_problems("episode", TypedEpisode(criteria, infection), ref=ref)


def _establishment_problems(data: FormData, ref: ReferenceData) -> list[Problem]:
    typed = build_body(data)["establishment"]
    try:
        # The name is not what these rules read; a missing one is said by missing_problems.
        establishment = Establishment.model_validate({"name": "-", **typed})
    except ValidationError:
        return []  # a missing kind or a malformed code: intake names it at the review
    return establishment_problems(establishment, ref=ref)


# -- reading a posted step -----------------------------------------------------------------


def read_step(
    s: Step, posted: Mapping[str, list[str]], saved: FormData
) -> tuple[FormData, str | None]:
    """The draft with the posted fields of step `s`, and the conditional block that must now be
    shown, if any (a box that reveals fields was ticked on a page that did not show them:
    without JavaScript, the step is shown again with them)."""
    data = dict(saved)
    shown = set(posted.get(SHOWN, []))
    for name in names_of(s, data):
        f = field(name)
        if f.block and f.block not in shown:
            continue  # not on the page: keep what the draft holds
        values = [v for v in posted.get(name, []) if v is not None]
        if f.kind == "checkboxes":
            data[name] = values
        elif f.kind == "checkbox":
            data[name] = "on" if any(values) else ""
        elif f.kind != "group":
            data[name] = values[0] if values else ""
    revealed = next(
        (
            f.block
            for f in (field(n) for n in names_of(s, data))
            if f.block and f.revealed_by and f.block not in shown and _ticked(data, f.revealed_by)
        ),
        None,
    )
    return data, revealed


def dom_id(name: str) -> str:
    """The HTML id of a field or block: infection.pathogens[0].species ->
    f-infection-pathogens-0-species."""
    return "f-" + re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")


def reveal_anchor(block: str) -> str:
    return f"reveal-{dom_id(block)}"


def _ticked(data: FormData, revealed_by: tuple[str, str]) -> bool:
    controller, value = revealed_by
    current = data.get(controller, "")
    return value in current if isinstance(current, list) else current == value


def is_shown(data: FormData, f: Field) -> bool:
    return f.revealed_by is None or _ticked(data, f.revealed_by)


def add_row(data: FormData) -> FormData:
    return {**data, ROWS: str(min(rows(data) + 1, MAX_PATHOGENS))}


def remove_row(data: FormData, index: int) -> FormData:
    """Drop pathogen row `index`; the rows after it move up."""
    count = rows(data)
    if not 0 <= index < count:
        return data
    out = {k: v for k, v in data.items() if not k.startswith("infection.pathogens[")}
    kept = [i for i in range(count) if i != index]
    for new, old in enumerate(kept):
        for suffix in ("species", "resistance", "mechanism"):
            key = f"infection.pathogens[{old}].{suffix}"
            if key in data:
                out[f"infection.pathogens[{new}].{suffix}"] = data[key]
    out[ROWS] = str(max(len(kept), 1))
    return out


# -- the body ------------------------------------------------------------------------------

INTEGERS = ("infection.cases_infected", "infection.cases_colonised", "infection.deaths")
BOOLEANS = ("cpias_support_requested", "episode_under_control", "patients_informed")


def _text(data: FormData, name: str) -> str:
    value = data.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def _list(data: FormData, name: str) -> list[str]:
    value = data.get(name, [])
    return list(value) if isinstance(value, list) else []


def _put(body: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = body
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


def products_named(data: FormData) -> list[str]:
    """The health products ticked, each with its vigilance: "Médicament : pharmacovigilance"."""
    return [
        f"{name.lower()} : {vigilance.split(',')[0]}"
        for key, (name, vigilance) in labels.PRODUCTS.items()
        if _text(data, f"products.{key}") == "on"
    ]


def build_body(data: FormData) -> dict[str, Any]:
    """The contract's JSON body. An empty field is left out, so intake names what is missing;
    a number that is not one is sent as typed, so intake says so at its path."""
    body: dict[str, Any] = {"declarant": {}, "establishment": {}, "infection": {}, "products": {}}
    for name, f in FIELDS.items():
        if "[]" in name or name.startswith("products.") or f.kind == "group":
            continue
        if not is_shown(data, f):
            continue
        if f.kind == "checkboxes":
            _put(body, name, _list(data, name))
            continue
        text = _text(data, name)
        if not text:
            continue
        if name in INTEGERS and re.fullmatch(r"[+-]?\d{1,9}", text):
            _put(body, name, int(text))
        elif name in BOOLEANS and text in ("true", "false"):
            _put(body, name, text == "true")
        else:
            _put(body, name, text)
    pathogens = []
    for i in _sent_rows(data):
        pathogen: dict[str, Any] = {
            "species": _text(data, f"infection.pathogens[{i}].species"),
            "resistance": _list(data, f"infection.pathogens[{i}].resistance"),
        }
        if mechanism := _text(data, f"infection.pathogens[{i}].mechanism"):
            pathogen["mechanism"] = mechanism
        pathogens.append(pathogen)
    body["infection"]["pathogens"] = pathogens
    for key in labels.PRODUCTS:
        if _text(data, f"products.{key}") == "on":
            body["products"][key] = {
                "description": _text(data, f"products.{key}.description"),
                "already_declared": _text(data, f"products.{key}.already_declared") == "on",
            }
    return body


def _sent_rows(data: FormData) -> list[int]:
    """The form rows of the pathogens `build_body` sends, in their order (empty rows are
    left out of the body)."""
    return [
        i
        for i in range(rows(data))
        if _text(data, f"infection.pathogens[{i}].species")
        or _list(data, f"infection.pathogens[{i}].resistance")
        or _text(data, f"infection.pathogens[{i}].mechanism")
    ]


def renumbered(problems: list[Problem], items: str, sent: list[int]) -> list[Problem]:
    """Problems about a list `items` sent without the form's empty rows, numbered as the
    form's rows: the i-th item sent is the form's row `sent[i]`."""
    pattern = re.compile(rf"^{re.escape(items)}\[(\d+)\]")

    def row_of(match: re.Match[str]) -> str:
        index = int(match.group(1))
        return f"{items}[{sent[index] if index < len(sent) else index}]"

    return [
        p.model_copy(update={"path": pattern.sub(row_of, p.path)}) if pattern.match(p.path) else p
        for p in problems
    ]


def on_form_rows(problems: list[Problem], data: FormData) -> list[Problem]:
    """Problems about the body `build_body(data)` made, their pathogens numbered as the form's
    rows: with an empty row before it, the body's second pathogen is the form's third."""
    return renumbered(problems, "infection.pathogens", _sent_rows(data))


def _get(body: dict[str, Any], path: str) -> Any:
    node: Any = body
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _as_value(value: Any) -> Value:
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def from_body(body: dict[str, Any]) -> FormData:
    """The form's fields holding a declaration (to lay it out for reading like the review)."""
    data: FormData = {}
    for name, f in FIELDS.items():
        if "[]" in name or name.startswith("products.") or f.kind == "group":
            continue
        value = _get(body, name)
        if value is not None:
            data[name] = _as_value(value)
    pathogens = _get(body, "infection.pathogens") or []
    for i, pathogen in enumerate(pathogens):
        for key in ("species", "resistance", "mechanism"):
            if pathogen.get(key) is not None:
                data[f"infection.pathogens[{i}].{key}"] = _as_value(pathogen[key])
    data[ROWS] = str(max(len(pathogens), 1))
    for key in labels.PRODUCTS:
        product = _get(body, f"products.{key}")
        if product:
            data[f"products.{key}"] = "on"
            data[f"products.{key}.description"] = str(product.get("description", ""))
            data[f"products.{key}.already_declared"] = (
                "on" if product.get("already_declared") else ""
            )
    return data


def initial_data(
    *,
    finess: str | None,
    name: str,
    email: str | None,
    ref: ReferenceData,
    community: bool = False,
) -> FormData:
    """A new draft, with what the signed-in person's account already says: its
    establishment, or community practice for a declarant without FINESS (`community`)."""
    data: FormData = {ROWS: "1", "declarant.name": name, "declarant.email": email or ""}
    if community:
        data["establishment.kind"] = "ville"
    if finess:
        data["establishment.finess"] = finess
        for code in (finess[:3], finess[:2]):
            if code in ref.departements and not code.startswith("97"):
                data["establishment.departement"] = code
                break
    return data


# -- problems back to their fields ---------------------------------------------------------


@dataclass(frozen=True)
class Placed:
    """A problem intake answered, and where the form shows it: its field (None when no field
    holds it: it is shown at the top only) and that field's step."""

    problem: Problem
    field: str | None
    step: str | None
    # A second field marked by the same problem (the département of a FINESS of another
    # one): said beside its field, neither counted nor listed again in the page's summary.
    companion: bool = False


def field_of(path: str) -> str | None:
    """The input a problem's path belongs to: the path itself, or the nearest enclosing field
    (`infection.sites[1]` -> `infection.sites`, `infection.pathogens` -> the pathogens group)."""
    candidate = path
    while candidate:
        if pattern(candidate) in FIELDS:
            return candidate
        trimmed = re.sub(r"(\[\d+\]|\.[^.\[]+)$", "", candidate)
        if trimmed == candidate:
            return None
        candidate = trimmed
    return None


# A FINESS of another département is said on the FINESS; the département may be the slip, so
# its field is marked too.
DEPARTEMENT_OF_FINESS = (
    "Ce département n’est pas celui du numéro FINESS saisi : vérifiez l’un ou l’autre.",
    "This département is not the FINESS number's: check either.",
)


def _with_companions(problems: list[Problem]) -> list[tuple[Problem, bool]]:
    """Each problem (False), and after it the companion of any that marks a second field
    (True)."""
    out = []
    for p in problems:
        out.append((p, False))
        if p.rule == "finess_departement" and p.path == "establishment.finess":
            fr, en = DEPARTEMENT_OF_FINESS
            companion = p.model_copy(
                update={"path": "establishment.departement", "message": fr, "message_en": en}
            )
            out.append((companion, True))
    return out


# Where each field stands in the form: its step, then its place in the step.
FIELD_ORDER: dict[str, tuple[int, int]] = {
    name: (i, j) for i, s in enumerate(STEPS) for j, name in enumerate(s.fields)
}
# Where a list's rows stand in their step: at its first field ("infection.pathogens[]").
ROWS_AT: dict[str, int] = {}
for _name, (_, _at) in FIELD_ORDER.items():
    if "[]" in _name:
        _group = _name[: _name.index("[]") + 2]
        ROWS_AT[_group] = min(ROWS_AT.get(_group, _at), _at)


def _on_the_page(placed: Placed) -> tuple[int, int, int, int, int]:
    """Sort key: problems of no field first, then in the order of the fields on the pages;
    the fields of a list's rows row by row (the first row's species, its resistance, then
    the second row's)."""
    if placed.field is None:
        return (0, 0, 0, 0, 0)
    name = pattern(placed.field)
    step_at, field_at = FIELD_ORDER.get(name, (len(STEPS), 0))
    row = re.search(r"\[(\d+)\]", placed.field)
    if row is None:
        return (1, step_at, field_at, 0, 0)
    rows_at = ROWS_AT.get(name[: name.index("[]") + 2], field_at)
    return (1, step_at, rows_at, int(row.group(1)), field_at)


def place(problems: list[Problem]) -> list[Placed]:
    """Each problem with its field and step, in the order a person meets the fields."""
    out = []
    for p, companion in _with_companions(problems):
        name = field_of(p.path)
        out.append(Placed(p, name, STEP_OF.get(pattern(name)) if name else None, companion))
    return sorted(out, key=_on_the_page)


def display(name: str, value: Value | None) -> str:
    """A field's value as the review page shows it; the choices of a list one a line each
    (a criterion's label has commas of its own)."""
    f = field(name)
    choices = dict(f.options)
    if f.kind == "checkboxes" and not value:
        return f.none_ticked
    if isinstance(value, list):
        return "\n".join(choices.get(v, v) for v in value)
    if f.kind == "checkbox":
        return "Oui" if value == "on" else "Non"
    if value is None or value == "":
        return ""
    if f.kind == "date":
        return labels.french_date(value)
    return choices.get(value, value)


def review_label(name: str) -> str:
    """A field's label where it is listed with others: rows say which row they are."""
    f = field(name)
    row = re.search(r"pathogens\[(\d+)\]", name)
    return f"Micro-organisme {int(row.group(1)) + 1} — {f.label}" if row else f.label


def is_empty_row(data: FormData, name: str) -> bool:
    row = re.search(r"pathogens\[(\d+)\]", name)
    if not row:
        return False
    i = row.group(1)
    return not any(
        data.get(f"infection.pathogens[{i}].{k}") for k in ("species", "resistance", "mechanism")
    )


# Duties the same facts may still call for elsewhere ("sans préjudice", R1413-79): reminders
# shown before sending; once routed, the decision's own obligations are shown instead, in the
# same words for the EIGS (services/router/rules/rules.json).
REMINDERS = {
    "4": (
        "L3113-1",
        "La déclaration nominative de la maladie à déclaration obligatoire reste due : à l’ARS "
        "pour une maladie à signalement urgent, à Santé publique France sinon.",
    ),
    "3": (
        "R1413-67, R1413-68",
        "Si le décès était inattendu, c’est aussi un événement indésirable grave associé aux "
        "soins (EIGS, R1413-67) : sa déclaration à l’ARS, en deux parties, peut être due "
        "(R1413-68).",
    ),
}


def warnings(data: FormData, ref: ReferenceData) -> list[Problem]:
    """What intake will ask the declarant to look at again (its warnings, never a refusal),
    said on the review before sending; none while the answers do not yet make a
    declaration (intake says what is missing when it is sent)."""
    try:
        decl = Declaration.model_validate(build_body(data))
    except ValidationError:
        return []
    return names_quoted(declaration_warnings(decl, ref=ref), decl)


def reminders(data: FormData) -> list[tuple[str, str]]:
    criteria = data.get("criteria", [])
    out = [REMINDERS[c] for c in ("4", "3") if isinstance(criteria, list) and c in criteria]
    for key, (name, vigilance) in labels.PRODUCTS.items():
        if (
            data.get(f"products.{key}") == "on"
            and data.get(f"products.{key}.already_declared") != "on"
        ):
            duty, _, article = vigilance.partition(", article ")
            out.append(
                (
                    article,
                    f"{name} : cette transmission ne remplace pas sa déclaration "
                    f"{labels.to_the(duty)}, qui reste due si elle n’est pas faite.",
                )
            )
    return out
