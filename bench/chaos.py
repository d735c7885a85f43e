"""`make chaos`: declarations sent at a steady rate through the whole stack on PostgreSQL while
its parts are broken one after the other; what was accepted must all reach a CPias queue, once.

The stack: a PostgreSQL instance of its own (initdb/pg_ctl, so that it can be stopped), the
embedded broker first on a local S3 server (moto, so that it can be restarted with its data
kept), intake, router, cpias and notifier, all supervised as under `make run` (what exits is
started again). The client sends synthetic declarations of several regions, one
Idempotency-Key each, and retries as a real client would: the same key after a network error,
a 5xx or a 429, waiting what Retry-After says.

The faults, in turn, spaced through the run: the broker killed and started again on the same
storage (data kept), then on an empty one (data lost: memory storage from then on, since moto
slows down with every object it holds and soon limits the whole run, ~7 declarations/s at
80% of a core); kill -9 of intake, router, cpias and notifier; PostgreSQL stopped for 30 s.
After each, the time until every declaration accepted before it is confirmed by its CPias (its
case open, the intake record confirmed) is measured from the databases.

Printed and written to .bench/chaos.json: sent, accepted, refused by status, retries, cases in
the CPias queues, duplicates, lost, 5xx answers, the time to converge after each fault."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.infra import S3, Postgres, launch_service, stack_env, start_s3_broker
from bench.load import Tokens, http_pools
from bench.synthetic import Item, declarations
from cli.broker import free_port, start_broker
from cli.stack import Child, stop_all, supervise, wait_ready
from iaspipe.auth import load_or_create_local_key
from iaspipe.kafka import ensure_topics

SERVICES = ("intake", "router", "cpias", "notifier")
DATABASES = ("intake", "cpias", "notifier")
PG_OUTAGE_SECONDS = 30.0
MEMORY = "memory://tansu/"
GIVE_UP_AFTER = 900.0  # a client keeps retrying a declaration for 15 minutes
CONNECTIONS = 32


def log(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- the stack --------------------------------------------------------------------------


class Stack:
    """PostgreSQL, S3, the broker and the four services, supervised in a thread."""

    def __init__(self, base: Path, partitions: int = 3) -> None:
        self.base = base
        self.partitions = partitions
        self.pg = Postgres(base / "pg")
        self.s3: S3 | None = None
        self.broker_port = free_port()
        self.bootstrap = f"127.0.0.1:{self.broker_port}"
        self.storage = ""
        self.buckets = 0
        self.ports = {name: free_port() for name in SERVICES}
        self.children: dict[str, Child] = {}
        self.stopping = threading.Event()
        self.supervisor: threading.Thread | None = None
        self.key_file = base / "data" / "local-issuer-key.pem"

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def new_bucket(self) -> None:
        assert self.s3 is not None
        self.buckets += 1
        self.storage = self.s3.bucket(f"broker-{self.buckets}")

    def launch_broker(self) -> subprocess.Popen[bytes]:
        log = self.base / "broker.log"
        if self.storage == MEMORY:
            proc = start_broker(self.broker_port, log=log)
        else:
            assert self.s3 is not None
            proc = start_s3_broker(self.broker_port, self.storage, self.s3, log)
        ensure_topics([self.bootstrap], partitions=self.partitions)
        return proc

    def launch_service(self, name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        return launch_service(name, env, self.base / f"{name}.log")

    def env(self, name: str) -> dict[str, str]:
        database = self.pg.url(name) if name in DATABASES else None
        return stack_env(name, self.bootstrap, self.base, self.ports[name], database)

    def start(self) -> None:
        (self.base / "data").mkdir(parents=True, exist_ok=True)
        load_or_create_local_key(self.key_file)
        self.pg.start()
        self.pg.create(*DATABASES)
        self.s3 = S3(self.base)
        self.new_bucket()
        self.children["broker"] = Child("broker", self.launch_broker, self.launch_broker())
        for name in SERVICES:
            launch = partial(self.launch_service, name, self.env(name))
            self.children[name] = Child(name, launch, launch())
        for name in SERVICES:
            wait_ready(self.url(name), self.children[name].proc, timeout=120)
        self.supervisor = threading.Thread(
            target=supervise,
            args=(list(self.children.values()), self.stopping.is_set),
            daemon=True,
        )
        self.supervisor.start()

    def kill(self, name: str) -> None:
        proc = self.children[name].proc
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)

    def stop(self) -> None:
        self.stopping.set()
        if self.supervisor is not None:
            self.supervisor.join(5)
        stop_all([self.children[n].proc for n in reversed(SERVICES) if n in self.children])
        if "broker" in self.children:
            stop_all([self.children["broker"].proc], timeout=5)
        if self.s3 is not None:
            self.s3.stop()
        self.pg.stop()


# --- the client -------------------------------------------------------------------------


@dataclass
class ClientFigures:
    sent: int = 0
    accepted: int = 0
    replayed: int = 0
    retries: int = 0
    network_errors: int = 0
    abandoned: int = 0
    answers: Counter[int] = field(default_factory=Counter)
    refused: Counter[int] = field(default_factory=Counter)
    unavailable_without_retry_after: int = 0
    # declaration id -> monotonic time of its (first) acceptance
    accepted_at: dict[str, float] = field(default_factory=dict)


class Client:
    def __init__(self, url: str, key_file: Path, figures: ClientFigures) -> None:
        self.url = f"{url}/v1/declarations"
        self.token = Tokens(key_file)
        self.figures = figures
        # As many requests in flight as connections: waiting ones wait here, not in httpx's
        # pool (which spends its time scanning hundreds of queued requests during an outage).
        self.in_flight = asyncio.Semaphore(CONNECTIONS)

    async def submit(self, http: httpx.AsyncClient, item: Item) -> None:
        f = self.figures
        f.sent += 1
        started = time.monotonic()
        attempt = 0
        headers = {
            "Authorization": f"Bearer {self.token(item.finess)}",
            "Content-Type": "application/json",
            "Idempotency-Key": item.key,
        }
        while True:
            wait = min(0.25 * 2**attempt, 5.0) * (0.5 + random.random())  # noqa: S311
            try:
                async with self.in_flight:
                    r = await http.post(self.url, content=item.body, headers=headers)
            except httpx.TransportError:
                f.network_errors += 1
            else:
                f.answers[r.status_code] += 1
                if r.status_code in (200, 201):
                    ident = r.json()["id"]
                    if r.headers.get("Idempotent-Replayed") == "true":
                        f.replayed += 1
                    if ident not in f.accepted_at:
                        f.accepted += 1
                        f.accepted_at[ident] = time.monotonic()
                    return
                retry_after = r.headers.get("Retry-After")
                if r.status_code in (429, 503) and retry_after is not None:
                    wait = float(retry_after)
                elif r.status_code < 500:
                    f.refused[r.status_code] += 1
                    return
                elif r.status_code == 503:
                    f.unavailable_without_retry_after += 1
            if time.monotonic() - started > GIVE_UP_AFTER:
                f.abandoned += 1
                return
            attempt += 1
            f.retries += 1
            await asyncio.sleep(wait)

    async def run(self, items: list[Item], rate: float, done: threading.Event) -> None:
        async with http_pools(CONNECTIONS) as next_pool:
            t0 = time.monotonic()
            tasks = []
            for i, item in enumerate(items):
                delay = t0 + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(self.submit(next_pool(), item)))
            await asyncio.gather(*tasks)
        done.set()


# --- faults and convergence -------------------------------------------------------------


@dataclass
class Fault:
    name: str
    at: float  # seconds after the load starts
    act: Callable[[], None]
    started: float = 0.0
    ended: float = 0.0
    converged: float | None = None


class Watch(threading.Thread):
    """Reads from the databases, every half second, which declarations are confirmed by their
    CPias (intake's record confirmed and a case open); a fault has converged when everything
    accepted before its end is."""

    def __init__(self, stack: Stack, figures: ClientFigures, faults: list[Fault]) -> None:
        super().__init__(daemon=True)
        self.stack = stack
        self.figures = figures
        self.faults = faults
        self.stop = threading.Event()
        self.confirmed: set[str] = set()
        self.read_errors = 0

    def read(self) -> set[str]:
        with psycopg.connect(self.stack.pg.dsn("intake"), connect_timeout=2) as conn:
            rows = conn.execute(
                "SELECT id FROM declarations WHERE cpias_confirmed_at IS NOT NULL"
            ).fetchall()
        with psycopg.connect(self.stack.pg.dsn("cpias"), connect_timeout=2) as conn:
            cases = conn.execute("SELECT declaration_id FROM cases").fetchall()
        return {r[0] for r in rows} & {r[0] for r in cases}

    def run(self) -> None:
        while not self.stop.wait(0.5):
            try:
                self.confirmed = self.read()
            except psycopg.Error:
                self.read_errors += 1
                continue
            now = time.monotonic()
            accepted = dict(self.figures.accepted_at)
            for fault in self.faults:
                if not fault.ended or fault.converged is not None:
                    continue
                before = [i for i, t in accepted.items() if t <= fault.ended]
                if all(i in self.confirmed for i in before):
                    fault.converged = now

    def all_confirmed(self) -> bool:
        return set(self.figures.accepted_at) <= self.confirmed


def faults_for(stack: Stack, duration: float) -> list[Fault]:
    def kill(name: str) -> Callable[[], None]:
        return lambda: stack.kill(name)

    def broker(keep: bool) -> Callable[[], None]:
        def act() -> None:
            if not keep:
                stack.storage = MEMORY  # the broker comes back with nothing
            stack.kill("broker")

        return act

    def postgres_outage() -> None:
        stack.pg.stop()
        time.sleep(PG_OUTAGE_SECONDS)
        stack.pg.start()

    plan: list[tuple[str, Callable[[], None]]] = [
        ("broker restarted, data kept", broker(keep=True)),
        ("broker restarted, data lost", broker(keep=False)),
        ("kill -9 intake", kill("intake")),
        ("kill -9 router", kill("router")),
        ("kill -9 cpias", kill("cpias")),
        ("kill -9 notifier", kill("notifier")),
        (f"PostgreSQL stopped {PG_OUTAGE_SECONDS:.0f} s", postgres_outage),
    ]
    # Spread through the load, the last one ending before the last declaration is sent.
    step = (duration - PG_OUTAGE_SECONDS) / (len(plan) + 0.5)
    if step < 10:
        raise SystemExit("too short a run for the faults to be apart: send more, or slower")
    return [Fault(name, step * (i + 0.5), act) for i, (name, act) in enumerate(plan)]


def inject(faults: list[Fault], t0: float, stopping: threading.Event) -> None:
    for fault in faults:
        if stopping.wait(max(t0 + fault.at - time.monotonic(), 0)):
            return
        log(f"fault: {fault.name}")
        fault.started = time.monotonic()
        fault.act()
        fault.ended = time.monotonic()


# --- the figures ------------------------------------------------------------------------


def final_counts(stack: Stack, figures: ClientFigures) -> dict[str, Any]:
    with psycopg.connect(stack.pg.dsn("intake")) as conn:
        stored = {
            r[0]: r[1] for r in conn.execute("SELECT id, cpias_confirmed_at FROM declarations")
        }
    with psycopg.connect(stack.pg.dsn("cpias")) as conn:
        per_declaration: dict[str, int] = dict(
            conn.execute("SELECT declaration_id, count(*) FROM cases GROUP BY declaration_id")
        )
        by_cpias: dict[str, int] = dict(
            conn.execute("SELECT cpias, count(*) FROM cases GROUP BY cpias")
        )
    with psycopg.connect(stack.pg.dsn("notifier")) as conn:
        messages = conn.execute(
            "SELECT kind, status, count(*) FROM messages GROUP BY kind, status ORDER BY 1, 2"
        ).fetchall()
        receipts_twice = conn.execute(
            """SELECT count(*) FROM (SELECT declaration_id FROM messages WHERE kind = 'receipt'
               GROUP BY declaration_id HAVING count(*) > 1) t"""
        ).fetchone()
    accepted = set(figures.accepted_at)
    lost = [i for i in accepted if i not in per_declaration or stored.get(i) is None]
    five_xx = {s: n for s, n in figures.answers.items() if s >= 500}
    return {
        "declarations_stored": len(stored),
        "stored_but_never_answered": len(set(stored) - accepted),
        "cases": sum(per_declaration.values()),
        "cases_by_cpias": dict(sorted(by_cpias.items())),
        "duplicate_cases": sum(n - 1 for n in per_declaration.values() if n > 1),
        "cases_without_declaration": len(set(per_declaration) - set(stored)),
        "lost": len(lost),
        "5xx_answers": five_xx,
        "5xx_other_than_503": sum(n for s, n in five_xx.items() if s != 503),
        "messages": [{"kind": k, "status": s, "count": n} for k, s, n in messages],
        "receipts_sent_twice": receipts_twice[0] if receipts_twice else 0,
    }


def main(count: int, rate: float, seed: int, converge_timeout: float) -> dict[str, Any]:
    base = Path(tempfile.mkdtemp(prefix="iaspipe-chaos-"))
    base.chmod(0o755)  # PostgreSQL runs as its own user and must reach its directory
    log(f"working directory {base} (logs of every process there)")
    stack = Stack(base)
    figures = ClientFigures()
    try:
        stack.start()
        log("stack ready: " + ", ".join(f"{n} {stack.url(n)}" for n in SERVICES))
        items = declarations(count, seed)
        duration = count / rate
        faults = faults_for(stack, duration)
        watch = Watch(stack, figures, faults)
        watch.start()
        done, stopping = threading.Event(), threading.Event()
        t0 = time.monotonic()
        injector = threading.Thread(target=inject, args=(faults, t0, stopping), daemon=True)
        injector.start()
        log(f"sending {count} declarations at {rate:g}/s for {duration:.0f} s")
        client = Client(stack.url("intake"), stack.key_file, figures)
        asyncio.run(client.run(items, rate, done))
        load_ended = time.monotonic()
        injector.join()
        last_fault = max(f.ended for f in faults)
        log("load done; waiting for every accepted declaration to be confirmed")
        deadline = time.monotonic() + converge_timeout
        while time.monotonic() < deadline and not (
            watch.all_confirmed() and all(f.converged for f in faults)
        ):
            time.sleep(0.5)
        all_confirmed_at = time.monotonic() if watch.all_confirmed() else None
        watch.stop.set()
        watch.join()
        counts = final_counts(stack, figures)
        results: dict[str, Any] = {
            "declarations": count,
            "rate_per_s": rate,
            "seed": seed,
            "sent": figures.sent,
            "accepted": figures.accepted,
            "idempotent_replays": figures.replayed,
            "refused_by_status": dict(sorted(figures.refused.items())),
            "retries": figures.retries,
            "network_errors": figures.network_errors,
            "abandoned": figures.abandoned,
            "answers_by_status": dict(sorted(figures.answers.items())),
            "503_without_retry_after": figures.unavailable_without_retry_after,
            **counts,
            "faults": [
                {
                    "fault": f.name,
                    "at_s": round(f.started - t0, 1),
                    "lasted_s": round(f.ended - f.started, 1),
                    "converged_after_s": (
                        round(f.converged - f.ended, 1) if f.converged is not None else None
                    ),
                }
                for f in faults
            ],
            "load_s": round(load_ended - t0, 1),
            "all_confirmed_after_last_fault_s": (
                round(all_confirmed_at - last_fault, 1) if all_confirmed_at else None
            ),
        }
        results["targets_met"] = {
            "0 lost": results["lost"] == 0 and figures.abandoned == 0,
            "0 duplicate cases": results["duplicate_cases"] == 0,
            "no 5xx but 503 with Retry-After": results["5xx_other_than_503"] == 0
            and figures.unavailable_without_retry_after == 0,
            "all confirmed within 60 s of the last fault": all_confirmed_at is not None
            and all_confirmed_at - last_fault <= 60,
        }
        return results
    finally:
        stack.stop()


def cli() -> int:
    p = argparse.ArgumentParser(prog="chaos", description=__doc__.split("\n\n")[0])
    p.add_argument("--declarations", type=int, default=10_000)
    p.add_argument("--rate", type=float, default=40.0, help="declarations sent per second")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument(
        "--converge-timeout",
        type=float,
        default=300.0,
        help="seconds to wait, after the load, for every declaration to be confirmed",
    )
    args = p.parse_args()

    def interrupted(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")  # so that the stack is stopped on the way out

    signal.signal(signal.SIGTERM, interrupted)
    results = main(args.declarations, args.rate, args.seed, args.converge_timeout)
    out = Path(".bench")
    out.mkdir(exist_ok=True)
    (out / "chaos.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(json.dumps(results, indent=2, ensure_ascii=False))
    return 0 if all(results["targets_met"].values()) else 1


if __name__ == "__main__":
    sys.exit(cli())
