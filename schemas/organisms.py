"""What the rules know about micro-organisms, in one pure module: names as clinicians write
them, normalised to a genus and a species; Candida auris; the groups that resistance
categories belong to; the carbapenemase and glycopeptide-resistance mechanism families.

Used by the declaration warnings (schemas/validation.py) and by the router's priority, so
that "Candida auris (clade I)", "C. auris" and "Candidozyma auris" mean the same thing
everywhere. Matching folds case, accents, punctuation and every kind of whitespace
(non-breaking included), and ignores the words after the species.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import NamedTuple


class Taxon(NamedTuple):
    """A genus and a species epithet. `genus` is capitalised ("Klebsiella"), or an
    abbreviation ("K.") when it could not be resolved; `species` is lower case, "" when the
    text names only the genus ("Klebsiella spp.")."""

    genus: str
    species: str

    def __str__(self) -> str:
        return f"{self.genus} {self.species}".strip()


@lru_cache(maxsize=4096)
def fold(text: str) -> str:
    """Lower case, no accents, every run of anything but letters and digits one space."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", plain).split())


# Genus names as folded -> as written. Unknown genera are kept, capitalised.
ENTEROBACTERALES_GENERA = frozenset(
    {
        "Citrobacter",
        "Cronobacter",
        "Edwardsiella",
        "Enterobacter",
        "Escherichia",
        "Hafnia",
        "Klebsiella",
        "Kluyvera",
        "Kosakonia",
        "Leclercia",
        "Lelliottia",
        "Morganella",
        "Pantoea",
        "Pluralibacter",
        "Proteus",
        "Providencia",
        "Raoultella",
        "Salmonella",
        "Serratia",
        "Shigella",
        "Yersinia",
    }
)
# Written in place of a genus: the order itself ("entérobactérie productrice de
# carbapénémase", "EPC").
ENTEROBACTERALES = "Enterobacterales"

_GENERA = {
    g.casefold(): g
    for g in (
        *ENTEROBACTERALES_GENERA,
        "Acinetobacter",
        "Aspergillus",
        "Candida",
        "Candidozyma",
        "Clostridioides",
        "Clostridium",
        "Enterococcus",
        "Legionella",
        "Mycobacterium",
        "Pseudomonas",
        "Staphylococcus",
        "Stenotrophomonas",
        "Streptococcus",
    )
}

# French names and acronyms clinicians write for a genus (folded).
_VERNACULAR_GENERA = {
    "enterobacterie": ENTEROBACTERALES,
    "enterobacteries": ENTEROBACTERALES,
    "enterobacterales": ENTEROBACTERALES,
    "enterobacteriaceae": ENTEROBACTERALES,
    "epc": ENTEROBACTERALES,
    "ebpc": ENTEROBACTERALES,
    "cpe": ENTEROBACTERALES,
    "enterocoque": "Enterococcus",
    "enterocoques": "Enterococcus",
    "erg": "Enterococcus",
    "erv": "Enterococcus",
    "vre": "Enterococcus",
    "gre": "Enterococcus",
    "staphylocoque": "Staphylococcus",
    "staph": "Staphylococcus",
    "klebsielle": "Klebsiella",
    "legionelle": "Legionella",
    "legionelles": "Legionella",
    "candidozyma": "Candidozyma",
}

# Whole French names or acronyms of a species (folded token sequences, longest first).
_VERNACULAR_SPECIES: list[tuple[tuple[str, ...], Taxon]] = [
    (("staphylocoque", "dore"), Taxon("Staphylococcus", "aureus")),
    (("staph", "dore"), Taxon("Staphylococcus", "aureus")),
    (("s", "dore"), Taxon("Staphylococcus", "aureus")),
    (("bacille", "de", "koch"), Taxon("Mycobacterium", "tuberculosis")),
    (("bacille", "pyocyanique"), Taxon("Pseudomonas", "aeruginosa")),
    (("pyocyanique",), Taxon("Pseudomonas", "aeruginosa")),
    (("colibacille",), Taxon("Escherichia", "coli")),
    (("sarm",), Taxon("Staphylococcus", "aureus")),
    (("mrsa",), Taxon("Staphylococcus", "aureus")),
    (("bk",), Taxon("Mycobacterium", "tuberculosis")),
]

