"""Migration 0003_clusters keys the cases opened before it, so that new cases find them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import column, insert, select, table

from iaspipe.db import make_engine, upgrade
from services.cpias.adapters.orm import CaseRow, EpisodeRow, LinkRow
from services.cpias.app import MIGRATIONS
from tests.factories import make_declaration

T0 = dt.datetime(2026, 11, 1, 8, 0, tzinfo=dt.UTC)


def old_case(case_id: str, pathogens: list[dict[str, object]]) -> dict[str, object]:
    return {
        "id": case_id,
        "declaration_id": f"d-{case_id}",
        "reference": f"IAS-2026-84-{case_id}",
        "cpias": "cpias-ara",
        "region_code": "84",
        "priority": "high",
        "priority_rank": 1,
        "status": "new",
        "opened_at": T0,
        "ack_due_at": T0,
        "complement_received": False,
        "declaration": make_declaration(infection__pathogens=pathogens),
        "complements": [],
        "routing": {},
        "received_at": T0,
    }


def test_cases_opened_before_the_migration_are_keyed(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine, MIGRATIONS, "0002")
    with engine.begin() as conn:
        conn.execute(
            insert(CaseRow.__table__),  # type: ignore[arg-type]
            [
                old_case(
                    f"{i:03d}",
                    [{"species": "K. pneumoniae", "resistance": ["cpe"], "mechanism": "OXA-48"}],
                )
                for i in range(1, 1502)  # more than one batch
            ]
            + [
                old_case(
                    "c-diff", [{"species": "C. difficile", "resistance": [], "mechanism": None}]
                )
            ],
        )
        old_links = table(
            "case_links",
            *(column(c) for c in ("case_id", "other_case_id", "kind", "created_by", "at")),
        )
        conn.execute(
            insert(old_links),
            [
                {
                    "case_id": "001",
                    "other_case_id": "002",
                    "kind": "same_episode",
                    "created_by": "inv",
                    "at": T0,
                }
            ],
        )
    upgrade(engine, MIGRATIONS)
    with engine.connect() as conn:
        keyed = conn.execute(
            select(EpisodeRow.case_id, EpisodeRow.organism, EpisodeRow.mechanism_family)
        ).all()
        link_status = conn.execute(select(LinkRow.status)).scalars().all()
    engine.dispose()
    assert len(keyed) == 1501
    assert {(o, f) for _, o, f in keyed} == {("Klebsiella pneumoniae", "OXA-48")}
    assert "c-diff" not in {c for c, _, _ in keyed}
    assert link_status == ["confirmed"]  # links made by investigators before are confirmed
