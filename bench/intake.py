"""Intake throughput and latency, valid declarations stored in PostgreSQL, against a trivial
POST on the same server. Load from wrk, a second process, on loopback only."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg

from cli.broker import free_port, start_broker
from cli.stack import stop_all, wait_ready
from iaspipe.auth import AuthSettings, issue_local_token
from iaspipe.kafka import ensure_topics
from iaspipe.principal import Role

PG_ADMIN = os.environ.get("IASPIPE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
SAMPLE = Path(__file__).resolve().parent.parent / "schemas" / "samples" / "cpe_cluster_lyon.json"

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
wrk.body = [[%s]]
"""


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("installing wrk (Debian package)…", file=sys.stderr)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "wrk"], check=False, stdout=subprocess.DEVNULL
    )
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is needed for the intake benchmark: apt-get install wrk")
    return found


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(
    wrk: str, url: str, *, token: str, seconds: int, connections: int, threads: int
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA % (token, SAMPLE.read_text(encoding="utf-8")))
    out = subprocess.run(
        [
            wrk,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            script.name,
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(script.name)
    lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
    parsed = {k: re.fullmatch(r"([\d.]+)(\w+)", v) for k, v in lat.items()}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": _ms(*parsed["50"].groups()),  # type: ignore[union-attr]
        "p99_ms": _ms(*parsed["99"].groups()),  # type: ignore[union-attr]
        "requests": int(total.group(1)) if total else 0,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
    }


def main(
    seconds: int = 15, connections: int = 16, threads: int = 2, processes: int = 1
) -> dict[str, Any]:
    wrk = ensure_wrk()
    name = f"iaspipe_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    broker_port, port = free_port(), free_port()
    key_file = Path(tempfile.mkdtemp()) / "issuer.pem"
    token = issue_local_token(
        AuthSettings(local_key_file=key_file),
        subject="bench",
        role=Role.declarant,
        finess="690781810",
    )
    broker = start_broker(broker_port)
    ensure_topics([f"127.0.0.1:{broker_port}"], partitions=3)
    env = {
        **os.environ,
        "INTAKE_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}",
        "INTAKE_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{broker_port}",
        "INTAKE_PORT": str(port),
        "INTAKE_PROCESSES": str(processes),
        "INTAKE_AUTH__LOCAL_KEY_FILE": str(key_file),
        "INTAKE_SUBMIT_RATE_LIMIT": "100000000/minute",
    }
    server = subprocess.Popen([sys.executable, "-m", "bench.intake_server"], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, server)
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
        run_wrk(
            wrk,
            f"{url}/bench/noop",
            token=token,
            seconds=2,
            connections=connections,
            threads=threads,
        )
        noop = run_wrk(
            wrk,
            f"{url}/bench/noop",
            token=token,
            seconds=seconds,
            connections=connections,
            threads=threads,
        )
        submit = run_wrk(
            wrk,
            f"{url}/v1/declarations",
            token=token,
            seconds=seconds,
            connections=connections,
            threads=threads,
        )
        with psycopg.connect(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}") as conn:
            stored = conn.execute("SELECT count(*) FROM declarations").fetchone()[0]  # type: ignore[index]
    finally:
        stop_all([server])
        stop_all([broker], timeout=5)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    result = {
        "seconds": seconds,
        "connections": connections,
        "server_processes": processes,
        "submit": submit,
        "trivial_post": noop,
        "stored_in_postgresql": stored,
        "throughput_ratio": round(submit["requests_per_s"] / noop["requests_per_s"], 3),
    }
    print(json.dumps(result, indent=2))
    return result