# Epithet -> genera it is found with: resolves "K. pneumoniae", "E. coli", "C. auris".
_EPITHETS: dict[str, tuple[str, ...]] = {
    "pneumoniae": ("Klebsiella", "Streptococcus"),
    "oxytoca": ("Klebsiella",),
    "aerogenes": ("Klebsiella", "Enterobacter"),
    "variicola": ("Klebsiella",),
    "coli": ("Escherichia",),
    "cloacae": ("Enterobacter",),
    "hormaechei": ("Enterobacter",),
    "freundii": ("Citrobacter",),
    "koseri": ("Citrobacter",),
    "marcescens": ("Serratia",),
    "mirabilis": ("Proteus",),
    "vulgaris": ("Proteus",),
    "morganii": ("Morganella",),
    "stuartii": ("Providencia",),
    "rettgeri": ("Providencia",),
    "enterica": ("Salmonella",),
    "typhi": ("Salmonella",),
    "sonnei": ("Shigella",),
    "flexneri": ("Shigella",),
    "alvei": ("Hafnia",),
    "ornithinolytica": ("Raoultella",),
    "planticola": ("Raoultella",),
    "faecium": ("Enterococcus",),
    "faecalis": ("Enterococcus",),
    "aureus": ("Staphylococcus",),
    "epidermidis": ("Staphylococcus",),
    "auris": ("Candida", "Candidozyma"),
    "albicans": ("Candida",),
    "glabrata": ("Candida",),
    "parapsilosis": ("Candida",),
    "aeruginosa": ("Pseudomonas",),
    "baumannii": ("Acinetobacter",),
    "tuberculosis": ("Mycobacterium",),
    "bovis": ("Mycobacterium",),
    "abscessus": ("Mycobacterium",),
    "chimaera": ("Mycobacterium",),
    "pneumophila": ("Legionella",),
    "longbeachae": ("Legionella",),
    "micdadei": ("Legionella",),
    "bozemanii": ("Legionella",),
    "dumoffii": ("Legionella",),
    "anisa": ("Legionella",),
    "feeleii": ("Legionella",),
    "gormanii": ("Legionella",),
    "jordanis": ("Legionella",),
    "quasipneumoniae": ("Klebsiella",),
    "michiganensis": ("Klebsiella",),
    "grimontii": ("Klebsiella",),
    "asburiae": ("Enterobacter",),
    "kobei": ("Enterobacter",),
    "ludwigii": ("Enterobacter",),
    "bugandensis": ("Enterobacter",),
    "roggenkampii": ("Enterobacter",),
    "braakii": ("Citrobacter",),
    "amalonaticus": ("Citrobacter",),
    "youngae": ("Citrobacter",),
    "farmeri": ("Citrobacter",),
    "fergusonii": ("Escherichia",),
    "liquefaciens": ("Serratia",),
    "fonticola": ("Serratia",),
    "rubidaea": ("Serratia",),
    "penneri": ("Proteus",),
    "alcalifaciens": ("Providencia",),
    "sakazakii": ("Cronobacter",),
    "agglomerans": ("Pantoea",),
    "enterocolitica": ("Yersinia",),
    "ascorbata": ("Kluyvera",),
    "adecarboxylata": ("Leclercia",),
    "gallinarum": ("Enterococcus",),
    "casseliflavus": ("Enterococcus",),
    "raffinosus": ("Enterococcus",),
    "avium": ("Enterococcus", "Mycobacterium"),
    "durans": ("Enterococcus",),
    "hirae": ("Enterococcus",),
    "difficile": ("Clostridioides", "Clostridium"),
    "pyogenes": ("Streptococcus",),
    "agalactiae": ("Streptococcus",),
    "maltophilia": ("Stenotrophomonas",),
    "fumigatus": ("Aspergillus",),
}

# Renamed taxa: both names are the same organism; the left one is read as the right one.
_SYNONYMS = {
    Taxon("Candidozyma", "auris"): Taxon("Candida", "auris"),
    Taxon("Enterobacter", "aerogenes"): Taxon("Klebsiella", "aerogenes"),
    Taxon("Clostridium", "difficile"): Taxon("Clostridioides", "difficile"),
}

