"""The cluster rule, pure (services/cpias/domain/clusters.py and schemas/organisms.py):
episode keys, suggestions and their reasons, thresholds, confirmed clusters."""

from __future__ import annotations

import datetime as dt
import random
import time
from typing import Any

import pytest

from schemas.organisms import cluster_families
from services.cpias.domain.clusters import (
    AlertBook,
    Cluster,
    ClusterRules,
    Episode,
    EpisodeKey,
    Member,
    Suggestion,
    continues,
    default_name,
    episode_keys,
    suggest,
    threshold_window,
)
from tests.factories import make_declaration

RULES = ClusterRules()
D0 = dt.date(2026, 11, 10)
T0 = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)


def key(
    organism: str = "Klebsiella pneumoniae",
    family: str = "OXA-48",
    *,
    region: str = "84",
    departement: str = "69",
    days: int = 0,
) -> EpisodeKey:
    return EpisodeKey(organism, family, region, departement, D0 + dt.timedelta(days=days))


def other(case_id: str, k: EpisodeKey, finess: str | None = None) -> Episode:
    return Episode(case_id=case_id, reference=f"IAS-2026-84-{case_id}", finess=finess, key=k)


def pathogens(*items: dict[str, Any]) -> dict[str, Any]:
    return make_declaration(infection__pathogens=list(items))


@pytest.mark.parametrize(
    ("species", "resistance", "mechanism", "families"),
    [
        ("Klebsiella pneumoniae", ["cpe"], "OXA-48", ("OXA-48",)),
        ("K. pneumoniae", ["cpe"], "blaOXA-181", ("OXA-48",)),
        ("E. coli", ["cpe"], "OXA-48 + NDM-1", ("OXA-48", "NDM")),
        ("Enterobacter cloacae KPC-3", ["cpe"], None, ("KPC",)),
        ("E. faecium", ["gre"], "vanA", ("vanA",)),
        ("Enterococcus faecalis", ["gre"], "VanB", ("vanB",)),
        ("Staphylococcus aureus", ["mrsa"], None, ("MRSA",)),
        ("SARM", [], None, ("MRSA",)),
        ("Candidozyma auris", [], None, ("C. auris",)),
        ("C. auris (clade I)", [], None, ("C. auris",)),
        ("Clostridioides difficile", [], None, ()),
        ("Escherichia coli", ["esbl"], None, ()),
        ("Klebsiella pneumoniae", ["cpe"], None, ()),
        ("Legionella pneumophila sérogroupe 1", [], None, ()),
    ],
)
def test_families_of_the_rule(
    species: str, resistance: list[str], mechanism: str | None, families: tuple[str, ...]
) -> None:
    assert cluster_families(species, resistance, mechanism) == families


def test_episode_keys_one_per_organism_and_family_with_onset_or_detection() -> None:
    body = pathogens(
        {"species": "K. pneumoniae", "resistance": ["cpe"], "mechanism": "OXA-48 et NDM-1"},
        {"species": "Klebsiella pneumoniae", "resistance": ["cpe"], "mechanism": "OXA-244"},
        {"species": "Staphylococcus aureus", "resistance": ["mrsa"], "mechanism": None},
        {"species": "Clostridioides difficile", "resistance": [], "mechanism": None},
    )
    keys = episode_keys(body, "84")
    assert [(k.organism, k.mechanism_family) for k in keys] == [
        ("Klebsiella pneumoniae", "OXA-48"),
        ("Klebsiella pneumoniae", "NDM"),
        ("Staphylococcus aureus", "MRSA"),
    ]
    assert {(k.region_code, k.departement, k.episode_date) for k in keys} == {
        ("84", "69", dt.date(2026, 11, 10))
    }
    body["infection"]["onset_date"] = None
    assert episode_keys(body, "84")[0].episode_date == dt.date(2026, 11, 12)  # detection


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Klebsiella OXA-48", "Klebsiella sp. OXA-48"),
        ("EPC OXA-48", "Entérobactérie productrice de carbapénémase OXA-48"),
        ("ERV vanA", "Enterococcus spp. vanA"),
        ("K. pneumoniae OXA-48", "Klebsiella pneumoniae"),
    ],
)
def test_a_mechanism_written_after_the_genus_keeps_the_organism(one: str, other: str) -> None:
    """The same organism, whether the mechanism stands after its genus or in its own field:
    one key, so the two cases can be suggested together."""

    def organisms(species: str) -> list[tuple[str, str]]:
        resistance = ["gre"] if "van" in species else ["cpe"]
        mechanism = "vanA" if "van" in species else "OXA-48"
        body = pathogens({"species": species, "resistance": resistance, "mechanism": mechanism})
        return [(k.organism, k.mechanism_family) for k in episode_keys(body, "84")]

    assert organisms(one) == organisms(other) != []


