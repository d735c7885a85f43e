"""HTTP basics every service shares: health, readiness, metrics, and serving with uvicorn."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


def health_router(checks: dict[str, Callable[[], bool]]) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="The process is alive")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        summary="Database and broker reachable",
        responses={503: {"description": "A dependency is unreachable"}},
    )
    def readyz() -> JSONResponse:
        results = {name: check() for name, check in checks.items()}
        ok = all(results.values())
        return JSONResponse(
            {
                "status": "ready" if ok else "not ready",
                "checks": {k: "ok" if v else "unreachable" for k, v in results.items()},
            },
            status_code=200 if ok else 503,
        )

    @router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def serve(app: FastAPI, host: str, port: int, log_level: str = "info") -> None:
    """Run until SIGINT/SIGTERM; the app's lifespan stops its workers on the way out."""
    uvicorn.run(app, host=host, port=port, log_level=log_level.lower(), access_log=False)


def serve_processes(
    factory: str, host: str, port: int, processes: int, log_level: str = "info"
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
    )


def run_service(settings: Any, create_app: Callable[[Any], FastAPI], factory: str) -> None:
    """Entry point of an HTTP service: one process, or several (`*_PROCESSES`) built by
    `factory`. Exits 3 when a worker stopped the service (too many dead letters)."""
    from iaspipe.logs import configure

    configure(settings.log_level)
    if settings.processes > 1:
        serve_processes(
            factory, settings.host, settings.port, settings.processes, settings.log_level
        )
        return
    app = create_app(settings)
    serve(app, settings.host, settings.port, settings.log_level)
    if app.state.workers.fatal:
        raise SystemExit(3)
