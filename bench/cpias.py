"""CPias case creation against a raw kafka-python consume -> insert loop, same broker, same
records, a fresh PostgreSQL database for each loop and round (issue K.5: at least 0.8).

The records are DeclarationRouted for a CPias, made by the router's own code (`route`) from
DeclarationSubmitted with a declaration id each, on two data sets:
- "synthetic": five regions' synthetic activity (bench/synthetic.py: an organism mix over
  hundreds of establishments and 300 days, with planted outbreaks), the ordinary regime;
- "sample": the Lyon sample again and again (one establishment, organism and date), as
  bench/router.py sends: every new case meets all the previous ones in the cluster rule, so
  the cost of a case grows with the number already open (its worst case).

The two loops:
- raw: kafka-python polls, inserts each record's value as one row of a plain table (no
  index, no constraint) in one transaction per batch, then commits the offsets: the floor
  cost of at-least-once consume -> insert.
- cpias: the service's consumer as services/cpias/consumer.py runs it (iaspipe.kafka's
  ConsumerLoop with CaseConsumer as its batch handler, its poll size, its unit of work on
  PostgreSQL): per poll one transaction with the cases, their processed events, history,
  status events in the outbox, episode keys, cluster suggestions and threshold checks,
  notification requests; its log line per record goes to a file at the service's default
  level (INFO). The outbox relay is not running: its cost is not in the figure.

Both loops time from the first record received to the last offset committed; best of the
rounds. `profile=True` runs one more cpias round per data set, not counted, sampled by
py-spy (wall clock, the loop's thread), and keeps the top functions, with the collapsed
stacks in .bench/cpias-profile.<data set>.txt."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from kafka.structs import OffsetAndMetadata
from sqlalchemy import event

from bench.load import SAMPLE, Database
from bench.router import produce, submitted, timed_loop
from bench.synthetic import declarations
from cli.broker import free_port, start_broker
from cli.stack import stop_all
from iaspipe import kafka as k
from iaspipe.http.serving import settle_heap
from iaspipe.kafka import ensure_topics
from iaspipe.runtime import DatabaseRuntime
from iaspipe.settings import ServiceSettings
from schemas.declaration import Declaration
from schemas.reference import reference
from services.cpias.adapters.orm import Outbox
from services.cpias.adapters.uow import SqlCpiasUnitOfWork
from services.cpias.app import MIGRATIONS
from services.cpias.consumer import CaseConsumer, cpias_topics
from services.cpias.settings import CpiasSettings
from services.router.domain.routing_rules import load_routing_data
from services.router.service import route

TARGET = 0.8
PROFILE = Path(".bench/cpias-profile.txt")  # .synthetic.txt, .sample.txt
RAW_TABLE = "CREATE TABLE received (topic text, part int, off bigint, key bytea, value bytea)"
RAW_INSERT = "INSERT INTO received (topic, part, off, key, value) VALUES (%s, %s, %s, %s, %s)"


def routed(declarations: Iterable[Declaration]) -> list[tuple[bytes, bytes]]:
    """(key, value) of the DeclarationRouted the router writes to a CPias topic, one for
    each declaration."""
    data = load_routing_data()
    wanted = set(cpias_topics(reference()))
    out = []
    for _key, value in submitted(declarations):
        (message,) = [o for o in route(value, data) if o.topic in wanted]
        assert message.key is not None
        out.append((message.key, message.value))
    return out


def dataset(name: str, n: int) -> list[Declaration]:
    """ "sample": the Lyon sample n times (one establishment, one organism, one date: each
    new case meets all the previous ones in the cluster rule, its worst case); "synthetic":
    n declarations of five regions' synthetic activity (bench/synthetic.py, as e2e sends)."""
    if name == "sample":
        return [Declaration.model_validate_json(SAMPLE.read_text(encoding="utf-8"))] * n
    return [Declaration.model_validate_json(item.body) for item in declarations(n, seed=2026)]


@dataclass
class Run:
    """One loop over the records: wall seconds from the first record received to the last
    offset committed, this process's CPU seconds meanwhile (every thread: kafka-python's
    too), database transactions and statements sent."""

    seconds: float
    cpu_seconds: float
    transactions: int
    statements: int