def test_suggests_same_organism_and_family_in_the_region_within_the_window() -> None:
    candidates = [
        other("same-dept", key(days=12)),
        other("edge", key(departement="38", days=-30)),
        other("too-late", key(days=31)),
        other("other-region", key(region="11", departement="75", days=1)),
        other("other-organism", key("Escherichia coli", days=1)),
        other("other-family", key(family="NDM", days=1)),
    ]
    found = suggest([key()], "690781810", candidates, RULES, case_id="new")
    assert [(s.case_id, s.days_apart, s.same_departement) for s in found] == [
        ("same-dept", 12, True),
        ("edge", 30, False),
    ]
    assert found[1].basis() == {
        "organism": "Klebsiella pneumoniae",
        "mechanism_family": "OXA-48",
        "days_apart": 30,
        "same_departement": False,
        "same_establishment": False,
        "departements": ["69", "38"],
    }
    assert "30 days apart" in found[1].text() and "30 j d'écart" in found[1].text()


def test_same_departement_first_then_closest_and_at_most_max_suggestions() -> None:
    candidates = [other(f"near-{i}", key(departement="38", days=i)) for i in range(1, 6)]
    candidates += [other(f"dept-{i}", key(days=20 + i)) for i in range(3)]
    found = suggest([key()], None, candidates, ClusterRules(max_suggestions=4), case_id="new")
    assert [s.case_id for s in found] == ["dept-0", "dept-1", "dept-2", "near-1"]


def test_never_suggests_itself_or_an_excluded_case_and_flags_the_same_establishment() -> None:
    candidates = [
        other("new", key()),
        other("dismissed", key(days=1)),
        other("same-place", key(days=2), finess="690781810"),
    ]
    found = suggest([key()], "690781810", candidates, RULES, case_id="new", excluded=["dismissed"])
    assert [(s.case_id, s.same_establishment) for s in found] == [("same-place", True)]


def test_one_suggestion_per_other_case_by_its_closest_shared_key() -> None:
    mine = [key(), key(family="NDM", days=5)]
    theirs = [other("x", key(days=20)), other("x", key(family="NDM", days=6))]
    found = suggest(mine, None, theirs, RULES, case_id="new")
    assert [(s.case_id, s.mechanism_family, s.days_apart) for s in found] == [("x", "NDM", 1)]


def test_window_is_a_setting() -> None:
    candidates = [other("a", key(days=10)), other("b", key(days=20))]
    found = suggest([key()], None, candidates, ClusterRules(window_days=14), case_id="new")
    assert [s.case_id for s in found] == ["a"]


def test_threshold_three_cases_of_a_family_within_the_window() -> None:
    new = key(days=29)
    window = threshold_window(new, [("a", D0), ("b", D0 + dt.timedelta(days=3))], RULES)
    assert window is not None
    assert (window.episodes, window.first_date, window.last_date) == (
        3,
        D0,
        D0 + dt.timedelta(days=29),
    )


def test_threshold_not_reached_beyond_the_window_or_below_n() -> None:
    assert threshold_window(key(days=31), [("a", D0), ("b", D0 + dt.timedelta(1))], RULES) is None
    assert threshold_window(key(days=3), [("a", D0)], RULES) is None
    # A case counts once, however many keys of the family it has.
    assert threshold_window(key(days=3), [("a", D0), ("a", D0 + dt.timedelta(1))], RULES) is None
    assert threshold_window(key(days=3), [("a", D0)], ClusterRules(threshold_episodes=2))


