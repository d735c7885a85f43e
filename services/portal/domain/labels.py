"""French words for the contract's values: choices in the form, statuses, timeline entries,
recipients. One place, so every page says the same thing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from schemas.reference import ReferenceData, french_moment, typographic

PARIS = ZoneInfo("Europe/Paris")

ESTABLISHMENT_KINDS = {
    "ES": "Établissement de santé (ES)",
    "ESMS": "Établissement ou service social ou médico-social (ESMS, dont EHPAD)",
    "ICE": "Installation autonome de chirurgie esthétique",
    "ville": "Exercice de ville (cabinet libéral, centre de santé…)",
}

# The kind beside an establishment's name in a table: its acronym, or words where it has none.
KIND_SHORT = {"ville": "Exercice de ville"}

DECLARANT_ROLES = {
    "responsable_signalement": "Responsable du signalement de l’établissement",
    "praticien_hygiene": "Praticien en hygiène (équipe opérationnelle d’hygiène)",
    "professionnel_sante": "Professionnel de santé",
    "representant_legal": "Représentant légal de l’établissement",
}

CRITERIA = {
    "1a": "1° a — Infection inhabituelle du fait du micro-organisme en cause : sa nature, "
    "ses caractéristiques ou son profil de résistance aux anti-infectieux",
    "1b": "1° b — Infection inhabituelle du fait de sa localisation ou des circonstances "
    "de sa survenue",
    "2": "2° — Cas groupés",
    "3": "3° — Décès lié à l’infection",
    "4": "4° — Maladie à déclaration obligatoire (article L3113-1)",
}

CRITERIA_CODES = {"1a": "1° a", "1b": "1° b", "2": "2°", "3": "3°", "4": "4°"}


_CRITERIA_ORDER = {code: i for i, code in enumerate(CRITERIA_CODES)}


def criteria_codes(criteria: list[str]) -> str:
    """["2", "1a"] -> "1° a, 2°": in the article's order, however the declarant ticked them."""
    ranked = sorted(criteria, key=lambda c: _CRITERIA_ORDER.get(c, len(_CRITERIA_ORDER)))
    return ", ".join(CRITERIA_CODES.get(c, c) for c in ranked)


SITES = {
    "bacteraemia": "Bactériémie",
    "surgical_site": "Infection du site opératoire",
    "urinary_tract": "Infection urinaire",
    "pneumonia": "Pneumopathie",
    "other_respiratory": "Autre infection respiratoire",
    "catheter": "Infection liée à un cathéter",
    "skin_soft_tissue": "Peau et tissus mous",
    "gastrointestinal": "Infection digestive",
    "bone_joint": "Os et articulations",
    "central_nervous_system": "Système nerveux central",
    "eye_ent": "Œil, ORL",
    "colonisation_only": "Colonisation seule, sans infection",
    "other": "Autre localisation",
}

RESISTANCES = {
    "cpe": "Entérobactérie productrice de carbapénémase (EPC)",
    "gre": "Entérocoque résistant aux glycopeptides (ERG)",
    "mrsa": "Staphylococcus aureus résistant à la méticilline (SARM)",
    "esbl": "Entérobactérie productrice de BLSE",
    "carbapenem_resistant_acinetobacter": "Acinetobacter baumannii résistant aux carbapénèmes",
    "carbapenem_resistant_pseudomonas": "Pseudomonas aeruginosa résistant aux carbapénèmes",
    "other": "Autre résistance",
}

ORIGINS = {
    "acquired_in_unit": "Acquise dans le service",
    "acquired_in_establishment": "Acquise dans l’établissement, dans un autre service",
    "imported": "Importée d’un autre établissement",
    "stay_abroad": "Séjour à l’étranger",
    "environment": "Environnement (eau, air…)",
    "unknown": "Inconnue",
}

# Each product, the vigilance it concerns and the article of that duty.
PRODUCTS = {
    "medical_device": ("Dispositif médical", "matériovigilance, article L5212-2"),
    "ivd": ("Dispositif médical de diagnostic in vitro", "réactovigilance, article L5222-3"),
    "drug": ("Médicament", "pharmacovigilance, article L5121-25"),
    "blood_product": ("Produit sanguin labile", "hémovigilance, article L1221-13"),
    "tissue_or_cells": ("Organe, tissu ou cellule", "biovigilance, article L1211-7-1"),
}


def to_the(noun: str) -> str:
    """ "à la" before a feminine noun, elided before a vowel or a mute h: "à la
    pharmacovigilance", "à l’hémovigilance"."""
    return f"à l’{noun}" if noun[:1].lower() in "aâàeéèêiîoôuh" else f"à la {noun}"


YES_NO = {"true": "Oui", "false": "Non"}

# Priority of the routing decision, kept by the case: (French, DSFR badge kind).
PRIORITIES = {
    "urgent": ("Urgente", "error"),
    "high": ("Élevée", "warning"),
    "normal": ("Normale", "blue-ecume"),
}

STATUSES = {
    "submitted": ("Envoyée", "info"),
    "routed": ("Transmise", "info"),
    "received_by_cpias": ("Reçue par le CPias", "info"),
    "acknowledged": ("Prise en compte", "purple-glycine"),
    "investigating": ("En investigation", "warning"),
    "monitoring": ("En surveillance", "warning"),
    "closed": ("Clôturée", "success"),
}

