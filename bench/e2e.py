"""End to end on the embedded stack with PostgreSQL (issue K.6 and K.7): declarations sent at
a steady rate, the time from each 201 to its case in the CPias queue, and each process's
memory meanwhile.

The stack as `make run` has it, as processes: the embedded broker (memory storage, topics of
3 partitions), intake, router, cpias and notifier with their default settings (intake,
cpias and the notifier each on a PostgreSQL database of its own on 127.0.0.1:5432, from
bench/load.py's Database), but intake's submission rate limit, raised since one client plays
hundreds of establishments. The client
(httpx, asyncio, one process) sends synthetic declarations of five regions (bench/synthetic.py:
hundreds of establishments, several CPias topics), one Idempotency-Key and a token of its
establishment each, at `rate` per second for `seconds`, each at its scheduled time whatever
the answers before it (no retry). A warm-up of a few declarations goes through first.

For each 201 the client notes the wall clock when the answer arrived; the case's opening time
is cases.opened_at in cpias's database (stamped by the same machine clock when its
transaction starts, a few milliseconds before its commit). After the load, the run waits for
every accepted declaration's case (up to `drain_timeout`).

Figures: the 201 -> case percentiles (p50/p90/p99/max) and its two legs (201 -> intake's
relay has the DeclarationSubmitted acknowledged, outbox.published_at; then -> case open:
router and cpias); the send rate achieved and how late the client sent; the 201 latency
(from the scheduled send); answers by status; from the start of the load to the end of the
drain, the peak of unpublished outbox rows of intake and cpias (sampled every 0.25 s), the
peak of declarations accepted without their case yet and the peak RSS of each process
(every 0.5 s); its RSS after the drain."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from prometheus_client.parser import text_string_to_metric_families

from bench.infra import launch_service, stack_env
from bench.intake import BacklogSampler
from bench.load import Database, Tokens, cpu_seconds, http_pools, percentiles, rss_mb, spy
from bench.synthetic import Item, declarations
from cli.broker import free_port, start_broker
from cli.stack import stop_all, wait_ready
from iaspipe.auth import load_or_create_local_key
from iaspipe.kafka import ensure_topics
from schemas import topics

SERVICES = ("intake", "router", "cpias", "notifier")
DATABASES = ("intake", "cpias", "notifier")
P99_TARGET_MS = 1000.0
RSS_TARGET_MB = 200.0
WARM_UP = 20


class Stack:
    """The broker and the four services as processes, their databases on PostgreSQL."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.broker_port = free_port()
        self.bootstrap = f"127.0.0.1:{self.broker_port}"
        self.ports = {name: free_port() for name in SERVICES}
        self.databases: dict[str, Database] = {}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.key_file = base / "data" / "local-issuer-key.pem"

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def start(self) -> None:
        (self.base / "data").mkdir(parents=True, exist_ok=True)
        load_or_create_local_key(self.key_file)
        self.procs["broker"] = start_broker(self.broker_port)
        ensure_topics([self.bootstrap], partitions=3)
        for name in DATABASES:
            self.databases[name] = Database(f"iaspipe_e2e_{name}")
        for name in SERVICES:
            db = self.databases.get(name)
            env = stack_env(
                name, self.bootstrap, self.base, self.ports[name], db.url if db else None
            )
            self.procs[name] = launch_service(name, env, self.base / f"{name}.log")
        for name in SERVICES:
            wait_ready(self.url(name), self.procs[name], timeout=120)

    def stop(self) -> None:
        stop_all([self.procs[n] for n in reversed(SERVICES) if n in self.procs])
        if "broker" in self.procs:
            stop_all([self.procs["broker"]], timeout=5)
        for db in self.databases.values():
            db.drop()


# --- the client -------------------------------------------------------------------------


@dataclass
class Sent:
    scheduled: float  # monotonic
    sent: float = 0.0  # monotonic, when the request left the client's loop
    answered: float = 0.0  # monotonic
    answered_wall: float = 0.0  # time.time(), to compare with cases.opened_at
    status: int | None = None  # None: no answer (network error)
    declaration_id: str | None = None


@dataclass
class Load:
    sent: list[Sent] = field(default_factory=list)
    accepted: int = 0


CONNECTIONS = 64  # the client's connections to intake (bench.load.http_pools), requests in flight


async def _submit(
    http: httpx.AsyncClient,
    url: str,
    item: Item,
    token: str,
    record: Sent,
    load: Load,
    in_flight: asyncio.Semaphore,
) -> None:
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Idempotency-Key": item.key,
    }
    # Requests beyond the connections wait here, not in httpx's pool (which spends its time
    # scanning its queue once hundreds wait there, and the client stalls).
    async with in_flight:
        record.sent = time.monotonic()
        try:
            r = await http.post(url, content=item.body, headers=headers)
        except httpx.TransportError:
            record.answered = time.monotonic()
            return
    record.answered, record.answered_wall = time.monotonic(), time.time()
    record.status = r.status_code
    if r.status_code == 201:
        record.declaration_id = r.json()["id"]
        load.accepted += 1