_NOT_AN_EPITHET = frozenset(
    {
        "spp",
        "sp",
        "species",
        "sensu",
        "complex",
        "complexe",
        "groupe",
        # what clinicians write after a genus about its resistance: "Klebsiella productrice de
        # carbapénémase", "Pseudomonas BMR", "Klebsiella BLSE"
        "productrice",
        "producteur",
        "productrices",
        "producteurs",
        "resistant",
        "resistante",
        "resistants",
        "resistantes",
        "multiresistant",
        "multiresistante",
        "multiresistants",
        "multiresistantes",
        "carbapenemase",
        "bmr",
        "bhre",
        "blse",
        "esbl",
        "epc",
        "ebpc",
        "cpe",
        "erv",
        "erg",
        "vre",
        "gre",
        "sarm",
        "mrsa",
        "de",
        "du",
        "a",
        "avec",
        "et",
    }
)
# A resistance gene or enzyme written after a genus ("Klebsiella OXA-48", "Enterococcus vanA",
# "Klebsiella blaKPC-2"): never an epithet.
_MECHANISM_WORD = re.compile(
    r"(?:bla)?(?:oxa|kpc|ndm|vim|imp|ges|imi|sme|ctx|tem|shv|mcr|mec)"
    r"[0-9a-z]?[0-9]*|van[ab]?"
)


def _genus(word: str, epithet: str) -> str:
    if len(word) == 1:  # an abbreviation: the epithet tells which genus
        for genus in _EPITHETS.get(epithet, ()):
            if genus[0].casefold() == word:
                return genus
        return f"{word.upper()}."
    return _VERNACULAR_GENERA.get(word) or _GENERA.get(word) or word.capitalize()


def _is_epithet(word: str) -> bool:
    return word.isalpha() and word not in _NOT_AN_EPITHET and not _MECHANISM_WORD.fullmatch(word)


# Pure functions of short texts that come back again and again (the same species in every
# declaration of an outbreak): remembered.
@lru_cache(maxsize=4096)
def normalise_species(text: str) -> Taxon:
    """The genus and species a free-text name means, whatever its case, accents,
    punctuation or spacing, and whatever follows the species ("(clade I)", "OXA-48")."""
    words = fold(text).split()
    if not words:
        return Taxon("", "")
    for phrase, taxon in _VERNACULAR_SPECIES:
        if tuple(words[: len(phrase)]) == phrase:
            return taxon
    first, rest = words[0], words[1:]
    if len(rest) > 1 and rest[0] in _GENERA:
        rest = rest[1:]  # the other genus in brackets: "Candida (Candidozyma) auris"
    epithet = rest[0] if rest and _is_epithet(rest[0]) else ""
    if first in _VERNACULAR_GENERA and epithet == "dore":  # the rest is in _NOT_AN_EPITHET
        epithet = ""
    taxon = Taxon(_genus(first, epithet), epithet)
    return _SYNONYMS.get(taxon, taxon)


def is_known_genus(genus: str) -> bool:
    """A genus this module knows (not one only capitalised from what was written, as
    "Sars" from "SARS-CoV-2")."""
    return genus.casefold() in _GENERA or genus == ENTEROBACTERALES


def same_species(a: str, b: str) -> bool:
    """True when two texts name the same genus and species."""
    ta, tb = normalise_species(a), normalise_species(b)
    return bool(ta.genus) and ta == tb


CANDIDA_AURIS = Taxon("Candida", "auris")


def is_candida_auris(text: str) -> bool:
    """Candida auris however written: "Candida auris (clade I)", "C. auris", "C auris",
    "candida  AURIS", "Candidozyma auris"."""
    return normalise_species(text) == CANDIDA_AURIS


def is_abbreviation(taxon: Taxon) -> bool:
    """A genus given by its initial alone, with an epithet this module does not know ("S.
    fonticola" read as "S.")."""
    return len(taxon.genus) == 2 and taxon.genus.endswith(".")


def may_be(taxon: Taxon, test: Callable[[Taxon], bool]) -> bool:
    """Whether a taxon may pass `test`: an abbreviated genus may be any known genus of its
    initial ("E. xyz" may be an Enterococcus, an Escherichia or an Enterobacter)."""
    if not is_abbreviation(taxon):
        return test(taxon)
    initial = taxon.genus[0]
    return any(test(Taxon(g, taxon.species)) for g in _GENERA.values() if g[0] == initial)


