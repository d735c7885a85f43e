"""/healthz, /readyz and /metrics, the same on every service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, Literal["ok", "unreachable"]]


def health_router(checks: dict[str, Callable[[], bool]]) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="The process is alive", response_model=Health)
    def healthz() -> Health:
        return Health()

    @router.get(
        "/readyz",
        summary="Dependencies reachable",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "A dependency is unreachable"}},
    )
    def readyz() -> JSONResponse:
        results = {name: check() for name, check in checks.items()}
        ok = all(results.values())
        answer = Readiness(
            status="ready" if ok else "not ready",
            checks={k: "ok" if v else "unreachable" for k, v in results.items()},
        )
        return JSONResponse(answer.model_dump(), status_code=200 if ok else 503)

    @router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