async def send(url: str, tokens: Tokens, items: list[Item], rate: float, load: Load) -> Load:
    """Each item at t0 + i / rate, without waiting for the answers before it."""
    in_flight = asyncio.Semaphore(CONNECTIONS)
    async with http_pools(CONNECTIONS) as next_pool:
        for item in items:  # tokens made before the clock starts
            tokens(item.finess)
        tasks = []
        t0 = time.monotonic()
        for i, item in enumerate(items):
            record = Sent(scheduled=t0 + i / rate)
            load.sent.append(record)
            delay = record.scheduled - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(
                asyncio.create_task(
                    _submit(
                        next_pool(),
                        f"{url}/v1/declarations",
                        item,
                        tokens(item.finess),
                        record,
                        load,
                        in_flight,
                    )
                )
            )
        await asyncio.gather(*tasks)
    return load


# --- what is sampled and read -----------------------------------------------------------


class Sampler(threading.Thread):
    """Every 0.5 s: the resident memory of each process (with its children), and the
    declarations accepted (201) that have no case yet. Their peaks."""

    def __init__(self, pids: dict[str, int], load: Load, cpias_dsn: str) -> None:
        super().__init__(daemon=True)
        self.pids, self.load, self.cpias_dsn = pids, load, cpias_dsn
        self.peak_rss: dict[str, float] = dict.fromkeys(pids, 0.0)
        self.peak_pending = 0
        self.stop = threading.Event()

    def rss(self) -> dict[str, float]:
        return {name: rss_mb(pid) for name, pid in self.pids.items()}

    def run(self) -> None:
        with psycopg.connect(self.cpias_dsn, autocommit=True) as conn:
            while not self.stop.wait(0.5):
                for name, mb in self.rss().items():
                    self.peak_rss[name] = max(self.peak_rss[name], mb)
                accepted = self.load.accepted
                row = conn.execute("SELECT count(*) FROM cases").fetchone()
                cases = row[0] - WARM_UP if row else 0
                self.peak_pending = max(self.peak_pending, accepted - cases)


def opened_at(dsn: str, ids: list[str]) -> dict[str, float]:
    """Declaration id -> its case's opening time (epoch seconds), for the cases open."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT declaration_id, opened_at FROM cases WHERE declaration_id = ANY(%s)", [ids]
        ).fetchall()
    return {r[0]: _epoch(r[1]) for r in rows}


def published_at(dsn: str) -> dict[str, float]:
    """Declaration id -> when intake's relay had its DeclarationSubmitted acknowledged."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT key, min(published_at) FROM outbox WHERE topic = %s"
            " AND published_at IS NOT NULL GROUP BY key",
            [topics.DECLARATIONS],
        ).fetchall()
    return {r[0]: _epoch(r[1]) for r in rows}


