"""The cluster bench in small (bench/synthetic.py, bench/clusters.py): the generator is
seeded and its declarations are ones intake accepts; the service finds the planted outbreaks
the rule can see; on PostgreSQL the rule's two queries use their indexes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import sessionmaker

from bench.clusters import (
    bulk_load,
    explain,
    feed,
    national,
    replay,
    score,
    suggested_pairs,
    uses_index,
)
from bench.synthetic import Generator
from iaspipe.db import make_engine, upgrade
from schemas.reference import reference
from schemas.validation import check_declaration
from services.cpias.adapters.repositories import departement_query, matching_query
from services.cpias.app import MIGRATIONS
from services.cpias.domain.clusters import ClusterRules, EpisodeKey


def test_generator_is_seeded_and_intake_would_accept_every_declaration() -> None:
    one = Generator(5).year(background=150, outbreaks=6)
    assert [s.declaration for s in one] == [s.declaration for s in Generator(5).year(150, 6)]
    assert [s.declaration for s in one] != [s.declaration for s in Generator(6).year(150, 6)]
    for s in one:
        _, problems = check_declaration(s.declaration, ref=reference(), today=dt.date(2030, 1, 1))
        assert problems == [], problems  # anonymous and coherent, like real ones
    planted = [s for s in one if s.outbreak is not None]
    assert len({s.outbreak for s in planted}) == 6
    assert all(sum(1 for p in planted if p.outbreak == n) >= 2 for n in range(6))


def test_a_small_year_through_the_service_finds_what_the_rule_can_see(tmp_path: Any) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/c.db")
    upgrade(engine, MIGRATIONS)
    year = Generator(11).year(background=150, outbreaks=8)
    rules = ClusterRules()
    feed(sessionmaker(engine, expire_on_commit=False), year, rules)
    found = suggested_pairs(sessionmaker(engine))
    engine.dispose()
    assert found == replay(year, rules)  # the in-memory replay the bench compares settings with
    figures = score(year, found, rules)
    assert figures["recall_of_reachable"] >= 0.9
    assert figures["true_pairs_suggested"] > 0 and 0 < figures["precision"] < 1
    assert set(figures["missed_pairs_by_cause"]) <= {
        "mechanism_not_stated",
        "organism_not_comparable",
        "beyond_window",
        "capped",
    }


def test_the_rule_queries_use_their_indexes(pg_url: str) -> None:
    engine = make_engine(pg_url)
    upgrade(engine, MIGRATIONS)
    bulk_load(pg_url.replace("+psycopg", ""), national(3, 6000))
    key = EpisodeKey("Klebsiella pneumoniae", "OXA-48", "84", "69", dt.date(2025, 6, 1))
    # The consumer asks once for a whole poll: one condition per key of its cases.
    batch = [
        EpisodeKey(organism, family, region, departement, dt.date(2025, 1, 1) + dt.timedelta(d))
        for d, (organism, family, region, departement) in enumerate(
            [
                ("Klebsiella pneumoniae", "OXA-48", "84", "69"),
                ("Escherichia coli", "NDM", "84", "38"),
                ("Enterococcus faecium", "vanA", "11", "75"),
                ("Klebsiella pneumoniae", "KPC", "93", "13"),
            ]
            * 50
        )
    ]
    span = dt.timedelta(days=30)
    sessions = sessionmaker(engine)
    plans = {
        (name, len(keys)): explain(sessions, query(keys, span))
        for keys in ([key], batch)
        for name, query in (("match", matching_query), ("threshold", departement_query))
    }
    engine.dispose()
    for (name, _), plan in plans.items():
        assert uses_index(plan, f"ix_case_episodes_{name}"), plan
