"""Reference data shipped with the contracts: départements, regions, CPias, notifiable diseases,
and the two facts tied to a département: its FINESS prefix and its time zone.

Files are read once, checked line by line, and a bad file raises ReferenceDataError naming
the file and the line, so a service refuses to start on broken data.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

REFERENCE_DIR = Path(__file__).parent / "reference"


class ReferenceDataError(ValueError):
    """A reference file is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class Departement:
    code: str
    name: str
    region_code: str
    region_name: str
    cpias_id: str
    cpias_name: str


@dataclass(frozen=True)
class NotifiableDisease:
    code: str
    name_fr: str
    article: str
    urgent: bool


@dataclass(frozen=True)
class ReferenceData:
    departements: dict[str, Departement]
    diseases: dict[str, NotifiableDisease]

    @property
    def region_codes(self) -> list[str]:
        return sorted({d.region_code for d in self.departements.values()})

    @property
    def cpias_ids(self) -> list[str]:
        return sorted({d.cpias_id for d in self.departements.values()})


def _rows(path: Path, columns: list[str]) -> list[tuple[int, dict[str, str]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ReferenceDataError(f"{path}: cannot be read ({exc.strerror})") from exc
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames != columns:
        raise ReferenceDataError(f"{path}:1: header is {reader.fieldnames}, expected {columns}")
    rows = []
    for row in reader:
        line = reader.line_num
        if None in row or any(v is None for v in row.values()):
            raise ReferenceDataError(f"{path}:{line}: expected {len(columns)} columns")
        values = {k: v.strip() for k, v in row.items()}
        empty = [k for k, v in values.items() if not v]
        if empty:
            raise ReferenceDataError(f"{path}:{line}: empty value for {', '.join(empty)}")
        rows.append((line, values))
    if not rows:
        raise ReferenceDataError(f"{path}: no data rows")
    return rows


DEPARTEMENT_COLUMNS = [
    "departement_code",
    "departement_name",
    "region_code",
    "region_name",
    "cpias_id",
    "cpias_name",
]
DISEASE_COLUMNS = ["code", "name_fr", "article", "urgent"]

# The 101 départements: 01 to 95 with Corsica's 2A and 2B in place of 20, and the five
# overseas ones (975, Saint-Pierre-et-Miquelon, is a collectivity, not a département).
DEPARTEMENT_CODES: frozenset[str] = frozenset(
    {f"{n:02d}" for n in range(1, 96) if n != 20} | {"2A", "2B", "971", "972", "973", "974", "976"}
)
# D3113-8 lists the diseases signalled to the ARS without delay; D3113-9 those for
# surveillance only (Santé publique France): the `urgent` column follows the article.
DISEASE_ARTICLES: dict[str, bool] = {"D3113-8": True, "D3113-9": False}


def load_departements(path: Path) -> dict[str, Departement]:
    """Every département once, each region with one name and one CPias (a CPias may serve
    several regions: Océan Indien serves La Réunion and Mayotte), and all 101 of them."""
    result: dict[str, Departement] = {}
    regions: dict[str, str] = {}
    cpias_of_region: dict[str, str] = {}
    cpias_names: dict[str, str] = {}
    for line, row in _rows(path, DEPARTEMENT_COLUMNS):
        code = row["departement_code"]
        if code not in DEPARTEMENT_CODES:
            raise ReferenceDataError(f"{path}:{line}: bad département code {code!r}")
        if not (len(row["region_code"]) == 2 and row["region_code"].isdigit()):
            raise ReferenceDataError(f"{path}:{line}: bad region code {row['region_code']!r}")
        if not row["cpias_id"].startswith("cpias-"):
            raise ReferenceDataError(f"{path}:{line}: CPias id must start with 'cpias-'")
        if code in result:
            raise ReferenceDataError(f"{path}:{line}: département {code} listed twice")
        if regions.setdefault(row["region_code"], row["region_name"]) != row["region_name"]:
            raise ReferenceDataError(f"{path}:{line}: region {row['region_code']} has two names")
        cpias = row["cpias_id"]
        if cpias_of_region.setdefault(row["region_code"], cpias) != cpias:
            raise ReferenceDataError(
                f"{path}:{line}: region {row['region_code']} has two CPias "
                f"({cpias_of_region[row['region_code']]} and {cpias})"
            )
        if cpias_names.setdefault(cpias, row["cpias_name"]) != row["cpias_name"]:
            raise ReferenceDataError(f"{path}:{line}: {cpias} has two names")
        result[code] = Departement(
            code,
            typographic(row["departement_name"]),
            row["region_code"],
            typographic(row["region_name"]),
            row["cpias_id"],
            typographic(row["cpias_name"]),
        )
    missing = sorted(DEPARTEMENT_CODES - result.keys())
    if missing:
        raise ReferenceDataError(f"{path}: départements missing: {', '.join(missing)}")
    return result


def typographic(text: str) -> str:
    """Côtes-d'Armor as it is printed: Côtes-d’Armor (the reference files keep INSEE's
    spelling, the API's texts straight apostrophes)."""
    return text.replace("'", "’")


def load_diseases(path: Path) -> dict[str, NotifiableDisease]:
    result: dict[str, NotifiableDisease] = {}
    for line, row in _rows(path, DISEASE_COLUMNS):
        if row["urgent"] not in ("true", "false"):
            raise ReferenceDataError(f"{path}:{line}: urgent must be true or false")
        if row["article"] not in DISEASE_ARTICLES:
            raise ReferenceDataError(f"{path}:{line}: article must be D3113-8 or D3113-9")
        if DISEASE_ARTICLES[row["article"]] != (row["urgent"] == "true"):
            raise ReferenceDataError(
                f"{path}:{line}: urgent must be {str(DISEASE_ARTICLES[row['article']]).lower()}"
                f" for a disease of {row['article']}"
            )
        if row["code"] in result:
            raise ReferenceDataError(f"{path}:{line}: disease {row['code']} listed twice")
        result[row["code"]] = NotifiableDisease(
            row["code"], row["name_fr"], row["article"], row["urgent"] == "true"
        )
    return result


def load_reference(directory: Path = REFERENCE_DIR) -> ReferenceData:
    return ReferenceData(
        load_departements(directory / "departements.csv"),
        load_diseases(directory / "notifiable_diseases.csv"),
    )


@cache
def reference() -> ReferenceData:
    """The reference data shipped in the package, loaded once."""
    return load_reference()


# -- time zones: "today" is the département's own calendar day --------------------------------

TIME_ZONES: dict[str, str] = {
    "971": "America/Guadeloupe",
    "972": "America/Martinique",
    "973": "America/Cayenne",
    "974": "Indian/Reunion",
    "976": "Indian/Mayotte",
}
DEFAULT_TIME_ZONE = "Europe/Paris"
# How a French reader names each clock ("Reçue le … (heure de La Réunion)").
TIME_ZONE_NAMES: dict[str, str] = {
    "Europe/Paris": "heure de Paris",
    "America/Guadeloupe": "heure de la Guadeloupe",
    "America/Martinique": "heure de la Martinique",
    "America/Cayenne": "heure de la Guyane",
    "Indian/Reunion": "heure de La Réunion",
    "Indian/Mayotte": "heure de Mayotte",
}


def time_zone_of(departement: str) -> ZoneInfo:
    """The time zone of a département (overseas ones have their own; else Paris)."""
    return ZoneInfo(TIME_ZONES.get(departement.strip().upper(), DEFAULT_TIME_ZONE))


def time_zone_name(zone: ZoneInfo) -> str:
    """The words for a clock of TIME_ZONES: "heure de La Réunion"; "heure locale" for any other."""
    return TIME_ZONE_NAMES.get(zone.key, "heure locale")


NBSP = "\u00a0"


def french_moment(at: dt.datetime, zone: ZoneInfo, *, seconds: bool = False) -> str:
    """An instant on `zone`'s clock as French writes it: "25/11/2026 à 9 h 04" (with
    `seconds`, "25/11/2026 à 9 h 04 min 37 s"). Non-breaking spaces keep "à" and the time
    together, so a narrow column breaks only after the date."""
    local = at.astimezone(zone)
    time = f"{local.hour}{NBSP}h{NBSP}{local:%M}"
    if seconds:
        time += f"{NBSP}min{NBSP}{local:%S}{NBSP}s"
    return f"{local:%d/%m/%Y} à{NBSP}{time}"


def region_time_zone(ref: ReferenceData, region_code: str | None) -> ZoneInfo:
    """A region's clock: that of its first département (La Réunion's for region 04); Paris's
    for all regions together (None) or an unknown code."""
    for d in ref.departements.values():
        if d.region_code == region_code:
            return time_zone_of(d.code)
    return ZoneInfo(DEFAULT_TIME_ZONE)


def cpias_time_zone(ref: ReferenceData, cpias: str) -> ZoneInfo:
    """A CPias's clock: that of its seat, the first département it covers (La Réunion's for
    the CPias Océan Indien, which also covers Mayotte); Paris's for an unknown CPias."""
    for d in ref.departements.values():
        if d.cpias_id == cpias:
            return time_zone_of(d.code)
    return ZoneInfo(DEFAULT_TIME_ZONE)


def local_today(departement: str, now: dt.datetime) -> dt.date:
    """The calendar day it is in `departement` at the instant `now` (timezone-aware): a date
    is "in the future" only against that day. Used by intake and `iaspipe route --explain`."""
    return now.astimezone(time_zone_of(departement)).date()


# -- FINESS: the département is in the prefix, not always the first two characters -------------

FINESS_PREFIXES: dict[str, str] = {
    "9701": "971",
    "9702": "972",
    "9703": "973",
    "9704": "974",
    "98": "976",
}


def departement_of_finess(finess: str) -> str:
    """The département a FINESS names: 2A/2B for Corsica, 9701-9704 for 971-974, 98 for
    Mayotte (976), else the first two characters (so an unlisted 97x prefix names none)."""
    finess = finess.upper()
    for prefix, departement in FINESS_PREFIXES.items():
        if finess.startswith(prefix):
            return departement
    return finess[:2]


def finess_key_ok(finess: str) -> bool | None:
    """The Luhn key over the 9 digits; None when it cannot be computed (Corsican FINESS hold
    letters, and no key rule is published for them). Any other FINESS is all digits: a
    letter elsewhere fails the key."""
    if len(finess) != 9 or finess.upper().startswith(("2A", "2B")):
        return None
    if not (finess.isascii() and finess.isdigit()):
        return False
    total = 0
    for i, char in enumerate(reversed(finess)):
        digit = int(char) * (2 if i % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0
