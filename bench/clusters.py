"""The cluster rule, measured (`python -m bench --only clusters`, docs/clusters.md).

1. Quality: a seeded year of one region's activity (bench/synthetic.py: background
   declarations and planted outbreaks) goes through the CPias use case that opens cases
   (services.cpias.service.receive_routed) into PostgreSQL, in the order the CPias receives
   it. The suggested links are scored against the planted truth, pair by pair: precision,
   recall, and why each missed pair was missed (what the rule cannot see by design, what the
   cap on suggestions dropped). Other windows and caps are replayed in memory with the same
   domain function, for comparison.
2. Scale: 100,000 declarations of every region over three years are bulk-loaded (COPY) with
   their episode keys, then new cases of one region are opened through the same use case and
   timed; EXPLAIN shows the candidates and threshold queries use their indexes.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import statistics
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from prometheus_client import REGISTRY
from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, sessionmaker

from bench.load import Database
from bench.synthetic import Generator, Synthetic
from iaspipe.db import make_engine, upgrade
from schemas.declaration import Declaration
from schemas.events import DeclarationRouted, Priority, RecipientDecision
from schemas.reference import reference
from schemas.topics import recipient_topic
from services.cpias import service
from services.cpias.adapters.orm import CaseRow, EpisodeRow, LinkRow
from services.cpias.adapters.repositories import departement_query, matching_query
from services.cpias.adapters.uow import SqlCpiasUnitOfWork
from services.cpias.app import MIGRATIONS
from services.cpias.domain.clusters import ClusterRules, Episode, EpisodeKey, episode_keys, suggest

SEED = 20261124
ACK = {"urgent": 4.0, "high": 24.0, "normal": 72.0}
Pair = frozenset[str]


# -- feeding the CPias -----------------------------------------------------------------------


def routed(s: Synthetic, sequence: int) -> DeclarationRouted:
    """The DeclarationRouted the router would send the CPias for a synthetic declaration."""
    return DeclarationRouted(
        declaration_id=s.declaration_id,
        reference=f"IAS-{s.received_at.year}-{s.region_code}-{sequence:06d}",
        kind="initial",
        source_event_id=uuid.uuid5(uuid.UUID(s.declaration_id), "submitted"),
        received_at=s.received_at,
        region_code=s.region_code,
        cpias=s.cpias,
        priority=Priority.high,
        rules_version="bench",
        recipient=RecipientDecision(
            id=s.cpias,
            kind="cpias",
            topic=recipient_topic(s.cpias),
            legal_basis=["R6111-17"],
            reason="bench",
        ),
        declaration=Declaration.model_validate(s.declaration),
    )


def feed(
    sessions: sessionmaker[Session],
    synthetics: Sequence[Synthetic],
    rules: ClusterRules,
    *,
    first: int = 1,
) -> list[float]:
    """Open a case for each declaration, in order, through the CPias use case; the seconds
    each took (its transaction committed)."""
    took = []
    for n, s in enumerate(synthetics, start=first):
        event = routed(s, n)
        started = time.perf_counter()
        service.receive_routed(
            SqlCpiasUnitOfWork(sessions),
            str(uuid.uuid5(event.source_event_id, "routed")),
            event,
            ack_hours=ACK,
            now=s.received_at,
            clusters=rules,
        )
        took.append(time.perf_counter() - started)
    return took


def suggested_pairs(sessions: sessionmaker[Session]) -> set[Pair]:
    """Pairs of declaration ids the rule suggested (whatever was decided since)."""
    with sessions() as s:
        ids = {r[0]: r[1] for r in s.execute(select(CaseRow.id, CaseRow.declaration_id))}
        links = s.execute(
            select(LinkRow.case_id, LinkRow.other_case_id).where(LinkRow.created_by == "system")
        ).all()
    return {frozenset((ids[a], ids[b])) for a, b in links}


# -- scoring ---------------------------------------------------------------------------------


def truth(synthetics: Iterable[Synthetic]) -> set[Pair]:
    groups: dict[int, list[str]] = defaultdict(list)
    for s in synthetics:
        if s.outbreak is not None:
            groups[s.outbreak].append(s.declaration_id)
    return {frozenset(p) for ids in groups.values() for p in itertools.combinations(ids, 2)}


def replay(synthetics: Sequence[Synthetic], rules: ClusterRules) -> set[Pair]:
    """The rule's suggestions computed in memory, in the same order: what the database run
    records (tested), for other settings at no cost."""
    seen: dict[tuple[str, str, str], list[Episode]] = defaultdict(list)
    pairs: set[Pair] = set()
    for n, s in enumerate(synthetics, start=1):
        keys = episode_keys(s.declaration, s.region_code)
        finess = s.declaration["establishment"]["finess"]
        candidates = [
            e for k in keys for e in seen[(k.region_code, k.mechanism_family, k.organism)]
        ]
        for found in suggest(keys, finess, candidates, rules, case_id=s.declaration_id):
            pairs.add(frozenset((s.declaration_id, found.case_id)))
        reference_ = f"IAS-{s.received_at.year}-{s.region_code}-{n:06d}"
        for k in keys:
            seen[(k.region_code, k.mechanism_family, k.organism)].append(
                Episode(s.declaration_id, reference_, finess, k)
            )
    return pairs


def why_missed(a: Synthetic, b: Synthetic, rules: ClusterRules) -> str:
    """Why the rule could not suggest a planted pair, or "capped" when it could."""
    ka, kb = episode_keys(a.declaration, a.region_code), episode_keys(b.declaration, b.region_code)
    if not ka or not kb:
        return "mechanism_not_stated"
    shared = [
        (x, y)
        for x in ka
        for y in kb
        if (x.organism, x.mechanism_family) == (y.organism, y.mechanism_family)
    ]
    if not shared:
        return "organism_not_comparable"
    if min(abs((x.episode_date - y.episode_date).days) for x, y in shared) > rules.window_days:
        return "beyond_window"
    return "capped"


def score(
    synthetics: Sequence[Synthetic], suggested: set[Pair], rules: ClusterRules
) -> dict[str, Any]:
    planted = truth(synthetics)
    found = suggested & planted
    by_id = {s.declaration_id: s for s in synthetics}
    missed: dict[str, int] = defaultdict(int)
    for pair in planted - suggested:
        a, b = (by_id[i] for i in pair)
        missed[why_missed(a, b, rules)] += 1
    reachable = len(planted) - sum(v for k, v in missed.items() if k != "capped")
    members: dict[int, list[str]] = defaultdict(list)
    for s in synthetics:
        if s.outbreak is not None:
            members[s.outbreak].append(s.declaration_id)
    connected = sum(1 for ids in members.values() if _connected(ids, found))
    linked = {i for pair in found for i in pair}
    cases = sum(len(ids) for ids in members.values())
    return {
        **_breakdown(by_id, suggested, planted),
        "suggested_pairs": len(suggested),
        "planted_pairs": len(planted),
        "true_pairs_suggested": len(found),
        "precision": round(len(found) / len(suggested), 3) if suggested else None,
        "recall": round(len(found) / len(planted), 3) if planted else None,
        "recall_of_reachable": round(len(found) / reachable, 3) if reachable else None,
        "missed_pairs_by_cause": dict(sorted(missed.items())),
        "outbreaks_fully_connected": f"{connected}/{len(members)}",
        "outbreak_cases_linked_to_their_outbreak": f"{len(linked)}/{cases}",
    }


def _breakdown(
    by_id: dict[str, Synthetic], suggested: set[Pair], planted: set[Pair]
) -> dict[str, Any]:
    """Precision by mechanism family and by place: where the rule is worth reading."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for pair in suggested:
        a, b = (by_id[i] for i in pair)
        ka, kb = (
            episode_keys(a.declaration, a.region_code),
            episode_keys(b.declaration, b.region_code),
        )
        family = min({k.mechanism_family for k in ka} & {k.mechanism_family for k in kb})
        same = (
            a.declaration["establishment"]["departement"]
            == b.declaration["establishment"]["departement"]
        )
        for key in (("family", family), ("place", "same_departement" if same else "elsewhere")):
            counts[key][0] += 1
            counts[key][1] += pair in planted
    return {
        f"precision_by_{axis}": {
            k: f"{tp}/{n} = {tp / n:.3f}" for (a, k), (n, tp) in sorted(counts.items()) if a == axis
        }
        for axis in ("family", "place")
    }


