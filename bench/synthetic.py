"""Seeded synthetic regional activity for the cluster rule (bench/clusters.py and its tests):
a year of background declarations with a realistic organism mix, spread over the
establishments of a region's départements, plus planted outbreaks of one organism and
mechanism spreading to 2-5 establishments over weeks. Anonymous like real declarations: no
patient appears anywhere; the declarants and establishments are invented.

The mix follows the shape of French healthcare-associated infection declarations: emerging
resistant bacteria (carbapenemase-producing Enterobacterales, OXA-48-like first, then NDM,
KPC, VIM, IMP; glycopeptide-resistant enterococci, mostly vanA) are the largest group, with
C. difficile, respiratory viruses, scabies, Legionella, MRSA and a few C. auris. Clinicians
write the same organism and mechanism many ways; some declarations give no mechanism, or only
"entérobactérie productrice de carbapénémase", or only a detection date."""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.reference import FINESS_PREFIXES, finess_key_ok, reference

SAMPLE = Path(__file__).resolve().parent.parent / "schemas/samples/cpe_cluster_lyon.json"

# Relative weight of each département of Auvergne-Rhône-Alpes (roughly its population);
# other regions weigh their départements alike.
DEPARTEMENT_WEIGHTS = {
    "69": 22,
    "38": 13,
    "42": 8,
    "63": 7,
    "74": 9,
    "01": 7,
    "26": 6,
    "73": 5,
    "03": 3,
    "07": 4,
    "43": 2,
    "15": 1,
}


@dataclass(frozen=True)
class Profile:
    """An organism as declarants write it: spellings, resistance, mechanism spellings."""

    name: str
    species: tuple[str, ...]
    resistance: tuple[str, ...] = ()
    mechanisms: tuple[str | None, ...] = (None,)


KP = ("Klebsiella pneumoniae", "K. pneumoniae", "K pneumoniae", "klebsiella pneumoniae")
EC = ("Escherichia coli", "E. coli", "E.coli", "Colibacille")
ECL = ("Enterobacter cloacae", "E. cloacae", "Enterobacter cloacae complex")
EF = ("Enterococcus faecium", "E. faecium", "Entérocoque faecium")
OXA48 = ("OXA-48", "OXA48", "blaOXA-48", "OXA-181", "OXA-244", "OXA-232", "OXA-48-like")

PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("oxa48-kp", KP, ("cpe",), OXA48),
        Profile("oxa48-ec", EC, ("cpe",), OXA48),
        Profile("oxa48-ecl", ECL, ("cpe",), OXA48),
        Profile("oxa48-cf", ("Citrobacter freundii", "C. freundii"), ("cpe",), OXA48),
        Profile("ndm-kp", KP, ("cpe",), ("NDM-1", "NDM", "blaNDM-5")),
        Profile("ndm-ec", EC, ("cpe",), ("NDM-5", "NDM-1", "NDM")),
        Profile("kpc-kp", KP, ("cpe",), ("KPC-3", "KPC-2", "KPC")),
        Profile("vim-ecl", ECL, ("cpe",), ("VIM-1", "VIM", "VIM-4")),
        Profile("imp-ecl", ECL, ("cpe",), ("IMP-1", "IMP")),
        Profile("oxa48-ndm-kp", KP, ("cpe",), ("OXA-48 + NDM-1", "OXA-181/NDM-5")),
        Profile("cpe-unknown", KP + EC, ("cpe",), (None, "en cours de typage")),
        Profile("vana-ef", EF, ("gre",), ("vanA", "VanA", "van A")),
        Profile("vanb-ef", EF, ("gre",), ("vanB", "VanB")),
        Profile("mrsa", ("Staphylococcus aureus", "SARM", "S. aureus"), ("mrsa",)),
        Profile("c-auris", ("Candida auris", "C. auris", "Candidozyma auris")),
        Profile("c-diff", ("Clostridioides difficile", "C. difficile", "Clostridium difficile")),
        Profile("legionella", ("Legionella pneumophila", "Legionella pneumophila sérogroupe 1")),
        Profile("scabies", ("Sarcoptes scabiei", "Gale (Sarcoptes scabiei)")),
        Profile("flu", ("Virus influenza A", "Grippe A")),
        Profile("covid", ("SARS-CoV-2",)),
        Profile("norovirus", ("Norovirus",)),
        Profile("esbl", KP + EC, ("esbl",)),
        Profile("crab", ("Acinetobacter baumannii",), ("carbapenem_resistant_acinetobacter",)),
        Profile("crpa", ("Pseudomonas aeruginosa",), ("carbapenem_resistant_pseudomonas",)),
        Profile("aspergillus", ("Aspergillus fumigatus",)),
        Profile("gas", ("Streptococcus pyogenes",)),
        Profile("tb", ("Mycobacterium tuberculosis",)),
    )
}
# Share of each profile among the background declarations (per cent).
BACKGROUND_MIX: dict[str, float] = {
    "oxa48-kp": 14,
    "oxa48-ec": 8,
    "oxa48-ecl": 4,
    "oxa48-cf": 2,
    "ndm-kp": 3,
    "ndm-ec": 3,
    "kpc-kp": 2,
    "vim-ecl": 2,
    "imp-ecl": 0.5,
    "oxa48-ndm-kp": 1.5,
    "cpe-unknown": 2,
    "vana-ef": 6,
    "vanb-ef": 1,
    "mrsa": 3,
    "c-auris": 0.5,
    "c-diff": 12,
    "legionella": 4,
    "scabies": 7,
    "flu": 6,
    "covid": 4,
    "norovirus": 2,
    "esbl": 5,
    "crab": 2,
    "crpa": 3,
    "aspergillus": 1,
    "gas": 2,
    "tb": 1,
}
# Organisms of the planted outbreaks.
OUTBREAK_MIX: dict[str, float] = {
    "oxa48-kp": 35,
    "oxa48-ec": 5,
    "ndm-kp": 10,
    "ndm-ec": 6,
    "kpc-kp": 8,
    "vim-ecl": 5,
    "vana-ef": 17,
    "c-auris": 6,
    "mrsa": 8,
}