def raw_loop(bootstrap: str, group: str, topic: str, n: int, dsn: str, max_records: int) -> Run:
    settings = ServiceSettings(
        kafka_bootstrap_servers=[bootstrap], kafka_max_poll_records=max_records
    )
    consumer = k.make_consumer(settings, group, [topic], group)
    seen, first, cpu, batches = 0, 0.0, 0.0, 0
    deadline = time.monotonic() + 300
    with psycopg.connect(dsn) as conn:
        conn.execute(RAW_TABLE)
        conn.commit()
        while seen < n and time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=500, max_records=max_records)
            if not batch:
                continue
            if not first:
                first, cpu = time.perf_counter(), time.process_time()
            rows = [
                (r.topic, r.partition, r.offset, r.key, r.value)
                for records in batch.values()
                for r in records
            ]
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(RAW_INSERT, rows)  # psycopg pipelines them
            consumer.commit(
                {tp: OffsetAndMetadata(rs[-1].offset + 1, "", -1) for tp, rs in batch.items()}
            )
            seen += len(rows)
            batches += 1
        run = Run(time.perf_counter() - first, time.process_time() - cpu, batches, seen)
        stored = conn.execute("SELECT count(*) FROM received").fetchone()
    consumer.close(autocommit=False)
    if seen < n or stored is None or stored[0] != n:
        raise RuntimeError(f"raw loop: {seen} records handled, {stored} rows, of {n}")
    return run


