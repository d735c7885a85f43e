"""Intake's write path against three simple peers, in one run, on the same server settings
(uvicorn, one process pinned to one core; wrk pinned to the other; PostgreSQL).

Intake runs with its whole contract: rules, anonymity, a unique Idempotency-Key per request,
outbox row, audit row, timeline entry, and its relay publishing to a real broker. While the
load runs, the outbox backlog is sampled; afterwards the time to drain it and the time from
each 201 to its publication are read from the outbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.load import (
    LOAD_CORE,
    SAMPLE,
    SERVER_CORE,
    Database,
    pinned,
    run_wrk,
)
from bench.load import spy as spy_on
from cli.broker import free_port, start_broker, wait_for_port
from cli.stack import stop_all
from iaspipe.auth import AuthSettings, issue_local_token
from iaspipe.kafka import ensure_topics
from iaspipe.principal import Role


def _server(argv: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(pinned(SERVER_CORE, argv), env={**os.environ, **env})
    wait_for_port("127.0.0.1", port, timeout=60, proc=proc)
    return proc


def _measure(url: str, token: str, seconds: int, connections: int) -> dict[str, Any]:
    run_wrk(url, token=token, seconds=2, connections=connections)  # warm-up
    return run_wrk(url, token=token, seconds=seconds, connections=connections)


class BacklogSampler(threading.Thread):
    """Samples the number of unpublished outbox rows every 0.25 s."""

    def __init__(self, dsn: str) -> None:
        super().__init__(daemon=True)
        self.dsn = dsn
        self.peak = 0
        self.stop = threading.Event()

    def backlog(self) -> int:
        with psycopg.connect(self.dsn) as conn:
            row = conn.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()
        return int(row[0]) if row else 0

    def run(self) -> None:
        while not self.stop.wait(0.25):
            self.peak = max(self.peak, self.backlog())


def _publication(dsn: str) -> dict[str, float]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            """SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s),
                      percentile_cont(0.99) WITHIN GROUP (ORDER BY s), count(*)
               FROM (SELECT extract(epoch FROM published_at - created_at) * 1000 AS s
                     FROM outbox WHERE published_at IS NOT NULL) t"""
        ).fetchone()
    assert row is not None
    return {"p50_ms": round(row[0] or 0, 1), "p99_ms": round(row[1] or 0, 1), "published": row[2]}


def bench_intake(
    db: Database, token: str, key_file: Path, seconds: int, connections: int, profile: Path | None
) -> dict[str, Any]:
    broker_port, port = free_port(), free_port()
    broker = start_broker(broker_port)
    ensure_topics([f"127.0.0.1:{broker_port}"], partitions=3)
    env = {
        "INTAKE_DATABASE_URL": db.url,
        "INTAKE_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{broker_port}",
        "INTAKE_PORT": str(port),
        "INTAKE_AUTH__LOCAL_KEY_FILE": str(key_file),
        "INTAKE_SUBMIT_RATE_LIMIT": "100000000/minute",
        "INTAKE_LOG_LEVEL": "WARNING",
        "INTAKE_SUBMISSION_WRITERS": os.environ.get("BENCH_WRITERS", "1"),
        "INTAKE_RELAY_IN_PROCESS": os.environ.get("BENCH_RELAY_IN_PROCESS", "true"),
    }
    argv = [sys.executable, "-m", "services.intake"]
    server = _server(argv, env, port)
    # Relay in a process of its own (BENCH_RELAY_IN_PROCESS=false): on the load generator's
    # core, as a deployment with a relay beside the API would run it.
    relay = (
        None
        if env["INTAKE_RELAY_IN_PROCESS"] == "true"
        else subprocess.Popen(
            pinned(LOAD_CORE, [sys.executable, "-m", "cli", "relay", "intake"]),
            env={**os.environ, **env},
        )
    )
    url = f"http://127.0.0.1:{port}"
    spy = None
    try:
        probe = httpx.post(
            f"{url}/v1/declarations",
            content=SAMPLE.read_bytes(),
            timeout=30,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        if probe.status_code != 201:
            raise SystemExit(
                f"a valid submission was refused ({probe.status_code}): {probe.text[:300]}"
            )
        run_wrk(f"{url}/v1/declarations", token=token, seconds=2, connections=connections)
        sampler = BacklogSampler(db.dsn)
        sampler.start()
        if profile is not None:
            spy = spy_on(server.pid, profile, seconds)
        result = run_wrk(
            f"{url}/v1/declarations", token=token, seconds=seconds, connections=connections
        )
        sampler.stop.set()
        sampler.join()
        ended = time.monotonic()
        while sampler.backlog() > 0 and time.monotonic() - ended < 120:
            time.sleep(0.1)
        result["relay"] = {
            "backlog_peak": sampler.peak,
            "drained_after_s": round(time.monotonic() - ended, 2),
            "from_201_to_published": _publication(db.dsn),
        }
        batches = httpx.get(f"{url}/metrics", timeout=10).text
        result["submission_batches"] = {
            line.split(" ")[0].split("_")[-1]: float(line.split(" ")[1])
            for line in batches.splitlines()
            if line.startswith("intake_submission_batch_size_")
            and " " in line
            and not line.startswith("intake_submission_batch_size_bucket")
        }
        with psycopg.connect(db.dsn) as conn:
            row = conn.execute("SELECT count(*) FROM declarations").fetchone()
        result["stored_in_postgresql"] = row[0] if row else 0
    finally:
        if spy is not None:
            spy.wait(30)
        stop_all([server, *([relay] if relay else [])])
        stop_all([broker], timeout=5)
    return result


def main(seconds: int = 15, connections: int = 32, profile: bool = False) -> dict[str, Any]:
    key_file = Path(tempfile.mkdtemp()) / "issuer.pem"
    token = issue_local_token(
        AuthSettings(local_key_file=key_file),
        subject="bench",
        role=Role.declarant,
        finess="690781810",
    )
    peers_db, intake_db = Database("iaspipe_bench_peers"), Database("iaspipe_bench_intake")
    results: dict[str, Any] = {"seconds": seconds, "connections": connections}
    try:
        for name in ("bare", "orm", "async"):
            port = free_port()
            server = _server(
                [sys.executable, "-m", "bench.peers", name, str(port)],
                {"BENCH_DATABASE_URL": peers_db.url},
                port,
            )
            try:
                results[name] = _measure(
                    f"http://127.0.0.1:{port}/v1/declarations", token, seconds, connections
                )
            finally:
                stop_all([server])
            print(f"{name:>6}: {json.dumps(results[name])}", flush=True)
        profile_path = Path(".bench/intake-profile.speedscope.json") if profile else None
        results["intake"] = bench_intake(
            intake_db, token, key_file, seconds, connections, profile_path
        )
        print(f"intake: {json.dumps(results['intake'])}", flush=True)
    finally:
        peers_db.drop()
        intake_db.drop()
    intake_rps = results["intake"]["requests_per_s"]
    results["ratios"] = {
        f"intake/{name}": round(intake_rps / results[name]["requests_per_s"], 3)
        for name in ("bare", "orm", "async")
    }
    results["targets"] = {
        "intake_at_least_async_peer": results["ratios"]["intake/async"] >= 1.0,
        "intake_p99_under_100ms": results["intake"]["p99_ms"] < 100,
    }
    return results