def _connected(ids: list[str], edges: set[Pair]) -> bool:
    parent = {i: i for i in ids}

    def root(i: str) -> str:
        while parent[i] != i:
            i = parent[i]
        return i

    for pair in edges:
        a, b = tuple(pair)
        if a in parent and b in parent:
            parent[root(a)] = root(b)
    return len({root(i) for i in ids}) == 1


def quality(db: Database, seed: int, rules: ClusterRules) -> dict[str, Any]:
    engine = make_engine(db.url)
    upgrade(engine, MIGRATIONS)
    sessions = sessionmaker(engine, expire_on_commit=False)
    year = Generator(seed, "84").year()
    took = feed(sessions, year, rules)
    suggested = suggested_pairs(sessions)
    engine.dispose()
    assert suggested == replay(year, rules), "the in-memory replay differs from the service"
    variants = []
    for window, cap in itertools.product((14, 21, 30, 45), (3, 5, 10, 1000)):
        variant = ClusterRules(window_days=window, max_suggestions=cap)
        s = score(year, replay(year, variant), variant)
        variants.append(
            {"window_days": window, "max_suggestions": cap}
            | {k: s[k] for k in ("precision", "recall", "suggested_pairs")}
        )
    return {
        "region": "84",
        "declarations": len(year),
        "planted_outbreaks": len({s.outbreak for s in year if s.outbreak is not None}),
        "planted_declarations": sum(1 for s in year if s.outbreak is not None),
        "settings": {"window_days": rules.window_days, "max_suggestions": rules.max_suggestions},
        **score(year, suggested, rules),
        "open_and_suggest_ms_at_this_size": _ms(took),
        "variants": variants,
    }


