"""End to end: a complement reaches the recipients of the initial decision even though the
router was restarted with other rules and reference data in between."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemas import topics
from tests.conftest import Broker
from tests.events import changed_routing
from tests.factories import load_sample
from tests.kafka_read import read_topics
from tests.pipeline import Pipeline, eventually

pytestmark = pytest.mark.e2e


def test_complement_follows_the_initial_decision_after_the_router_changed_rules(
    broker: Broker, tmp_path: Path
) -> None:
    p = Pipeline(broker, tmp_path)
    try:
        p.start("intake", "router", "cpias")
        # Paris, a central catheter not yet declared: the CRMRV and the ANSM receive it.
        r = p.post("intake", "/v1/declarations", json=load_sample("candida_auris_paris_device"))
        assert r.status_code == 201, r.text
        declaration_id = r.json()["id"]

        def routed() -> list[str]:
            d = p.get("intake", f"/v1/declarations/{declaration_id}").json()
            return [t["kind"] for t in d["timeline"] if t["kind"] == "routed"]

        eventually(routed, what="initial decision back in intake")
        initial = p.get("intake", f"/v1/declarations/{declaration_id}").json()["recipients"]
        assert initial == ["ars-11", "spf", "cpias-idf", "crmrv-11", "ansm"]

        # New rules: no ANSM, other legal bases, another version.
        p.stop("router")
        changed = tmp_path / "rules-v3"
        changed.mkdir()
        changed_routing(changed)
        p.extra["router"] = {
            "RULES_FILE": str(changed / "rules.json"),
            "REFERENCE_DIR": str(changed),
        }
        p.start("router")
        assert p.get("router", "/v1/rules").json()["version"] == "2027-06-v3"

        r = p.post(
            "intake",
            f"/v1/declarations/{declaration_id}/complement",
            json={
                "cause_analysis": "Cathéter posé sans pack de pose",
                "action_plan": [{"action": "Audit de pose", "due_date": "2027-02-01"}],
            },
        )
        assert r.status_code == 202, r.text

        def complement_sent() -> list[dict]:
            records = read_topics(broker.bootstrap, ["ias.to.ansm.v1"], expect=2, timeout=2)
            events = [json.loads(rec.value)["payload"] for rec in records]
            return [e for e in events if e["kind"] == "complement"]

        (to_ansm,) = eventually(complement_sent, timeout=90, what="complement sent to the ANSM")
        assert to_ansm["rules_version"] == "2026-11-v2"
        assert to_ansm["recipient"]["legal_basis"] == ["L5212-2"]
        assert to_ansm["complement"]["cause_analysis"] == "Cathéter posé sans pack de pose"

        decisions = [
            json.loads(rec.value)["payload"]
            for rec in read_topics(broker.bootstrap, [topics.ROUTING], expect=2)
        ]
        assert [d["kind"] for d in decisions] == ["initial", "complement"]
        assert decisions[1]["decision"] == decisions[0]["decision"]

        def case_has_complement() -> bool:
            cases = p.get("cpias", "/v1/cases", params={"declaration_id": declaration_id})
            items = cases.json()["items"]
            return bool(items) and bool(items[0]["complement_received"])

        eventually(case_has_complement, what="complement attached to the CPias case")
    finally:
        p.stop_all()