def is_enterobacterales(taxon: Taxon) -> bool:
    return taxon.genus in ENTEROBACTERALES_GENERA or taxon.genus == ENTEROBACTERALES


def is_enterococcus(taxon: Taxon) -> bool:
    return taxon.genus == "Enterococcus"


def is_staphylococcus_aureus(taxon: Taxon) -> bool:
    return taxon == Taxon("Staphylococcus", "aureus")


def is_legionella(taxon: Taxon) -> bool:
    return taxon.genus == "Legionella"


def is_mycobacterium_tuberculosis(taxon: Taxon) -> bool:
    return taxon == Taxon("Mycobacterium", "tuberculosis")


# -- resistance mechanisms ------------------------------------------------------------------

CARBAPENEMASES = ("OXA-48", "KPC", "NDM", "VIM", "IMP")
GLYCOPEPTIDE_RESISTANCE = ("vanA", "vanB")

# OXA-48 and the enzymes of its family ("OXA-48-like"), as the literature lists them (for
# example Pitout et al., "The global ascendency of OXA-48-type carbapenemases", Clin
# Microbiol Rev 2019).
_OXA48_LIKE = (
    "48|162|163|181|199|204|232|244|245|247|252|370|405|416|436|438|439|484|505|514|515|517"
    "|519|535|538|546|547|566|567"
)
_MECHANISMS = re.compile(
    rf"(?<![a-z0-9])(?:bla\s?)?(?:(?P<oxa>oxa\s?(?:{_OXA48_LIKE}))(?![0-9])"
    r"|(?P<family>kpc|ndm|vim|imp)(?:\s?[0-9]+)?(?:like)?(?![a-z0-9])"
    # vanB's subtypes (vanB1, vanB2, vanB3) are vanB, as KPC-3 is KPC.
    r"|van\s?(?P<van>[ab])(?:\s?[0-9])?(?:like)?(?![a-z0-9]))"
)


@lru_cache(maxsize=4096)
def mechanism_families(text: str) -> tuple[str, ...]:
    """Every mechanism family a text names, in order, once each: "OXA-48-like + NDM-1" ->
    ("OXA-48", "NDM"); "vanA/vanB" -> ("vanA", "vanB"); "sérogroupe 1" -> ()."""
    found: list[str] = []
    for m in _MECHANISMS.finditer(fold(text)):
        if m["oxa"]:
            name = "OXA-48"
        elif m["family"]:
            name = m["family"].upper()
        else:
            name = f"van{m['van'].upper()}"
        if name not in found:
            found.append(name)
    return tuple(found)


def mechanism_family(text: str) -> str | None:
    """The first mechanism family a text names, or None."""
    families = mechanism_families(text)
    return families[0] if families else None


# -- families for outbreak detection (services/cpias/domain/clusters.py) ----------------------

MRSA = "MRSA"
C_AURIS = "C. auris"
# The families whose declarations the CPias compares across establishments: the
# carbapenemases (OXA-48 stands for the OXA-48-like family), the glycopeptide resistances,
# methicillin-resistant S. aureus and Candida auris.
CLUSTER_FAMILIES = (*CARBAPENEMASES, *GLYCOPEPTIDE_RESISTANCE, MRSA, C_AURIS)

_MRSA_NAMES = frozenset({"sarm", "mrsa"})


def cluster_families(
    species: str, resistance: Iterable[str], mechanism: str | None
) -> tuple[str, ...]:
    """The families of CLUSTER_FAMILIES one pathogen of a declaration belongs to, in order,
    once each: the mechanisms its `mechanism` names, or that are written after the species
    ("K. pneumoniae OXA-48"); MRSA for resistance `mrsa` or a species written SARM/MRSA;
    C. auris for the species however written. () for everything else (ESBL, C. difficile,
    Legionella...): the cluster rule does not compare them."""
    found = list(mechanism_families(f"{mechanism or ''} {species}"))
    if "mrsa" in {str(r).casefold() for r in resistance} or (
        set(fold(species).split()) & _MRSA_NAMES
    ):
        found.append(MRSA)
    if normalise_species(species) == CANDIDA_AURIS:
        found.append(C_AURIS)
    return tuple(dict.fromkeys(found))
