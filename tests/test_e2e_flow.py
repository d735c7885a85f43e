"""End to end: broker and services as processes, driven over HTTP."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cli.broker import free_port
from tests.conftest import Broker
from tests.factories import load_sample
from tests.pipeline import Pipeline, eventually

pytestmark = pytest.mark.e2e


@pytest.fixture
def pipeline(broker: Broker, tmp_path: Path) -> Iterator[Pipeline]:
    p = Pipeline(broker, tmp_path)
    p.start("intake", "router", "cpias")
    yield p
    p.stop_all()


def cases_of(p: Pipeline, declaration_id: str) -> list[dict]:
    r = p.get("cpias", "/v1/cases", params={"declaration_id": declaration_id})
    return list(r.json()["items"])


def kinds(p: Pipeline, declaration_id: str) -> list[str]:
    return [
        t["kind"] for t in p.get("intake", f"/v1/declarations/{declaration_id}").json()["timeline"]
    ]


def test_lyon_sample_reaches_the_cpias_queue_and_the_timeline_follows(pipeline: Pipeline) -> None:
    p = pipeline
    r = p.post("intake", "/v1/declarations", json=load_sample("cpe_cluster_lyon"))
    assert r.status_code == 201, r.text
    created = r.json()
    cases = eventually(lambda: cases_of(p, created["id"]), what="case opened")
    assert len(cases) == 1
    case = cases[0]
    assert (case["declaration_id"], case["cpias"], case["priority"]) == (
        created["id"],
        "cpias-ara",
        "high",
    )
    assert case["reference"] == created["reference"]

    def routed() -> dict | None:
        d = p.get("intake", f"/v1/declarations/{created['id']}").json()
        return d if {"routed", "received"} <= {t["kind"] for t in d["timeline"]} else None

    declaration = eventually(routed, what="intake timeline shows routed and received")
    assert declaration["recipients"] == ["ars-84", "spf", "cpias-ara"]
    assert declaration["cpias_confirmed"] is True

    # The investigator acknowledges: the declarant sees it.
    r = p.post(
        "cpias",
        f"/v1/cases/{case['id']}/transitions",
        json={"to": "acknowledged"},
        headers=p.tokens.headers(
            "cpias_investigator", cpias="cpias-ara", subject="investigatrice.ara"
        ),
    )
    assert r.status_code == 200, r.text
    eventually(lambda: "acknowledged" in kinds(p, created["id"]), what="acknowledged shown")

    # The complement reaches the same case.
    complement = {
        "cause_analysis": "Transmission croisée par les mains",
        "action_plan": [{"action": "Audit hygiène des mains", "due_date": "2027-01-31"}],
    }
    r = p.post("intake", f"/v1/declarations/{created['id']}/complement", json=complement)
    assert r.status_code == 202
    eventually(
        lambda: p.get("cpias", f"/v1/cases/{case['id']}").json()["complement_received"],
        what="complement attached to the case",
    )
    got = p.get("cpias", f"/v1/cases/{case['id']}").json()
    assert got["complements"][0]["cause_analysis"] == complement["cause_analysis"]
    eventually(
        lambda: "complement_received" in kinds(p, created["id"]), what="complement received shown"
    )
    timeline = kinds(p, created["id"])
    assert len(timeline) == len(set(timeline)) == 7, timeline
    assert timeline[0] == "submitted"
    assert len(cases_of(p, created["id"])) == 1


def test_every_service_has_health_readiness_and_metrics(pipeline: Pipeline) -> None:
    for name in ("intake", "router", "cpias"):
        assert pipeline.get(name, "/healthz").status_code == 200
        ready = pipeline.get(name, "/readyz")
        assert ready.status_code == 200, (name, ready.text)
        metrics = pipeline.get(name, "/metrics")
        assert metrics.status_code == 200
        assert re.search(r"^python_info", metrics.text, re.M)


def test_sigterm_stops_each_service_cleanly(pipeline: Pipeline) -> None:
    for name in ("router", "cpias", "intake"):
        # uvicorn shuts down gracefully, then re-raises the signal: exit status -SIGTERM.
        assert pipeline.stop(name) in (0, -signal.SIGTERM)
        log = pipeline.log_text(name)
        assert "workers stopped:" in log and "Application shutdown complete" in log, log


def test_submit_command_prints_the_reference_or_the_errors(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    import json
    import subprocess
    import sys

    token = pipeline.tokens.token("declarant", finess="690781810")
    good = tmp_path / "good.json"
    good.write_text(json.dumps(load_sample("cpe_cluster_lyon")))
    run = [
        sys.executable,
        "-m",
        "cli",
        "submit",
        "--url",
        pipeline.url("intake"),
        "--token",
        token,
    ]
    ok = subprocess.run([*run, str(good)], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert re.fullmatch(r"IAS-\d{4}-84-\d{6}\n", ok.stdout)
    bad_body = load_sample("cpe_cluster_lyon")
    bad_body["criteria"] = ["1a", "3"]
    bad_body["declarant"]["rpps"] = "123"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(bad_body))
    refused = subprocess.run([*run, str(bad)], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and refused.stdout == ""
    lines = [x for x in refused.stderr.splitlines() if x.startswith(("infection", "declarant"))]
    assert sorted(x.split(":")[0] for x in lines) == ["declarant.rpps", "infection.deaths"]
    assert any("[R1413-79 3°]" in x for x in lines)


def test_relays_in_processes_of_their_own(broker: Broker, tmp_path: Path) -> None:
    """With RELAY_IN_PROCESS=false the services answer and consume but publish nothing;
    `iaspipe relay intake` and `iaspipe relay cpias` publish their outboxes, and stop cleanly
    on SIGTERM."""
    own = {"RELAY_IN_PROCESS": "false"}
    p = Pipeline(broker, tmp_path, intake=own, cpias=own)
    relays: list[subprocess.Popen[bytes]] = []
    try:
        p.start("intake", "router", "cpias")
        r = p.post("intake", "/v1/declarations", json=load_sample("cpe_cluster_lyon"))
        assert r.status_code == 201, r.text
        declaration_id = r.json()["id"]
        metrics = p.get("intake", "/metrics").text
        assert 'iaspipe_outbox_backlog{service="intake"}' not in metrics  # no relay here
        metrics_port = free_port()
        for name, more in (("intake", ["--metrics-port", str(metrics_port)]), ("cpias", [])):
            log = (tmp_path / f"relay-{name}.log").open("ab")
            relays.append(
                subprocess.Popen(
                    [sys.executable, "-m", "cli", "relay", name, *more],
                    env={**os.environ, **p.env(name)},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        eventually(lambda: cases_of(p, declaration_id), what="the case opened")
        eventually(
            lambda: "received" in kinds(p, declaration_id),
            what="cpias's status event published by its relay",
        )

        def relay_backlog() -> str:
            return httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text

        backlog = 'iaspipe_outbox_backlog{service="intake"} 0.0'
        eventually(lambda: backlog in relay_backlog(), what="the relay's metrics")
        for relay in relays:
            relay.send_signal(signal.SIGTERM)
            assert relay.wait(30) == 0
    finally:
        for relay in relays:
            if relay.poll() is None:
                relay.kill()
        p.stop_all()
