"""Serving an HTTP service with uvicorn: one process, or several built by a factory."""

from __future__ import annotations

import gc
import importlib
import os
from collections.abc import Callable
from typing import Any

import uvicorn
from fastapi import FastAPI

from iaspipe.http.protocol import HEADER_TIMEOUT, with_header_deadline
from iaspipe.logs import configure

FACTORY = "IASPIPE_APP_FACTORY"
GC_THRESHOLD = "IASPIPE_GC_THRESHOLD"


def settle_heap(threshold: int) -> None:
    """Keep what the process has built so far out of the cyclic collector's scans, and let
    it run every `threshold` new container objects (0: leave Python's settings alone).

    Under load, Python's default (a scan every 700 new objects, and now and then a full one
    over every object alive, the start-up heap included) paused intake for tens of
    milliseconds: its p99 fell from 103 to 38 ms with the heap settled (docs/benchmarks.md).
    Only served processes do this: a test process building many apps keeps Python's
    settings."""
    if threshold <= 0:
        return
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(threshold, older, oldest)


def settled_app() -> FastAPI:
    """The factory each of several server processes calls: the service's own factory
    (named in IASPIPE_APP_FACTORY, "module:function"), then its heap settled."""
    module, function = os.environ[FACTORY].split(":")
    app: FastAPI = getattr(importlib.import_module(module), function)()
    settle_heap(int(os.environ.get(GC_THRESHOLD, "0")))
    return app


def serve(
    app: FastAPI,
    host: str,
    port: int,
    log_level: str = "info",
    header_timeout: float = 10.0,
    gc_threshold: int = 0,
) -> None:
    """Run until SIGINT/SIGTERM; the app's lifespan stops its workers on the way out."""
    settle_heap(gc_threshold)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level.lower(),
        access_log=False,
        http=with_header_deadline(header_timeout),
    )


def run_service(settings: Any, create_app: Callable[[Any], FastAPI], factory: str) -> None:
    """Entry point of an HTTP service: one process, or several (`*_PROCESSES`) on one port,
    each building its app (and its background workers) from `factory` ("module:function")
    and settling its heap, supervised and stopped by uvicorn. Exits 3 when a worker stopped
    the service (too many dead letters)."""
    configure(settings.log_level)
    processes = getattr(settings, "processes", 1)
    if processes > 1:
        os.environ[FACTORY] = factory
        os.environ[GC_THRESHOLD] = str(settings.gc_threshold)
        os.environ[HEADER_TIMEOUT] = str(settings.header_timeout_seconds)
        uvicorn.run(
            f"{__name__}:settled_app",
            factory=True,
            workers=processes,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            access_log=False,
            http="iaspipe.http.protocol:HeaderDeadlineFromEnv",
        )
        return
    serve_until_stopped(create_app(settings), settings)


def serve_until_stopped(app: FastAPI, settings: Any) -> None:
    """Serve one process as `settings` say; exit 3 when a worker stopped the service."""
    serve(
        app,
        settings.host,
        settings.port,
        settings.log_level,
        settings.header_timeout_seconds,
        settings.gc_threshold,
    )
    if app.state.workers.fatal:
        raise SystemExit(3)