def test_a_later_case_overlapping_the_raised_window_continues_it() -> None:
    first = threshold_window(key(days=10), [("a", D0), ("b", D0 + dt.timedelta(5))], RULES)
    assert first is not None
    later = threshold_window(
        key(days=35),
        [("b", D0 + dt.timedelta(5)), ("c", D0 + dt.timedelta(10)), ("d", D0 + dt.timedelta(20))],
        RULES,
    )
    assert later is not None and continues(later, first.first_date, first.last_date)
    apart = threshold_window(
        key(days=80),
        [("x", D0 + dt.timedelta(70)), ("y", D0 + dt.timedelta(75))],
        RULES,
    )
    assert apart is not None and not continues(apart, first.first_date, first.last_date)


def suggestions_by_definition(
    keys: list[EpisodeKey], finess: str | None, candidates: list[Episode], rules: ClusterRules
) -> list[Suggestion]:
    """Every suggestion, the best per other case, sorted: same département first, the
    closest, then by reference and family; the first max_suggestions."""
    every = [
        Suggestion(
            case_id=c.case_id,
            reference=c.reference,
            organism=k.organism,
            mechanism_family=k.mechanism_family,
            days_apart=abs((c.key.episode_date - k.episode_date).days),
            same_departement=c.key.departement == k.departement,
            same_establishment=finess is not None and c.finess == finess,
            departements=(k.departement, c.key.departement),
        )
        for c in candidates
        for k in keys
        if (c.key.organism, c.key.mechanism_family, c.key.region_code)
        == (k.organism, k.mechanism_family, k.region_code)
        and abs((c.key.episode_date - k.episode_date).days) <= rules.window_days
        and c.case_id != "new"
    ]

    def rank(s: Suggestion) -> tuple[bool, int, str, str]:
        return (not s.same_departement, s.days_apart, s.reference, s.mechanism_family)

    best: dict[str, Suggestion] = {}
    for one in sorted(every, key=rank):
        best.setdefault(one.case_id, one)
    return sorted(best.values(), key=rank)[: rules.max_suggestions]


@pytest.mark.parametrize("seed", range(30))
def test_suggestions_on_random_candidates_are_those_of_the_definition(seed: int) -> None:
    rng = random.Random(seed)
    rules = ClusterRules(window_days=rng.choice([7, 30]), max_suggestions=rng.choice([1, 3, 10]))

    def some_key() -> EpisodeKey:
        return key(
            rng.choice(["Klebsiella pneumoniae", "Escherichia coli"]),
            rng.choice(["OXA-48", "NDM"]),
            region=rng.choice(["84", "11"]),
            departement=rng.choice(["69", "38"]),
            days=rng.randint(0, 60),
        )

    mine = list({some_key() for _ in range(rng.randint(1, 3))})
    mine = [k for k in mine if k.episode_date == mine[0].episode_date]  # one date a case
    candidates = [
        other(f"c{rng.randint(0, 40):02d}", some_key(), rng.choice([None, "690781810"]))
        for _ in range(rng.randint(0, 120))
    ]
    found = suggest(mine, "690781810", candidates, rules, case_id="new")
    assert found == suggestions_by_definition(mine, "690781810", candidates, rules)


def crossed_windows_by_brute_force(
    key: EpisodeKey, others: list[tuple[str, dt.date]], rules: ClusterRules
) -> tuple[int, dt.date, dt.date] | None:
    """The definition, quadratic: every window starting at a date that holds the key's and
    at least the threshold, taken together (most episodes, first date, last date)."""
    dates: dict[str, dt.date] = {}
    for case_id, date in others:
        dates[case_id] = min(date, dates.get(case_id, date))
    ordered = sorted([key.episode_date, *dates.values()])
    span = dt.timedelta(days=rules.threshold_days)
    crossed = [
        inside
        for start in ordered
        if start <= key.episode_date <= start + span
        for inside in [[d for d in ordered if start <= d <= start + span]]
        if len(inside) >= rules.threshold_episodes
    ]
    if not crossed:
        return None
    return (max(map(len, crossed)), min(w[0] for w in crossed), max(w[-1] for w in crossed))