@dataclass(frozen=True)
class Establishment:
    finess: str
    name: str
    kind: str
    departement: str


@dataclass(frozen=True)
class Synthetic:
    """One generated declaration and what the generator knows about it."""

    declaration_id: str
    declaration: dict[str, Any]
    region_code: str
    cpias: str
    received_at: dt.datetime
    profile: str
    outbreak: int | None
    mechanism_stated: bool
    genus_only: bool


def finess(departement: str, serial: int) -> str:
    prefix = next((p for p, d in FINESS_PREFIXES.items() if d == departement), departement)
    first8 = prefix + f"{serial:0{8 - len(prefix)}d}"
    if not first8.isdigit():  # Corsica: letters, no key
        return first8 + "1"
    return next(first8 + k for k in "0123456789" if finess_key_ok(first8 + k))


def establishments(region_code: str, per_departement: int = 12) -> list[Establishment]:
    ref = reference()
    codes = sorted(c for c, d in ref.departements.items() if d.region_code == region_code)
    out = []
    for code in codes:
        count = per_departement * DEPARTEMENT_WEIGHTS.get(code, 6) // 6
        for i in range(max(count, 2)):
            kind = "ES" if i % 3 else "ESMS"
            out.append(
                Establishment(finess(code, i + 1), f"Établissement {code}-{i + 1}", kind, code)
            )
    return out


