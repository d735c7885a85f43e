"""`iaspipe stack` (what `make run` runs): starts everything, Ctrl-C stops everything."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from cli.broker import free_port
from tests.factories import load_sample
from tests.pipeline import eventually
from tests.tokens import Tokens

pytestmark = pytest.mark.e2e


def children_of(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return {int(x) for x in out.stdout.split()}


def port_bound(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


NAMES = ("broker", "intake", "cpias", "router", "notifier", "portal")


def start_stack(tmp_path: Path, ports: dict[str, int]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli",
            "stack",
            *(arg for name in NAMES for arg in (f"--{name}-port", str(ports[name]))),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def until_ready(proc: subprocess.Popen[str], lines: list[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line, "stack exited early:\n" + "".join(lines)
        lines.append(line)
        if line.startswith("Ready."):
            return
    raise AssertionError("stack not ready:\n" + "".join(lines))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_stack_runs_the_pipeline_and_stops_without_leftovers(tmp_path: Path, sig: int) -> None:
    ports = {name: free_port() for name in NAMES}
    proc = start_stack(tmp_path, ports)
    lines: list[str] = []
    try:
        until_ready(proc, lines)
        text = "".join(lines)
        for name in ("intake", "cpias", "router", "notifier", "portal"):
            assert f"http://127.0.0.1:{ports[name]}" in text
        assert f"127.0.0.1:{ports['broker']}" in text
        # The portal is what people open: its address comes first.
        addresses = [line for line in lines if re.match(r"^[a-z]+ +(http|kafka)://", line)]
        assert addresses[0].startswith(f"portal   http://127.0.0.1:{ports['portal']}")
        children = children_of(proc.pid)
        assert len(children) == 6  # broker, four services and the portal
        portal = httpx.get(f"http://127.0.0.1:{ports['portal']}/login")
        assert portal.status_code == 200 and "Connexion" in portal.text

        tokens = Tokens(tmp_path / "data" / "local-issuer-key.pem")
        declarant = tokens.headers("declarant", finess="690781810")
        investigator = tokens.headers("cpias_investigator", cpias="cpias-ara")
        intake = f"http://127.0.0.1:{ports['intake']}"
        created = httpx.post(
            f"{intake}/v1/declarations", json=load_sample(), timeout=30, headers=declarant
        ).json()
        cases = eventually(
            lambda: httpx.get(
                f"http://127.0.0.1:{ports['cpias']}/v1/cases",
                params={"declaration_id": created["id"]},
                headers=investigator,
            ).json()["items"],
            what="case opened",
        )
        assert cases[0]["cpias"] == "cpias-ara"
        assert (tmp_path / "data" / "intake.db").exists()
        # No mail server needed: the CPias team's alert is written to the data folder.
        mail = tmp_path / "data" / "mail"
        eventually(lambda: mail.is_dir() and any(mail.glob("*.eml")), what="alert written")
    finally:
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    for pid in children:
        assert (
            not Path(f"/proc/{pid}").exists()
            or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
        ), f"process {pid} left behind"
    for name, port in ports.items():
        assert not port_bound(port), f"{name} port {port} still bound"


def child_named(stack_pid: int, module: str) -> int:
    for pid in children_of(stack_pid):
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        if module in cmdline:
            return pid
    raise AssertionError(f"no child runs {module}")


def test_the_stack_restarts_what_dies_and_a_broker_that_lost_its_data_loses_nothing(
    tmp_path: Path,
) -> None:
    ports = {name: free_port() for name in NAMES}
    proc = start_stack(tmp_path, ports)
    lines: list[str] = []
    reader = None
    try:
        until_ready(proc, lines)
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)  # type: ignore[arg-type]
        reader.start()
        broker = child_named(proc.pid, "tansu")

        # kill -9 of the router: it comes back, the broker never stopped.
        os.kill(child_named(proc.pid, "services.router"), signal.SIGKILL)
        eventually(lambda: any("router restarted" in x for x in lines), what="router restarted")
        assert any("router exited with code -9" in x for x in lines)
        assert Path(f"/proc/{broker}").exists()

        # Declarations the broker acknowledged while nobody consumed them, then the broker
        # killed: started again empty, the relay notices and publishes them again.
        tokens = Tokens(tmp_path / "data" / "local-issuer-key.pem")
        declarant = tokens.headers("declarant", finess="690781810")
        investigator = tokens.headers("cpias_investigator", cpias="cpias-ara")
        router = child_named(proc.pid, "services.router")
        os.kill(router, signal.SIGSTOP)
        intake = f"http://127.0.0.1:{ports['intake']}"
        ids = [
            httpx.post(
                f"{intake}/v1/declarations", json=load_sample(), timeout=30, headers=declarant
            ).json()["id"]
            for _ in range(5)
        ]

        def backlog() -> float:
            metrics = httpx.get(f"{intake}/metrics", timeout=5).text
            found = re.search(r'^iaspipe_outbox_backlog\{service="intake"\} (\S+)', metrics, re.M)
            return float(found.group(1)) if found else -1

        eventually(lambda: backlog() == 0, timeout=30, what="published to the broker")
        time.sleep(3)  # the relay's loss watch has read the end offsets since
        os.kill(broker, signal.SIGKILL)
        eventually(lambda: any("broker restarted" in x for x in lines), what="broker restarted")
        os.kill(router, signal.SIGCONT)
        started = time.monotonic()

        def cased() -> set[str]:
            r = httpx.get(
                f"http://127.0.0.1:{ports['cpias']}/v1/cases",
                params={"limit": 100},
                headers=investigator,
                timeout=5,
            )
            return (
                {c["declaration_id"] for c in r.json()["items"]} if r.status_code == 200 else set()
            )

        eventually(lambda: set(ids) <= cased(), timeout=90, what="every declaration in a case")
        assert time.monotonic() - started < 90
    finally:
        with contextlib.suppress(ProcessLookupError, NameError):
            os.kill(router, signal.SIGCONT)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    assert proc.returncode == 0
