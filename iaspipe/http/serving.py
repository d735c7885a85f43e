"""Serving an HTTP service with uvicorn: one process, or several built by a factory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import uvicorn
from fastapi import FastAPI

from iaspipe.http.protocol import with_header_deadline
from iaspipe.logs import configure


def serve(
    app: FastAPI, host: str, port: int, log_level: str = "info", header_timeout: float = 10.0
) -> None:
    """Run until SIGINT/SIGTERM; the app's lifespan stops its workers on the way out."""
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level.lower(),
        access_log=False,
        http=with_header_deadline(header_timeout),
    )


def serve_processes(
    factory: str,
    host: str,
    port: int,
    processes: int,
    log_level: str = "info",
    header_timeout: float = 10.0,
) -> None:
    """Several server processes on one port, each building its app (and its background
    workers) from `factory` ("module:function"); uvicorn supervises and stops them."""
    uvicorn.run(
        factory,
        factory=True,
        host=host,
        port=port,
        workers=processes,
        log_level=log_level.lower(),
        access_log=False,
        http=with_header_deadline(header_timeout),
    )


def run_service(settings: Any, create_app: Callable[[Any], FastAPI], factory: str) -> None:
    """Entry point of an HTTP service: one process, or several (`*_PROCESSES`) built by
    `factory`. Exits 3 when a worker stopped the service (too many dead letters)."""
    configure(settings.log_level)
    processes = getattr(settings, "processes", 1)
    timeout = settings.header_timeout_seconds
    if processes > 1:
        serve_processes(
            factory, settings.host, settings.port, processes, settings.log_level, timeout
        )
        return
    app = create_app(settings)
    serve(app, settings.host, settings.port, settings.log_level, timeout)
    if app.state.workers.fatal:
        raise SystemExit(3)
