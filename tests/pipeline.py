"""The broker, the services and the portal as real processes, on free ports, for end-to-end
tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from cli.broker import free_port
from cli.stack import service_env, wait_ready
from tests.conftest import Broker
from tests.tokens import Tokens

FAST = {"KAFKA_SESSION_TIMEOUT_MS": "6000", "KAFKA_HEARTBEAT_INTERVAL_MS": "1000"}


class Pipeline:
    def __init__(self, broker: Broker, tmp: Path, **extra: dict[str, str]) -> None:
        self.broker = broker
        self.tmp = tmp
        self.ports = {
            name: free_port() for name in ("intake", "router", "cpias", "notifier", "portal")
        }
        self.extra = extra
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}
        self.tokens = Tokens(tmp / "local-issuer-key.pem")
        self.admin = self.tokens.headers("admin", subject="admin.e2e")

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def env(self, name: str) -> dict[str, str]:
        urls = {n: self.url(n) for n in ("intake", "cpias", "notifier")}
        env = service_env(
            name,
            bootstrap=self.broker.bootstrap,
            data_dir=self.tmp,
            port=self.ports[name],
            urls=urls,
        )
        prefix = name.upper()
        env.update({f"{prefix}_{k}": v for k, v in FAST.items()})
        env.update({f"{prefix}_{k}": v for k, v in self.extra.get(name, {}).items()})
        return env

    def start(self, *names: str, ready: bool = True) -> None:
        for name in names:
            log = self.tmp / f"{name}.log"
            self.logs[name] = log
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", f"services.{name}"],
                env={**os.environ, **self.env(name)},
                stdout=log.open("ab"),
                stderr=subprocess.STDOUT,
            )
        if ready:
            for name in names:
                wait_ready(self.url(name), self.procs[name], timeout=90)

    def wait_joined(self, groups: dict[str, str], timeout: float = 90) -> None:
        """Until each service's consumer group member (service -> group) has its partitions
        (iaspipe_consumer_assigned_partitions > 0 on the service's /metrics): a stack that
        answers /readyz may still be joining its groups."""

        def assigned(name: str, group: str) -> bool:
            text = self.get(name, "/metrics").text
            found = re.search(
                rf'^iaspipe_consumer_assigned_partitions\{{group="{group}"\}} (\S+)$', text, re.M
            )
            return found is not None and float(found.group(1)) > 0

        eventually(
            lambda: all(assigned(name, group) for name, group in groups.items()),
            timeout=timeout,
            what=f"consumer groups joined: {', '.join(groups.values())}",
        )

    def kill9(self, name: str) -> None:
        self.procs[name].kill()
        self.procs[name].wait(10)

    def stop(self, name: str, timeout: float = 30) -> int:
        proc = self.procs[name]
        proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout)

    def stop_all(self) -> None:
        for _name, proc in self.procs.items():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.print_log_tails()

    def print_log_tails(self, lines: int = 40) -> None:
        """The end of each process's log on standard output: pytest shows it when the test
        fails (the logs themselves go with the test's temporary directory)."""
        for name, log in self.logs.items():
            if log.exists():
                tail = log.read_text(errors="replace").splitlines()[-lines:]
                print(f"----- {name} (last {len(tail)} lines of its log) -----", *tail, sep="\n")

    def get(self, name: str, path: str, **kw: Any) -> httpx.Response:
        kw.setdefault("headers", self.admin)
        return httpx.get(self.url(name) + path, timeout=10, **kw)

    def post(self, name: str, path: str, **kw: Any) -> httpx.Response:
        kw.setdefault("headers", self.admin)
        return httpx.post(self.url(name) + path, timeout=30, **kw)

    def log_text(self, name: str) -> str:
        return self.logs[name].read_text(errors="replace") if name in self.logs else ""


def eventually(
    check: Callable[[], Any], timeout: float = 60, every: float = 0.25, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"{what} not met after {timeout}s (last: {last!r})")