def test_threshold_window_on_equal_dates_is_linear() -> None:
    others = [(f"c{i}", D0) for i in range(20_000)]
    started = time.perf_counter()
    window = threshold_window(key(), others, RULES)
    elapsed = time.perf_counter() - started
    assert window is not None
    assert (window.episodes, window.first_date, window.last_date) == (20_001, D0, D0)
    assert elapsed < 1.0  # the quadratic version took minutes on these dates


@pytest.mark.parametrize("seed", range(40))
def test_threshold_window_on_a_spread_spans_every_window_crossed_with_the_new_case(
    seed: int,
) -> None:
    rng = random.Random(seed)
    rules = ClusterRules(
        threshold_episodes=rng.choice([2, 3, 5]), threshold_days=rng.choice([1, 7, 30])
    )
    new = key(days=rng.randint(0, 90))
    others = [
        (f"c{rng.randint(0, 60)}", D0 + dt.timedelta(days=rng.randint(0, 90)))
        for _ in range(rng.randint(0, 80))
    ]
    window = threshold_window(new, others, rules)
    expected = crossed_windows_by_brute_force(new, others, rules)
    found = None if window is None else (window.episodes, window.first_date, window.last_date)
    assert found == expected


def test_threshold_window_on_a_spread_example() -> None:
    days = [0, 0, 3, 10, 12, 12, 40, 41, 45, 70]
    others = [(f"c{i}", D0 + dt.timedelta(d)) for i, d in enumerate(days)]
    window = threshold_window(key(days=35), others, RULES)
    assert window is not None
    # Windows holding day 35 start from day 5: 10..40 and 12..42 hold five dates each, 35..65
    # four (35, 40, 41, 45): together, days 10 to 45, five episodes at most; 0..30 holds five
    # too, but not the new case.
    assert (window.episodes, window.first_date, window.last_date) == (
        5,
        D0 + dt.timedelta(10),
        D0 + dt.timedelta(45),
    )


def test_a_case_declared_late_does_not_split_one_crossing_in_two() -> None:
    """Days 0, 9, 18, 37, 47 and 52 of one family and département: the threshold (3 in 30
    days) stays crossed from day 0 to day 52, whatever order the cases arrive in."""
    orders = [[0, 9, 18, 37, 47, 52], [0, 9, 37, 47, 18, 52], [52, 47, 37, 18, 9, 0]]
    for order in orders:
        book = AlertBook([])
        seen: list[tuple[str, dt.date]] = []
        for n in order:
            window = threshold_window(key(days=n), seen, RULES)
            if window is not None:
                book.reach(window, region_code="84", cpias="cpias-ara", rules=RULES, now=T0)
            seen.append((f"c{n}", D0 + dt.timedelta(n)))
        assert len(book.raised) == 1, order
        (alert,) = book.raised
        assert (alert.first_date, alert.last_date) == (D0, D0 + dt.timedelta(52)), order


def member(case_id: str, region: str, days: int) -> Member:
    return Member(case_id, "cpias-x", region, "69", D0 + dt.timedelta(days), "inv", T0)


def test_a_cluster_follows_its_members_and_is_flagged_once_per_new_region() -> None:
    cluster = Cluster.start(
        cluster_id="c",
        name=None,
        organism="Klebsiella pneumoniae",
        mechanism_family="OXA-48",
        first=member("a", "84", 0),
        by="inv",
        now=T0,
    )
    assert cluster.name == "OXA-48 Klebsiella pneumoniae, 69, 2026-11"
    assert cluster.take_in([member("a", "84", 0), member("b", "84", 9)], T0) is False
    assert (cluster.first_date, cluster.last_date) == (D0, D0 + dt.timedelta(9))
    two = [member("a", "84", 0), member("b", "84", 9), member("c", "11", -3)]
    assert cluster.take_in(two, T0) is True
    assert cluster.regions == ["11", "84"] and cluster.spf_flagged_at == T0
    assert cluster.first_date == D0 - dt.timedelta(3)
    assert cluster.take_in([*two, member("d", "84", 12)], T0) is False
    assert cluster.take_in([*two, member("e", "93", 12)], T0) is True


def test_default_name_without_a_shared_key() -> None:
    assert default_name(None, None, "69", D0) == "Cas groupés, 69, 2026-11"
