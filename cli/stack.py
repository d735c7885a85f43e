"""`iaspipe stack`: the embedded broker, the four services and the portal as child processes.

A process that exits is started again, with a growing delay while it keeps failing; the
others go on (the broker too, and a broker started again gets its topics back). Ctrl-C or
SIGTERM stops the services first (they drain and commit), then the broker; no process is
left behind and every port is released."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import FrameType

import httpx

from cli.broker import start_broker, wait_for_port
from iaspipe.auth import load_or_create_local_key
from iaspipe.kafka import ensure_topics
from schemas.reference import reference

SERVICES = ("intake", "router", "cpias", "notifier")


def demo_address_book() -> str:
    """Made-up mailboxes (the reserved .invalid domain) for every CPias team and ARS region,
    so that `make run` writes every kind of message to .data/mail/."""
    ref = reference()
    return json.dumps(
        {
            "cpias": {c: {"address": f"equipe@{c}.demo.invalid"} for c in ref.cpias_ids},
            "ars": {r: f"alerte@ars-{r}.demo.invalid" for r in ref.region_codes},
        }
    )


def service_env(
    name: str,
    *,
    bootstrap: str,
    data_dir: Path,
    port: int,
    urls: dict[str, str] | None = None,
) -> dict[str, str]:
    """Settings of one service of the local stack; `urls` gives the portal the addresses of
    intake and cpias."""
    prefix = name.upper()
    env = {
        f"{prefix}_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        f"{prefix}_PORT": str(port),
        f"{prefix}_AUTH__LOCAL_KEY_FILE": str((data_dir / "local-issuer-key.pem").resolve()),
    }
    if name != "router":
        env[f"{prefix}_DATABASE_URL"] = f"sqlite:///{(data_dir / f'{name}.db').resolve()}"
    if name == "portal":
        env["PORTAL_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
        env.update({f"PORTAL_{k.upper()}_URL": v for k, v in (urls or {}).items()})
    if name == "notifier":
        env["NOTIFIER_MAIL_DIR"] = str((data_dir / "mail").resolve())
        if "NOTIFIER_ADDRESS_BOOK" not in os.environ:
            env["NOTIFIER_ADDRESS_BOOK"] = demo_address_book()
    return env


def start_service(name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", f"services.{name}"], env={**os.environ, **env})


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with code {proc.returncode} while starting")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout}s")


def stop_all(procs: list[subprocess.Popen[bytes]], timeout: float = 20) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Child:
    """One process of the stack and how to start it again."""

    name: str
    launch: Callable[[], subprocess.Popen[bytes]]
    proc: subprocess.Popen[bytes]
    started_at: float = field(default_factory=time.monotonic)
    failures: int = 0
    restart_at: float | None = None


def supervise(children: list[Child], stopping: Callable[[], bool], every: float = 0.2) -> None:
    """Restart whatever exits, until `stopping()`: after 1 s, then 2, 4... up to 30 s while it
    keeps failing; a child that ran a minute starts again from 1 s. Each exit and restart is
    printed. The others keep running (the broker included)."""
    while not stopping():
        now = time.monotonic()
        for child in children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    try:
                        child.proc = child.launch()
                    except Exception as exc:  # the broker's port not free yet, say
                        print(
                            f"{child.name} could not start ({exc}); trying again", file=sys.stderr
                        )
                        child.restart_at = now + RESTART_MAX
                        continue
                    child.started_at, child.restart_at = now, None
                    print(f"{child.name} restarted (pid {child.proc.pid})", flush=True)
                continue
            code = child.proc.poll()
            if code is None:
                continue
            if now - child.started_at > STABLE_AFTER:
                child.failures = 0
            delay = min(2**child.failures, RESTART_MAX)
            child.failures += 1
            child.restart_at = now + delay
            print(
                f"{child.name} exited with code {code}; restarting in {delay:.0f}s", file=sys.stderr
            )
        time.sleep(every)


RESTART_MAX = 30.0
STABLE_AFTER = 60.0


def banner(ports: dict[str, int], bootstrap: str, data_dir: Path) -> list[str]:
    """Where each part of the stack answers, once all of them do: one line each."""
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    where = {
        "portal": f"{url['portal']}  (sign in: accounts from "
        "`iaspipe users add EMAIL --role ROLE ... < password`, see README)",
        "intake": f"{url['intake']}  (API docs: /docs)",
        "cpias": f"{url['cpias']}  (API docs: /docs)",
        "router": f"{url['router']}/metrics",
        "notifier": f"{url['notifier']}  (API docs: /docs; e-mails written to "
        f"{(data_dir / 'mail').resolve()})",
        "broker": f"kafka://{bootstrap}  (Tansu, memory storage)",
        "data": str(data_dir.resolve()),
        "tokens": "iaspipe token --role declarant --finess 690781810  (see README)",
    }
    return [f"{name:<8} {text}" for name, text in where.items()]


def run(
    *,
    broker_port: int = 9092,
    intake_port: int = 8001,
    cpias_port: int = 8002,
    router_port: int = 8003,
    portal_port: int = 8000,
    notifier_port: int = 8004,
    data_dir: Path = Path(".data"),
    partitions: int = 3,
) -> int:
    data_dir.mkdir(parents=True, exist_ok=True)
    stopping = False

    def on_signal(_sig: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    ports = {
        "intake": intake_port,
        "router": router_port,
        "cpias": cpias_port,
        "notifier": notifier_port,
    }
    ports_all = {"portal": portal_port, **ports}
    for name, port in {"broker": broker_port, **ports_all}.items():
        try:
            wait_for_port("127.0.0.1", port, timeout=0.2)
        except TimeoutError:
            continue
        print(
            f"port {port} for {name} is already in use: stop what uses it, or pick another "
            f"port (see iaspipe stack --help)",
            file=sys.stderr,
        )
        return 1
    bootstrap = f"127.0.0.1:{broker_port}"
    load_or_create_local_key(data_dir / "local-issuer-key.pem")

    def launch_broker() -> subprocess.Popen[bytes]:
        # Memory storage: a broker started again has no topics; they are made anew.
        proc = start_broker(broker_port)
        ensure_topics([bootstrap], partitions=partitions)
        return proc

    broker = Child("broker", launch_broker, launch_broker())
    children: list[Child] = []
    try:
        urls = {name: f"http://127.0.0.1:{ports[name]}" for name in ("intake", "cpias", "notifier")}
        for name in (*SERVICES, "portal"):
            port = ports_all[name]
            env = service_env(
                name,
                bootstrap=bootstrap,
                data_dir=data_dir,
                port=port,
                urls=urls if name == "portal" else None,
            )
            children.append(
                Child(name, partial(start_service, name, env), start_service(name, env))
            )
            if name == "portal" or name == SERVICES[-1]:
                for child in children:
                    wait_ready(f"http://127.0.0.1:{ports_all[child.name]}", child.proc)
        for line in banner(ports_all, bootstrap, data_dir):
            print(line, flush=True)
        print("Ready. A process that stops is started again. Ctrl-C stops everything.", flush=True)
        supervise([broker, *children], lambda: stopping)
        return 0
    except (RuntimeError, TimeoutError) as exc:
        print(f"start-up failed: {exc}", file=sys.stderr)
        return 1
    finally:
        print("stopping…", flush=True)
        stop_all([c.proc for c in reversed(children)])
        stop_all([broker.proc], timeout=5)
