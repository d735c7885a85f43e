"""Organism knowledge shared by the warnings and the router's priority (schemas/organisms.py)."""

from __future__ import annotations

import pytest

from schemas.organisms import (
    Taxon,
    is_candida_auris,
    is_enterobacterales,
    is_enterococcus,
    is_legionella,
    is_mycobacterium_tuberculosis,
    is_staphylococcus_aureus,
    mechanism_families,
    mechanism_family,
    normalise_species,
    same_species,
)


@pytest.mark.parametrize(
    ("text", "taxon"),
    [
        ("Klebsiella pneumoniae", ("Klebsiella", "pneumoniae")),
        ("  KLEBSIELLA   PNEUMONIAE ", ("Klebsiella", "pneumoniae")),
        ("K. pneumoniae", ("Klebsiella", "pneumoniae")),
        ("K.pneumoniae OXA-48", ("Klebsiella", "pneumoniae")),
        ("S. pneumoniae", ("Streptococcus", "pneumoniae")),
        ("E. coli", ("Escherichia", "coli")),
        ("E. faecium", ("Enterococcus", "faecium")),
        ("Entérocoque faecium", ("Enterococcus", "faecium")),
        ("Enterobacter aerogenes", ("Klebsiella", "aerogenes")),
        ("Clostridium difficile", ("Clostridioides", "difficile")),
        ("Candidozyma auris", ("Candida", "auris")),
        ("Candida (Candidozyma) auris", ("Candida", "auris")),
        ("Candidozyma (Candida) auris", ("Candida", "auris")),
        ("Klebsiella (Enterobacter) aerogenes", ("Klebsiella", "aerogenes")),
        ("Staphylocoque doré", ("Staphylococcus", "aureus")),
        ("Staph. aureus", ("Staphylococcus", "aureus")),
        ("Staph doré", ("Staphylococcus", "aureus")),
        ("S. doré", ("Staphylococcus", "aureus")),
        ("SARM", ("Staphylococcus", "aureus")),
        ("Bacille de Koch", ("Mycobacterium", "tuberculosis")),
        ("Klebsiella spp.", ("Klebsiella", "")),
        ("Legionella pneumophila sérogroupe 1", ("Legionella", "pneumophila")),
        ("Entérobactérie productrice de carbapénémase", ("Enterobacterales", "")),
        ("X. unknownia", ("X.", "unknownia")),
        # a mechanism or a resistance written after the genus is not a species
        ("Klebsiella OXA-48", ("Klebsiella", "")),
        ("Klebsiella blaKPC-2", ("Klebsiella", "")),
        ("EPC OXA-48", ("Enterobacterales", "")),
        ("ERV vanA", ("Enterococcus", "")),
        ("Enterococcus vanB", ("Enterococcus", "")),
        ("Klebsiella productrice de carbapénémase", ("Klebsiella", "")),
        ("Pseudomonas BMR", ("Pseudomonas", "")),
        ("Klebsiella BLSE", ("Klebsiella", "")),
        ("Enterobacter vanbreuseghemii", ("Enterobacter", "vanbreuseghemii")),
        ("S. liquefaciens", ("Serratia", "liquefaciens")),
        ("E. gallinarum", ("Enterococcus", "gallinarum")),
        ("L. longbeachae", ("Legionella", "longbeachae")),
        ("", ("", "")),
    ],
)
def test_species_normalised_to_genus_and_species(text: str, taxon: tuple[str, str]) -> None:
    assert normalise_species(text) == Taxon(*taxon)


@pytest.mark.parametrize(
    "text",
    [
        "Candida auris",
        "Candida auris (clade I)",
        "Candida auris clade IV, résistante au fluconazole",
        "candida auris",
        "CANDIDA AURIS",
        "Candida\u00a0auris",
        "Candida\u202fauris",
        "Candida\tauris",
        "Candida-auris",
        "Candida_auris",
        "Candida auris.",
        "Cándida Aurís",
        "C. auris",
        "C.auris",
        "C auris",
        "c. AURIS",
        "Candidozyma auris",
        "Candidozyma auris (anciennement Candida auris)",
        "Candida (Candidozyma) auris",
    ],
    ids=repr,
)
def test_candida_auris_however_written(text: str) -> None:
    assert is_candida_auris(text)


@pytest.mark.parametrize(
    "text", ["Candida albicans", "Candida", "auris", "C. albicans", "Candidozyma haemuli", ""]
)
def test_other_candida_are_not_auris(text: str) -> None:
    assert not is_candida_auris(text)


def test_same_species_compares_normalised_names() -> None:
    assert same_species("K. pneumoniae", "Klebsiella pneumoniae (ST258)")
    assert not same_species("Klebsiella pneumoniae", "Klebsiella oxytoca")
    assert not same_species("", "")


def test_taxon_groups() -> None:
    assert is_enterobacterales(normalise_species("Serratia marcescens"))
    assert is_enterobacterales(normalise_species("EPC"))
    assert not is_enterobacterales(normalise_species("Pseudomonas aeruginosa"))
    assert is_enterococcus(normalise_species("Enterococcus faecalis"))
    assert is_staphylococcus_aureus(normalise_species("S. aureus"))
    assert not is_staphylococcus_aureus(normalise_species("S. epidermidis"))
    assert is_legionella(normalise_species("Légionelle"))
    assert is_mycobacterium_tuberculosis(normalise_species("M. tuberculosis complex"))
    assert not is_mycobacterium_tuberculosis(normalise_species("Mycobacterium chimaera"))


@pytest.mark.parametrize(
    ("text", "families"),
    [
        ("OXA-48", ("OXA-48",)),
        ("oxa48", ("OXA-48",)),
        ("OXA-48-like", ("OXA-48",)),
        ("OXA-48 like", ("OXA-48",)),
        ("OXA-181", ("OXA-48",)),
        ("OXA-232", ("OXA-48",)),
        ("blaOXA-244", ("OXA-48",)),
        ("OXA-405", ("OXA-48",)),
        ("OXA-436", ("OXA-48",)),
        ("OXA-517", ("OXA-48",)),
        ("OXA-4050", ()),
        ("KPC", ("KPC",)),
        ("KPC-3", ("KPC",)),
        ("blaKPC-2", ("KPC",)),
        ("NDM-1", ("NDM",)),
        ("ndm 5", ("NDM",)),
        ("VIM-2", ("VIM",)),
        ("IMP-4", ("IMP",)),
        # "-like" glued on, as for OXA-48
        ("NDMlike", ("NDM",)),
        ("KPC2like", ("KPC",)),
        ("VIM-2like", ("VIM",)),
        ("vanAlike", ("vanA",)),
        ("kpclikely", ()),
        ("NDM-1 + OXA-48", ("NDM", "OXA-48")),
        ("vanA", ("vanA",)),
        ("VanB", ("vanB",)),
        ("vanA/vanB", ("vanA", "vanB")),
        ("vanB2", ("vanB",)),
        ("VanB-1", ("vanB",)),
        ("vanB 3", ("vanB",)),
        ("vanB23", ()),
        ("vanC", ()),
        ("OXA-23", ()),
        ("important", ()),
        ("sérogroupe 1", ()),
        ("BLSE CTX-M-15", ()),
        ("", ()),
    ],
)
def test_mechanism_families(text: str, families: tuple[str, ...]) -> None:
    assert mechanism_families(text) == families
    assert mechanism_family(text) == (families[0] if families else None)