OUTCOMES = {
    "controlled": "épisode maîtrisé",
    "no_further_action": "sans suite à donner",
    "transferred": "transmis à une autre structure",
    "not_healthcare_associated": "infection non associée aux soins",
    "other": "autre issue",
}


def status_label(status: str) -> tuple[str, str]:
    """(French label, DSFR badge kind) of a declaration's status."""
    return STATUSES.get(status, (status, "info"))


def badge_choices(badges: Mapping[str, tuple[str, str]]) -> list[tuple[str, str]]:
    """The (value, French label) choices of a table of (French label, DSFR badge kind)."""
    return [(value, label) for value, (label, _kind) in badges.items()]


def recipient_name(recipient: str, ref: ReferenceData) -> str:
    """`ars-84` -> "ARS Auvergne-Rhône-Alpes", `cpias-ara` -> its name, and so on."""
    kind, _, rest = recipient.partition("-")
    regions = {d.region_code: d.region_name for d in ref.departements.values()}
    cpias = {d.cpias_id: d.cpias_name for d in ref.departements.values()}
    region = regions.get(rest, rest)
    names = {
        "ars": f"ARS {region}",
        "crpv": f"Centre régional de pharmacovigilance ({region})",
        "crmrv": f"Coordination régionale de matériovigilance et réactovigilance ({region})",
        "crhst": f"Coordination régionale d’hémovigilance ({region})",
        "sra": f"Structure régionale d’appui à la qualité ({region})",
    }
    if recipient in cpias:
        return cpias[recipient]
    if recipient == "spf":
        return "Santé publique France"
    if recipient == "ansm":
        return "ANSM"
    if recipient == "biovigilance":
        return "Biovigilance (ANSM)"
    return names.get(kind, recipient)


def timeline_label(kind: str) -> str:
    return {
        "submitted": "Déclaration envoyée",
        "routed": "Transmise aux destinataires",
        "complement_routed": "Complément transmis aux destinataires",
        "received": "Reçue par le CPias",
        "acknowledged": "Prise en compte par le CPias",
        "investigating": "Investigation en cours",
        "monitoring": "En surveillance",
        "complement_received": "Complément reçu par le CPias",
        "complement_submitted": "Complément envoyé",
        "closed": "Clôturée",
        "recipient_acknowledged": "Accusé de réception",
    }.get(kind, kind)


TITLES_WITH_ARTICLE = ("Dr ", "Dr. ", "Pr ", "Pr. ", "Docteur ", "Professeur ")


def of_person(name: str) -> str:
    """ "de" before a person's name as French writes it: "du Dr Paul Martin" (a title takes
    the article), "d’Anne Martin", "d’Hélène Roux" (a vowel or a mute h elides: first names
    with an aspirated h are rare), "de Claire Martin"; an e-mail address stands alone, in
    apposition ("le compte anne.martin@chu.example")."""
    if "@" in name:
        return name
    if name.startswith(TITLES_WITH_ARTICLE):
        return f"du {name}"
    if name[:1].upper() in "AEHIOUYÀÂÉÈÊËÎÏÔŒÙÛÜ":
        return f"d’{name}"
    return f"de {name}"


def local_time(at: dt.datetime, zone: ZoneInfo = PARIS) -> str:
    """A moment as its reader's clock shows it (Paris unless told): 25/11/2026 à 22 h 04."""
    return french_moment(at, zone)


def local_second(at: dt.datetime, zone: ZoneInfo = PARIS) -> str:
    """`local_time` to the second, where several entries may fall in one minute (the audit
    log): 25/11/2026 à 22 h 04 min 37 s."""
    return french_moment(at, zone, seconds=True)


def french_date(value: str | dt.date | None) -> str:
    """2026-11-10 -> 10/11/2026; anything else is shown as given."""
    if value is None or value == "":
        return ""
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    try:
        return dt.date.fromisoformat(value).strftime("%d/%m/%Y")
    except ValueError:
        return value


def after_colon(sentence: str) -> str:
    """A sentence set after "Label :", as French writes it: "La date…" -> "la date…"; an
    acronym or a proper noun that opens it keeps its capitals ("NIR…", "FINESS…")."""
    if (
        len(sentence) > 1
        and sentence[0].isupper()
        and (sentence[1].islower() or sentence[1] == "’")
    ):
        return sentence[0].lower() + sentence[1:]
    return sentence


# A value not among a list's, refused by a service: the API lists the codes it takes; a page
# offers its options by their labels, so it says to choose one of them.
CHOOSE = "Choisissez une des options proposées."
# A required answer left empty: the API says that it is missing; a page says what to do.
REQUIRED = "Renseignez ce champ obligatoire."


def message_of(problem: Any) -> str:
    """What a page says of a problem: its message, but for a value out of a list's or a
    required one left empty, where it says what to do."""
    rule = getattr(problem, "rule", None)
    if rule in ("enum", "literal_error"):
        return CHOOSE
    if rule == "missing":
        return REQUIRED
    return str(problem.message)


def said(message: str, article: str | None = None) -> str:
    """A problem, warning or obligation as the pages say it: French typography (the API's
    texts use straight apostrophes) and, inside the sentence, the articles the message does not
    cite already."""
    text = typographic(message)
    missing = [a for a in (article or "").split(", ") if a and a not in message]
    if not missing:
        return text
    body, stop = (text[:-1], ".") if text.endswith(".") else (text, "")
    word = "article" if len(missing) == 1 else "articles"
    return f"{body} ({word} {', '.join(missing)}){stop}"