# -- scale -----------------------------------------------------------------------------------

CASE_COLUMNS = [
    "id",
    "declaration_id",
    "reference",
    "cpias",
    "region_code",
    "priority",
    "priority_rank",
    "status",
    "opened_at",
    "ack_due_at",
    "acknowledged_at",
    "closed_at",
    "outcome",
    "complement_received",
    "complement_received_at_close",
    "declaration",
    "complements",
    "routing",
    "received_at",
]
EPISODE_COLUMNS = [
    "case_id",
    "reference",
    "organism",
    "mechanism_family",
    "region_code",
    "departement",
    "finess",
    "episode_date",
]


def national(seed: int, total: int) -> list[Synthetic]:
    """`total` declarations of every region over three years, each region by its weight."""
    ref = reference()
    regions: dict[str, int] = defaultdict(int)
    for d in ref.departements.values():
        regions[d.region_code] += 1
    weight = sum(regions.values())
    out: list[Synthetic] = []
    for i, (region, n) in enumerate(sorted(regions.items())):
        share = total * n // weight if i < len(regions) - 1 else total - len(out)
        gen = Generator(seed + i, region, start=dt.date(2024, 1, 1))
        outbreaks = share // 30
        year = gen.year(background=share, outbreaks=outbreaks, days=3 * 365)
        out += year[:share]
    return out


def bulk_load(dsn: str, synthetics: Sequence[Synthetic]) -> int:
    """COPY cases (closed, as most old cases are) and their episode keys; returns keys."""
    keys = 0
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY cases ({', '.join(CASE_COLUMNS)}) FROM STDIN") as copy:
            for n, s in enumerate(synthetics, start=1):
                at = s.received_at
                copy.write_row(
                    (
                        str(uuid.UUID(s.declaration_id)),
                        s.declaration_id,
                        f"IAS-{at.year}-{s.region_code}-{n:06d}",
                        s.cpias,
                        s.region_code,
                        "high",
                        1,
                        "closed",
                        at,
                        at + dt.timedelta(hours=24),
                        at + dt.timedelta(hours=3),
                        at + dt.timedelta(days=40),
                        "controlled",
                        False,
                        False,
                        _json(s.declaration),
                        "[]",
                        "{}",
                        at,
                    )
                )
        with cur.copy(f"COPY case_episodes ({', '.join(EPISODE_COLUMNS)}) FROM STDIN") as copy:
            for n, s in enumerate(synthetics, start=1):
                finess = s.declaration["establishment"]["finess"]
                for k in episode_keys(s.declaration, s.region_code):
                    copy.write_row(
                        (
                            s.declaration_id,
                            f"IAS-{s.received_at.year}-{s.region_code}-{n:06d}",
                            k.organism,
                            k.mechanism_family,
                            k.region_code,
                            k.departement,
                            finess,
                            k.episode_date,
                        )
                    )
                    keys += 1
        conn.commit()
        cur.execute("ANALYZE cases")
        cur.execute("ANALYZE case_episodes")
        conn.commit()
    return keys


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


