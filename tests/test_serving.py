"""How a service is served: its garbage collector settled once built, and several processes
on one port that start together on one fresh database."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from cli.broker import free_port

SETTLED = """
import gc
from iaspipe.http.serving import settle_heap
settle_heap({threshold})
print(gc.get_threshold()[0], gc.get_freeze_count() > 0)
"""


def _python(code: str, **env: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout.strip()


def test_a_served_process_sets_its_start_up_heap_apart_from_the_collector() -> None:
    assert _python(SETTLED.format(threshold=10_000)) == "10000 True"


def test_a_threshold_of_zero_leaves_pythons_collector_as_it_is() -> None:
    assert _python(SETTLED.format(threshold=0)) == "700 False"


def test_each_of_several_processes_builds_its_app_then_settles_its_heap() -> None:
    code = (
        "import gc\n"
        "from iaspipe.http.serving import settled_app\n"
        "app = settled_app()\n"
        "print(type(app).__name__, gc.get_threshold()[0], gc.get_freeze_count() > 0)"
    )
    out = _python(code, IASPIPE_APP_FACTORY="fastapi:FastAPI", IASPIPE_GC_THRESHOLD="5000")
    assert out == "FastAPI 5000 True"


def test_two_server_processes_start_together_on_a_fresh_database(
    database_url: str, tmp_path: Path
) -> None:
    """CPIAS_PROCESSES=2 on a database never migrated: both processes migrate it at start,
    one after the other (PostgreSQL: an advisory lock; SQLite: BEGIN IMMEDIATE), and both
    serve, with the header deadline of one process."""
    port = free_port()
    env = {
        **os.environ,
        "CPIAS_PORT": str(port),
        "CPIAS_PROCESSES": "2",
        "CPIAS_DATABASE_URL": database_url,
        "CPIAS_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "CPIAS_AUTH__LOCAL_KEY_FILE": str(tmp_path / "key.pem"),
        # No broker here: its workers give up on it quickly, so that the processes stop soon.
        "CPIAS_KAFKA_BOOTSTRAP_TIMEOUT_MS": "500",
    }
    log = tmp_path / "cpias.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cpias"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        served = 0
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace")
            served = text.count("Application startup complete")
            if served == 2 or "Traceback" in text or proc.poll() is not None:
                break
            time.sleep(0.2)
        text = log.read_text(errors="replace")
        assert served == 2 and "Traceback" not in text, text[-3000:]
        assert len(set(re.findall(r"Started server process \[(\d+)\]", text))) == 2, text
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("two server processes did not stop within 20 s of SIGTERM")