def poll_ms(url: str, group: str = "cpias") -> dict[str, float]:
    """How long the consumer's polls took (iaspipe_consumer_batch_seconds: handled,
    committed, offsets committed): a case's opened_at is stamped inside its poll's
    transaction, at most this long before the poll is done. The mean, and the histogram
    bucket that holds the 99th percentile (its upper bound)."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    buckets: list[tuple[float, float]] = []
    total = count = 0.0
    for family in text_string_to_metric_families(text):
        if family.name != "iaspipe_consumer_batch_seconds":
            continue
        for sample in family.samples:
            if sample.labels.get("group") != group:
                continue
            if sample.name.endswith("_bucket"):
                buckets.append((float(sample.labels["le"]), sample.value))
            elif sample.name.endswith("_sum"):
                total = sample.value
            elif sample.name.endswith("_count"):
                count = sample.value
    p99 = next((le for le, n in sorted(buckets) if n >= 0.99 * count), float("inf"))
    return {
        "polls": count,
        "mean": round(1000 * total / max(count, 1), 1),
        "p99_at_most": 1000 * p99,
    }


def _epoch(value: dt.datetime) -> float:
    # Stored in UTC; a naive value (the column without time zone) is UTC too.
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp()


def wait_cases(dsn: str, ids: list[str], timeout: float) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    found: dict[str, float] = {}
    while True:
        missing = [i for i in ids if i not in found]
        if missing:
            found.update(opened_at(dsn, missing))
        if len(found) == len(ids) or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


# --- the run ----------------------------------------------------------------------------


def main(
    rate: float = 200.0,
    seconds: float = 60.0,
    seed: int = 2026,
    drain_timeout: float = 300.0,
    profile: bool = False,
) -> dict[str, Any]:
    """`profile`: each service sampled by py-spy while the load runs, its profile in
    .bench/e2e-profile-<service>.speedscope.json."""
    base = Path(tempfile.mkdtemp(prefix="iaspipe-e2e-"))
    count = int(rate * seconds)
    print(f"e2e: working directory {base} (logs of every process there)", flush=True)
    items = declarations(count + WARM_UP, seed)
    stack = Stack(base)
    try:
        stack.start()
        tokens = Tokens(stack.key_file)
        cpias_dsn = stack.databases["cpias"].dsn
        # Warm-up: the whole path once, connections and caches made.
        warm = asyncio.run(
            send(stack.url("intake"), tokens, items[:WARM_UP], min(rate, 20), Load())
        )
        warm_ids = [s.declaration_id for s in warm.sent if s.declaration_id]
        if len(warm_ids) < WARM_UP or len(wait_cases(cpias_dsn, warm_ids, 60)) < WARM_UP:
            raise SystemExit(
                f"warm-up: {len(warm_ids)} of {WARM_UP} accepted, answers "
                f"{Counter(s.status for s in warm.sent)}; see the logs in {base}"
            )
        pids = {name: proc.pid for name, proc in stack.procs.items()}
        load = Load()
        watch = Sampler(pids, load, cpias_dsn)
        backlog = {n: BacklogSampler(stack.databases[n].dsn) for n in ("intake", "cpias")}
        for sampler in (watch, *backlog.values()):
            sampler.start()
        print(f"e2e: {count} declarations at {rate:g}/s for {seconds:g} s", flush=True)
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        spies = [
            spy(pid, Path(f".bench/e2e-profile-{name}.speedscope.json"), seconds)
            for name, pid in pids.items()
            if profile and name in SERVICES
        ]
        asyncio.run(send(stack.url("intake"), tokens, items[WARM_UP:], rate, load))
        for s in spies:
            s.wait(60)
        accepted = [s for s in load.sent if s.status == 201 and s.declaration_id]
        cases = wait_cases(
            cpias_dsn, [s.declaration_id for s in accepted if s.declaration_id], drain_timeout
        )
        cpu_used = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
        for stop in (watch.stop, *(b.stop for b in backlog.values())):
            stop.set()
        for sampler in (watch, *backlog.values()):
            sampler.join()
        final_rss = watch.rss()
        published = published_at(stack.databases["intake"].dsn)
        polls = poll_ms(stack.url("cpias"))
    finally:
        stack.stop()
    result = _figures(load, accepted, cases, published, rate, seconds)
    result["cpias_poll_ms"] = polls
    result["outbox_backlog_peak"] = {name: s.peak for name, s in backlog.items()}
    result["accepted_without_case_peak"] = watch.peak_pending
    # Where the cores went: each process's CPU from the first declaration sent to the last
    # case open, per declaration accepted (PostgreSQL's own time is not counted here).
    result["cpu_ms_per_declaration"] = {
        name: round(1000 * used / max(len(accepted), 1), 2) for name, used in cpu_used.items()
    }
    result["rss_mb"] = {
        name: {"peak": watch.peak_rss[name], "after_drain": final_rss[name]}
        for name in watch.peak_rss
    }
    services_rss = [max(watch.peak_rss[n], final_rss[n]) for n in SERVICES]
    result["targets"]["each service under 200 MB RSS"] = max(services_rss) < RSS_TARGET_MB
    print(json.dumps(result, indent=2), flush=True)
    return result


def _figures(
    load: Load,
    accepted: list[Sent],
    cases: dict[str, float],
    published: dict[str, float],
    rate: float,
    seconds: float,
) -> dict[str, Any]:
    def ms(pairs: list[tuple[float, float]]) -> dict[str, float]:
        return percentiles([1000 * (b - a) for a, b in pairs])

    opened = [
        (s.answered_wall, cases[s.declaration_id]) for s in accepted if s.declaration_id in cases
    ]
    # The two legs: intake's relay (201 -> acknowledged by the broker), then router and cpias.
    legs = [
        (s.answered_wall, published[s.declaration_id], cases[s.declaration_id])
        for s in accepted
        if s.declaration_id in cases and s.declaration_id in published
    ]
    sent_times = [s.sent for s in load.sent]
    sending = max(sent_times) - min(sent_times)
    statuses = Counter("no answer" if s.status is None else str(s.status) for s in load.sent)
    result: dict[str, Any] = {
        "rate_asked_per_s": rate,
        "seconds_asked": seconds,
        "declarations_sent": len(load.sent),
        "send_rate_achieved_per_s": round((len(load.sent) - 1) / sending, 1) if sending else 0,
        "client_late_ms": ms([(s.scheduled, s.sent) for s in load.sent]),
        "answers_by_status": dict(sorted(statuses.items())),
        "accepted": len(accepted),
        "answer_201_ms_from_schedule": ms([(s.scheduled, s.answered) for s in accepted]),
        "cases_open": len(opened),
        "cases_missing_after_drain": len(accepted) - len(opened),
        "from_201_to_case_ms": ms(opened),
        "cases_opened_before_their_201": sum(1 for a, b in opened if b < a),
        "from_201_to_published_ms": ms([(a, b) for a, b, _ in legs]),
        "from_published_to_case_ms": ms([(b, c) for _, b, c in legs]),
    }
    p99 = result["from_201_to_case_ms"].get("p99")
    result["targets"] = {
        f"rate sustained ({rate:g}/s)": result["send_rate_achieved_per_s"] >= 0.98 * rate
        and statuses.get("201", 0) == len(load.sent),
        "every accepted declaration has its case": result["cases_missing_after_drain"] == 0,
        "p99 201 -> case under 1 s": p99 is not None and p99 < P99_TARGET_MS,
    }
    return result
