"""HTTP load with wrk, pinned to its own core, and the processes it measures; the
asyncio clients' connection pools."""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg

from iaspipe.auth import AuthSettings, issue_local_token
from iaspipe.principal import Role

PG_ADMIN = os.environ.get("IASPIPE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
SAMPLE = Path(__file__).resolve().parent.parent / "schemas" / "samples" / "cpe_cluster_lyon.json"
SERVER_CORE, LOAD_CORE = "0", "1"

# httpx's pool looks at every one of its connections (a system call each) whenever a request
# starts or ends, so its cost per request grows with its size: with 64 connections in one
# pool, the end-to-end client spent a core on it and sent 77 declarations/s of the 200 asked
# (py-spy: 95 % of its samples in httpx, a quarter in `getpeername`). Pools of 4 connections,
# taken in turn, keep that cost small whatever the number of connections.
CONNECTIONS_PER_POOL = 4


@contextlib.asynccontextmanager
async def http_pools(connections: int) -> AsyncIterator[Callable[[], httpx.AsyncClient]]:
    """`connections` to a server in pools of CONNECTIONS_PER_POOL: each call of what it yields
    gives the next pool."""
    limits = httpx.Limits(
        max_connections=CONNECTIONS_PER_POOL, max_keepalive_connections=CONNECTIONS_PER_POOL
    )
    timeout = httpx.Timeout(30.0, connect=5.0)
    async with contextlib.AsyncExitStack() as stack:
        pools = [
            await stack.enter_async_context(httpx.AsyncClient(limits=limits, timeout=timeout))
            for _ in range(max(connections // CONNECTIONS_PER_POOL, 1))
        ]
        yield itertools.cycle(pools).__next__


# One unique Idempotency-Key per request, as real clients send.
LUA = """
local counter = 0
local run = "%(run)s"
local body = [[%(body)s]]
request = function()
  counter = counter + 1
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer %(token)s",
    ["Idempotency-Key"] = run .. "-" .. counter,
  }, body)
end
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


def pinned(core: str, argv: list[str]) -> list[str]:
    return ["taskset", "-c", core, *argv]


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, *, token: str = "", seconds: int, connections: int) -> dict[str, Any]:
    """wrk on LOAD_CORE, one thread, `connections` connections, the Lyon sample as body."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            LUA % {"run": uuid.uuid4().hex[:12], "token": token, "body": SAMPLE.read_text("utf-8")}
        )
    argv = [
        ensure_wrk(),
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        script.name,
        url,
    ]
    out = subprocess.run(pinned(LOAD_CORE, argv), capture_output=True, text=True, check=True).stdout
    os.unlink(script.name)
    lat = dict(re.findall(r"^\s+(50|90|99)%\s+([\d.]+\w+)", out, re.M))
    parsed = {k: re.fullmatch(r"([\d.]+)(\w+)", v) for k, v in lat.items()}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    total = re.search(r"(\d+) requests in", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert rps is not None, out
    return {
        "requests_per_s": float(rps.group(1)),
        "p50_ms": _ms(*parsed["50"].groups()),  # type: ignore[union-attr]
        "p90_ms": _ms(*parsed["90"].groups()),  # type: ignore[union-attr]
        "p99_ms": _ms(*parsed["99"].groups()),  # type: ignore[union-attr]
        "requests": int(total.group(1)) if total else 0,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else "",
    }


class Database:
    """A PostgreSQL database of the benchmark's own, dropped at the end."""

    def __init__(self, prefix: str) -> None:
        self.name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.name}"
        self.dsn = PG_ADMIN.rsplit("/", 1)[0] + f"/{self.name}"

    def drop(self) -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024, 1)


class Tokens:
    """Declarants' tokens from the local issuer, one per establishment, made once."""

    def __init__(self, key_file: Path) -> None:
        self.auth = AuthSettings(local_key_file=key_file)
        self.tokens: dict[str, str] = {}

    def __call__(self, finess: str) -> str:
        if finess not in self.tokens:
            self.tokens[finess] = issue_local_token(
                self.auth, subject=f"declarant-{finess}", role=Role.declarant, finess=finess
            )
        return self.tokens[finess]


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p90, p99 and max of `values` (nearest rank), rounded to 0.1."""
    if not values:
        return {}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]

    return {
        "p50": round(rank(0.5), 1),
        "p90": round(rank(0.9), 1),
        "p99": round(rank(0.99), 1),
        "max": round(ordered[-1], 1),
    }


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process and its children so far, in seconds."""
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    ticks = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def spy(pid: int, out: Path, seconds: float) -> subprocess.Popen[bytes]:
    """py-spy sampling process `pid` for `seconds` (on-CPU only, without pausing it), its
    profile written to `out` in speedscope's format; wait() on it for the file."""
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "-p",
            str(pid),
            "-o",
            str(out),
            "-d",
            str(max(int(seconds), 1)),
            "-f",
            "speedscope",
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
