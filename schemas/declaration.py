"""The declaration, rules version 2 (docs/rules.md). Every v2 change is a relaxation or an
added optional field, so a version 1 body stays valid and the path stays /v1/declarations.

The models check shape: types, enums, lengths, unknown fields. The rules that link several
fields (criteria against facts, FINESS against département, dates against today, anonymity)
live in schemas.validation so that every problem is reported at once with its own path.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)
from pydantic_core import PydanticCustomError

from schemas.plain import CONTROL_MESSAGE_EN, has_forbidden_character, stripped_edges
from schemas.problems import Problem


def _no_control_at_the_edges(value: object) -> object:
    """A control character at a text's start or end ("\\rappel") is refused before the
    model strips the text's spaces, which would remove it unseen (those inside a text are
    refused with the declaration's other problems: schemas.validation.text_problems). Only
    a text with a space at an edge has anything to strip."""
    if (
        type(value) is str
        and value
        and (value[0].isspace() or value[-1].isspace())
        and has_forbidden_character(stripped_edges(value))
    ):
        raise PydanticCustomError("control_character", CONTROL_MESSAGE_EN)
    return value


# Each text field's type carries that check, so it runs on the texts only, not on the
# declaration's numbers, dates, booleans, lists and enums (an enum is not stripped, and
# refuses "ES\r" as it refuses any value not its own): a Python call for each of a
# declaration's forty fields was a third of reading one, in intake, the router and cpias.
_EDGES = BeforeValidator(_no_control_at_the_edges)
Text = Annotated[str, StringConstraints(max_length=4000), _EDGES]
ShortText = Annotated[str, StringConstraints(max_length=300), _EDGES]
Code = Annotated[str, StringConstraints(max_length=16), _EDGES]

# Bounds that fit the domain (docs/rules.md, "Bounds"): an episode is dated from 2000 on (the
# declaration of healthcare-associated infections dates from 2001), counts stay below what one
# episode can hold, lists below their number of possible values.
EARLIEST = dt.date(2000, 1, 1)
LATEST_PLAN = dt.date(2100, 12, 31)
MAX_CASES = 10_000
EpisodeDate = Annotated[dt.date, Field(ge=EARLIEST)]
# A count is a JSON integer and a yes-or-no a JSON boolean, as the published schema says: not
# "5", true, 1e4 or "1_0" for a count, nor "yes" or "off" for a boolean.
Count = Annotated[int, Field(le=MAX_CASES, strict=True)]
YesNo = Annotated[bool, Field(strict=True)]


class Strict(BaseModel):
    """Request models refuse unknown fields at every level. Texts are stripped of their
    spaces, after the check of their edges (`_EDGES`, on each text field)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DeclarantRole(StrEnum):
    responsable_signalement = "responsable_signalement"
    praticien_hygiene = "praticien_hygiene"
    professionnel_sante = "professionnel_sante"
    representant_legal = "representant_legal"


class EstablishmentKind(StrEnum):
    ES = "ES"
    ESMS = "ESMS"
    ICE = "ICE"
    ville = "ville"


class Criterion(StrEnum):
    c1a = "1a"
    c1b = "1b"
    c2 = "2"
    c3 = "3"
    c4 = "4"


class Site(StrEnum):
    bacteraemia = "bacteraemia"
    surgical_site = "surgical_site"
    urinary_tract = "urinary_tract"
    pneumonia = "pneumonia"
    other_respiratory = "other_respiratory"
    catheter = "catheter"
    skin_soft_tissue = "skin_soft_tissue"
    gastrointestinal = "gastrointestinal"
    bone_joint = "bone_joint"
    central_nervous_system = "central_nervous_system"
    eye_ent = "eye_ent"
    colonisation_only = "colonisation_only"
    other = "other"


class Resistance(StrEnum):
    cpe = "cpe"
    gre = "gre"
    mrsa = "mrsa"
    esbl = "esbl"
    carbapenem_resistant_acinetobacter = "carbapenem_resistant_acinetobacter"
    carbapenem_resistant_pseudomonas = "carbapenem_resistant_pseudomonas"
    other = "other"