@contextmanager
def service_logs(path: Path) -> Iterator[None]:
    """The service's log lines (its format, INFO) to a file while the loop runs."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("services")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()


def cpias_loop(
    bootstrap: str,
    group: str,
    topic: str,
    n: int,
    db: Database,
    logs: Path,
    profile: Path | None = None,
) -> tuple[Run, dict[str, Any]]:
    """The case consumer on a new database brought to the newest migration, as the service
    builds it (services/cpias/app.py); checks one case per declaration afterwards. With
    `profile`, the loop is sampled by py-spy: collapsed stacks there, top functions returned."""
    settings = CpiasSettings(database_url=db.url, kafka_bootstrap_servers=[bootstrap])
    runtime = DatabaseRuntime(
        "cpias", settings=settings, migrations=MIGRATIONS, outbox_model=Outbox
    )
    runtime.upgrade()
    consumer = CaseConsumer(settings, partial(SqlCpiasUnitOfWork, runtime.sessions), reference())
    counts = {"statements": 0, "transactions": 0}

    def counter(name: str) -> Callable[..., None]:
        def count(*_args: Any) -> None:
            counts[name] += 1

        return count

    event.listen(runtime.engine, "before_cursor_execute", counter("statements"))
    event.listen(runtime.engine, "commit", counter("transactions"))
    loop = partial(
        timed_loop, bootstrap, group, topic, n, consumer, settings.kafka_max_poll_records
    )
    top: dict[str, Any] = {}
    cpu = time.process_time()
    try:
        with service_logs(logs):
            if profile is None:
                elapsed = loop()
            else:
                elapsed, top = profiled(loop, profile)
        cpu = time.process_time() - cpu
    finally:
        runtime.stop()
    with psycopg.connect(db.dsn) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT declaration_id) FROM cases").fetchone()
    if row is None or row[0] != n or row[1] != n:
        raise RuntimeError(f"cpias: {row} cases for {n} declarations")
    return Run(elapsed, cpu, counts["transactions"], counts["statements"]), top


OURS = ("services/", "iaspipe/", "schemas/")


def profiled(run: Callable[..., float], out: Path) -> tuple[float, dict[str, Any]]:
    """`run(on_first=...)` sampled by py-spy (wall clock: --idle, so that waiting on
    PostgreSQL counts) from its first record on, this process's main thread only: its
    result, and the functions with the most samples of their own and, among our code's,
    the most samples inclusive. The collapsed stacks are kept in `out` (speedscope.app
    opens them)."""
    spy: list[subprocess.Popen[bytes]] = []
    argv = [str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(os.getpid())]
    argv += ["-r", "250", "-f", "raw", "-o", str(out), "--nonblocking", "--idle", "--threads"]

    def start() -> None:
        spy.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    try:
        elapsed = run(on_first=start)
    finally:
        for proc in spy:
            proc.send_signal(signal.SIGINT)
            proc.wait(60)
    own: dict[str, int] = defaultdict(int)
    inclusive: dict[str, int] = defaultdict(int)
    packages: dict[str, int] = defaultdict(int)
    total = partial_stacks = 0
    main = f"thread ({threading.get_native_id()})"
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not frames[0].startswith(main):
            continue
        if not any(f.startswith("timed_loop (") for f in frames):
            # Sampled without pausing the process, a stack is sometimes read half-way.
            partial_stacks += int(count)
            continue
        # "function (path:line)" -> "function (path)": one entry per function
        names = [re.sub(r":\d+\)$", ")", f) for f in frames[1:]]
        total += int(count)
        own[names[-1]] += int(count)
        packages[_package(names[-1])] += int(count)
        for name in set(names):
            inclusive[name] += int(count)
    mine = {n: t for n, t in inclusive.items() if any(f"({o}" in n for o in OURS)}
    return elapsed, {
        "samples": total,
        "partial_stacks_left_out": partial_stacks,
        "self_by_package": _top(packages, total),
        "self": _top(own, total),
        "inclusive_ours": _top(mine, total, 20),
    }


def _package(frame: str) -> str:
    """ "f (sqlalchemy/orm/session.py)" -> "sqlalchemy"; our code by service."""
    path = frame.rpartition(" (")[2].rstrip(")")
    parts = path.split("/")
    if parts[0] == "services" and len(parts) > 2:
        return "/".join(parts[:2])
    return parts[0] if len(parts) > 1 else path


def _top(samples: dict[str, int], total: int, count: int = 15) -> list[str]:
    ordered = sorted(samples.items(), key=lambda kv: kv[1], reverse=True)[:count]
    return [f"{100 * n / max(total, 1):.1f}% {name}" for name, n in ordered]


def compare(
    bootstrap: str, data: str, n: int, rounds: int, profile: bool, logs: Path
) -> dict[str, Any]:
    """Both loops on the same records of `data`, best of `rounds`; with `profile`, one more
    cpias round sampled by py-spy."""
    records = routed(dataset(data, n))
    poll = CpiasSettings().kafka_max_poll_records  # the service's poll size, for both loops
    runs: dict[str, list[Run]] = {"cpias": [], "raw": []}
    top: dict[str, Any] = {}
    for r in range(rounds + int(profile)):
        topic = f"bench.cpias.{data}.{r}.v1"
        ensure_topics([bootstrap], [topic], partitions=3)
        produce(bootstrap, topic, records)
        raw_db, cpias_db = Database("iaspipe_bench_raw"), Database("iaspipe_bench_cpias")
        try:
            if r == rounds:  # the extra round, profiled, not counted
                stacks = PROFILE.with_suffix(f".{data}.txt")
                _, top = cpias_loop(bootstrap, f"p-{data}", topic, n, cpias_db, logs, stacks)
                top = {"stacks": str(stacks), **top}
                continue
            runs["raw"].append(raw_loop(bootstrap, f"raw-{data}-{r}", topic, n, raw_db.dsn, poll))
            runs["cpias"].append(
                cpias_loop(bootstrap, f"cpias-{data}-{r}", topic, n, cpias_db, logs)[0]
            )
        finally:
            raw_db.drop()
            cpias_db.drop()
        print(
            f"{data} round {r}: raw {runs['raw'][-1].seconds:.2f} s, "
            f"cpias {runs['cpias'][-1].seconds:.2f} s",
            flush=True,
        )
    best = {name: min(v, key=lambda run: run.seconds) for name, v in runs.items()}
    ratio = best["raw"].seconds / best["cpias"].seconds
    result: dict[str, Any] = {
        "records": n,
        "rounds": rounds,
        "cpias_records_per_s": round(n / best["cpias"].seconds, 1),
        "raw_records_per_s": round(n / best["raw"].seconds, 1),
        "throughput_ratio": round(ratio, 3),
        "target_ratio": TARGET,
        "target_met": ratio >= TARGET,
        "seconds": {name: [round(run.seconds, 3) for run in v] for name, v in runs.items()},
        # Of the best round: what each record costs this process and the database.
        "per_record": {
            name: {
                "cpu_ms": round(1000 * run.cpu_seconds / n, 2),
                "transactions": round(run.transactions / n, 3),
                "statements": round(run.statements / n, 2),
            }
            for name, run in best.items()
        },
    }
    if profile:
        result["profile"] = top
    print(json.dumps(result, indent=2), flush=True)
    return result


def main(
    n: int = 2000, sample_n: int = 500, rounds: int = 2, profile: bool = False
) -> dict[str, Any]:
    """The synthetic activity (n records) and the sample's worst case (sample_n), on one
    broker; a count of 0 leaves that data set out."""
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    broker = start_broker(port)
    # As in the served cpias (iaspipe.http.serving.settle_heap); both loops run with it.
    settle_heap(CpiasSettings().gc_threshold)
    results: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="iaspipe-bench-cpias-") as work:
            for data, count in (("synthetic", n), ("sample", sample_n)):
                if count > 0:
                    logs = Path(work) / "cpias.log"
                    results[data] = compare(bootstrap, data, count, rounds, profile, logs)
    finally:
        stop_all([broker], timeout=5)
    return results