DIALECT: Any = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]


def explain(sessions: sessionmaker[Session], query: Any) -> list[str]:
    sql = str(query.compile(dialect=DIALECT, compile_kwargs={"literal_binds": True}))
    with sessions() as s:
        return [str(r[0]) for r in s.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {sql}"))]


def uses_index(plan: Sequence[str], index: str) -> bool:
    joined = "\n".join(plan)
    return index in joined and "Seq Scan" not in joined


def scale(
    db: Database, seed: int, total: int, new_cases: int, rules: ClusterRules
) -> dict[str, Any]:
    engine = make_engine(db.url)
    upgrade(engine, MIGRATIONS)
    sessions = sessionmaker(engine, expire_on_commit=False)
    started = time.perf_counter()
    loaded = national(seed, total)
    generated = time.perf_counter() - started
    keys = bulk_load(db.dsn, loaded)
    load_seconds = time.perf_counter() - started - generated
    fresh = Generator(seed + 1000, "84", start=dt.date(2026, 6, 1)).year(
        background=new_cases, outbreaks=0, days=180
    )
    detection = _detection()
    took = feed(sessions, fresh, rules, first=total + 1)
    detection_total, detection_count = (a - b for a, b in zip(_detection(), detection, strict=True))
    key = EpisodeKey("Klebsiella pneumoniae", "OXA-48", "84", "69", dt.date(2026, 9, 1))
    span = dt.timedelta(days=rules.window_days)
    matching = explain(sessions, matching_query([key], span))
    threshold = explain(sessions, departement_query([key], span))
    with sessions() as s:
        cases = s.scalar(select(text("count(*)")).select_from(CaseRow)) or 0
        candidates = len(s.execute(matching_query([key], span)).all())
        episodes = s.scalar(select(text("count(*)")).select_from(EpisodeRow)) or 0
    engine.dispose()
    return {
        "declarations_in_database": int(cases),
        "episode_keys": int(episodes),
        "bulk_keys_loaded": keys,
        "generate_seconds": round(generated, 1),
        "copy_seconds": round(load_seconds, 1),
        "new_cases_opened": len(fresh),
        "open_and_suggest_ms": _ms(took),
        "detection_ms_mean": round(1000 * detection_total / max(detection_count, 1), 2),
        "candidates_for_a_common_key": candidates,
        "matching_query_uses_index": uses_index(matching, "ix_case_episodes_match"),
        "threshold_query_uses_index": uses_index(threshold, "ix_case_episodes_threshold"),
        "explain_matching": matching,
        "explain_threshold": threshold,
    }


def _detection() -> tuple[float, float]:
    """(sum, count) of cpias_cluster_detection_seconds: the cluster rule's own share of
    opening a case (keys, suggestions, thresholds), without the rest of the transaction."""
    total = REGISTRY.get_sample_value("cpias_cluster_detection_seconds_sum") or 0.0
    count = REGISTRY.get_sample_value("cpias_cluster_detection_seconds_count") or 0.0
    return total, count


def _ms(seconds: Sequence[float]) -> dict[str, float]:
    ms = sorted(x * 1000 for x in seconds)
    return {
        "p50": round(statistics.median(ms), 2),
        "p95": round(ms[int(0.95 * (len(ms) - 1))], 2),
        "max": round(ms[-1], 2),
    }


def main(seed: int = SEED, total: int = 100_000, new_cases: int = 200) -> dict[str, Any]:
    rules = ClusterRules()
    db = Database("iaspipe_bench_clusters")
    try:
        result = {"seed": seed, "quality": quality(db, seed, rules)}
    finally:
        db.drop()
    db = Database("iaspipe_bench_clusters_scale")
    try:
        result["scale"] = scale(db, seed, total, new_cases, rules)
    finally:
        db.drop()
    return result