class Generator:
    """Declarations of one region over `days` from `start`, drawn from a seeded RNG."""

    def __init__(self, seed: int, region_code: str = "84", *, start: dt.date | None = None):
        self.rng = random.Random(seed)  # noqa: S311 - reproducible data, not secrets
        self.region_code = region_code
        self.start = start or dt.date(2026, 1, 1)
        self.places = establishments(region_code)
        self.cpias = reference().departements[self.places[0].departement].cpias_id
        self.by_departement: dict[str, list[Establishment]] = {}
        for e in self.places:
            self.by_departement.setdefault(e.departement, []).append(e)
        self.weights = [DEPARTEMENT_WEIGHTS.get(e.departement, 6) for e in self.places]
        self.sample = json.loads(SAMPLE.read_text(encoding="utf-8"))
        self.next_outbreak = 0

    def year(self, background: int = 600, outbreaks: int = 24, days: int = 365) -> list[Synthetic]:
        """`background` sporadic declarations and `outbreaks` planted outbreaks, in the order
        the CPias receives them."""
        out = [self.sporadic(days) for _ in range(background)]
        for _ in range(outbreaks):
            out += self.outbreak(days)
        return sorted(out, key=lambda s: (s.received_at, s.declaration_id))

    def sporadic(self, days: int) -> Synthetic:
        place = self.rng.choices(self.places, self.weights)[0]
        profile = self._pick(BACKGROUND_MIX)
        onset = self.start + dt.timedelta(days=self.rng.randrange(days))
        return self._declaration(place, PROFILES[profile], onset, None)

    def outbreak(self, days: int) -> list[Synthetic]:
        """One organism and mechanism spreading from an index establishment to 1-4 others,
        mostly of the same département, a few days to three weeks apart."""
        number, self.next_outbreak = self.next_outbreak, self.next_outbreak + 1
        profile = PROFILES[self._pick(OUTBREAK_MIX)]
        mechanism = self.rng.choice(profile.mechanisms)
        size = self.rng.choices([2, 3, 4, 5], [35, 30, 20, 15])[0]
        index = self.rng.choices(self.places, self.weights)[0]
        places = [index]
        while len(places) < size:
            nearby = [e for e in self.by_departement[index.departement] if e not in places]
            farther = [e for e in self.places if e.departement != index.departement]
            farther = [e for e in farther if e not in places]
            pool = nearby if nearby and (self.rng.random() < 0.7 or not farther) else farther
            places.append(self.rng.choice(pool))
        onset = self.start + dt.timedelta(days=self.rng.randrange(max(days - 60, 1)))
        out = []
        for place in places:
            out.append(self._declaration(place, profile, onset, number, mechanism))
            if self.rng.random() < 0.1:  # a second wave in the same establishment
                later = onset + dt.timedelta(days=self.rng.randint(10, 25))
                out.append(self._declaration(place, profile, later, number, mechanism))
            onset += dt.timedelta(days=self.rng.randint(2, 20))
        return out

    def _pick(self, mix: dict[str, float]) -> str:
        return self.rng.choices(list(mix), list(mix.values()))[0]

    def _declaration(
        self,
        place: Establishment,
        profile: Profile,
        onset: dt.date,
        outbreak: int | None,
        mechanism: str | None = None,
    ) -> Synthetic:
        rng = self.rng
        species = rng.choice(profile.species)
        mechanism = mechanism if outbreak is not None else rng.choice(profile.mechanisms)
        stated = mechanism is not None
        genus_only = False
        if outbreak is not None and profile.resistance and rng.random() < 0.08:
            mechanism, stated = None, False  # typing not done yet
        if outbreak is not None and "cpe" in profile.resistance and rng.random() < 0.05:
            species, genus_only = "Entérobactérie productrice de carbapénémase", True
        detection = onset + dt.timedelta(days=rng.randint(0, 5))
        body = copy.deepcopy(self.sample)
        body["establishment"] = {
            "finess": place.finess,
            "name": place.name,
            "kind": place.kind,
            "departement": place.departement,
            "unit": rng.choice(["Réanimation", "Médecine interne", "Gériatrie", "Chirurgie"]),
        }
        infected, colonised = rng.randint(0, 2), rng.randint(0, 4)
        infected += 0 if infected + colonised else 1
        body["criteria"] = ["1a", "2"] if infected + colonised > 1 else ["1a"]
        body["infection"].update(
            {
                "nature": "Signalement synthétique du banc d'essai",
                "sites": ["colonisation_only"] if not infected else ["bacteraemia"],
                "onset_date": None if rng.random() < 0.4 else onset.isoformat(),
                "detection_date": detection.isoformat(),
                "circumstances": "Cas généré pour mesurer la détection des regroupements",
                "cases_infected": infected,
                "cases_colonised": colonised,
                "deaths": 0,
                "pathogens": [
                    {
                        "species": species,
                        "resistance": list(profile.resistance),
                        "mechanism": mechanism,
                    }
                ],
            }
        )
        received = dt.datetime.combine(
            detection + dt.timedelta(days=rng.randint(0, 3)), dt.time(8), dt.UTC
        ) + dt.timedelta(minutes=rng.randrange(600))
        return Synthetic(
            declaration_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            declaration=body,
            region_code=self.region_code,
            cpias=self.cpias,
            received_at=received,
            profile=profile.name,
            outbreak=outbreak,
            mechanism_stated=stated,
            genus_only=genus_only,
        )


# --- declarations of several regions, for the stack's benchmarks (bench/chaos.py, e2e.py) -

REGIONS = ("84", "11", "93", "75", "53")  # ARA, Île-de-France, PACA, Nouvelle-Aquitaine, Bretagne


@dataclass
class Item:
    """One declaration to send: its Idempotency-Key, its JSON body, its establishment."""

    key: str
    body: bytes
    finess: str


def declarations(count: int, seed: int) -> list[Item]:
    """Synthetic declarations of several regions (a realistic organism mix with planted
    outbreaks), with onset dates between thirteen and two months ago."""
    start = dt.date.today() - dt.timedelta(days=400)
    generators = [Generator(seed + i, region, start=start) for i, region in enumerate(REGIONS)]
    out: list[Item] = []
    while len(out) < count:
        for g in generators:
            for s in g.year(background=40, outbreaks=2, days=300):
                out.append(
                    Item(
                        str(uuid.uuid4()),
                        json.dumps(s.declaration, ensure_ascii=False).encode(),
                        s.declaration["establishment"]["finess"],
                    )
                )
    random.Random(seed).shuffle(out)  # noqa: S311 - a reproducible order, not a secret
    return out[:count]