class SuspectedOrigin(StrEnum):
    acquired_in_unit = "acquired_in_unit"
    acquired_in_establishment = "acquired_in_establishment"
    imported = "imported"
    stay_abroad = "stay_abroad"
    environment = "environment"
    unknown = "unknown"


class Declarant(Strict):
    rpps: Code | None = Field(
        default=None,
        description="RPPS number of the declarant: 11 digits. May be null only for a legal "
        "representative (role representant_legal), who then gives `function`.",
    )
    name: ShortText
    role: DeclarantRole
    email: ShortText
    phone: ShortText | None = None
    function: ShortText | None = Field(
        default=None,
        description='What the declarant does, e.g. "Directrice de l\'EHPAD": required for a '
        "legal representative without RPPS.",
    )

    @field_validator("rpps")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        """An RPPS left empty ("") is one not given: the rules then say whether it is owed."""
        return value or None


class Establishment(Strict):
    finess: Code | None = Field(
        default=None,
        description="FINESS: 9 characters whose prefix gives the département (2A/2B Corsica, "
        "9701-9704 for 971-974, 98 for Mayotte, else the first two digits). May be null only "
        "for community practice (kind ville).",
    )
    name: ShortText
    kind: EstablishmentKind
    departement: Code = Field(
        description="INSEE code of the département (01-95, 2A, 2B, 971-976); any case"
    )
    unit: ShortText | None = None
    commune: Code | None = Field(
        default=None,
        description="INSEE code of the commune (5 characters), for community practice",
    )

    @field_validator("departement")
    @classmethod
    def _upper(cls, value: str) -> str:
        """Codes are compared case-insensitively: "2a" is "2A"."""
        return value.upper()

    @field_validator("finess", "commune")
    @classmethod
    def _upper_or_none(cls, value: str | None) -> str | None:
        """The same for the codes that may be missing; one left empty ("", or spaces) is one
        not given: the rules then say whether it is owed (a FINESS is, but in community
        practice)."""
        return value.upper() if value else None


class Pathogen(Strict):
    species: ShortText
    resistance: list[Resistance] = Field(default_factory=list, max_length=len(Resistance))
    mechanism: ShortText | None = None


class Infection(Strict):
    nature: Text
    sites: list[Site] = Field(min_length=1, max_length=len(Site))
    onset_date: EpisodeDate | None = Field(
        default=None, description="Onset of the first case; null when unknown (R1413-80)"
    )
    detection_date: EpisodeDate
    last_case_date: EpisodeDate | None = Field(
        default=None, description="Onset or detection of the last case so far"
    )
    circumstances: Text
    cases_infected: Count
    cases_colonised: Count
    deaths: Count
    pathogens: list[Pathogen] = Field(default_factory=list, max_length=50)
    notifiable_disease: Annotated[str, StringConstraints(max_length=60), _EDGES] | None = None
    suspected_origin: SuspectedOrigin


class Product(Strict):
    description: Text
    already_declared: YesNo = False


class Products(Strict):
    medical_device: Product | None = None
    ivd: Product | None = None
    drug: Product | None = None
    blood_product: Product | None = None
    tissue_or_cells: Product | None = None


class Declaration(Strict):
    """A healthcare-associated infection declaration (R1413-79, R1413-80), rules v2."""

    declarant: Declarant
    establishment: Establishment
    criteria: list[Criterion] = Field(min_length=1, max_length=len(Criterion))
    infection: Infection
    products: Products = Field(default_factory=Products)
    investigations: Text
    initial_measures: Text
    cpias_support_requested: YesNo
    episode_under_control: YesNo
    patients_informed: YesNo


class ActionItem(Strict):
    action: Text
    due_date: Annotated[dt.date, Field(ge=EARLIEST, le=LATEST_PLAN)] | None = None


class Complement(Strict):
    """The later complement (R1413-80, second paragraph): cause analysis and action plan."""

    cause_analysis: Text
    action_plan: list[ActionItem] = Field(min_length=1, max_length=50)


class DeclarationAccepted(BaseModel):
    """The 201 answer to a submission, with the warnings the declarant should look at (the
    declaration is accepted all the same)."""

    id: str
    reference: str
    status: str
    received_at: dt.datetime
    warnings: list[Problem] = Field(default_factory=list)
