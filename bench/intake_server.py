"""The intake app plus one trivial POST endpoint, served by the same uvicorn process: the
baseline of the intake benchmark."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from iaspipe.http.auth import PrincipalDep
from iaspipe.http.serving import serve, serve_processes
from iaspipe.logs import configure
from services.intake.app import create_app
from services.intake.settings import IntakeSettings


def factory() -> FastAPI:
    app = create_app(IntakeSettings())

    @app.post("/bench/noop")
    def noop(body: dict[str, Any], _principal: PrincipalDep) -> dict[str, bool]:
        return {"ok": bool(body)}

    return app


def main() -> None:
    settings = IntakeSettings()
    configure("WARNING")
    if settings.processes > 1:
        serve_processes(
            "bench.intake_server:factory",
            settings.host,
            settings.port,
            settings.processes,
            "warning",
        )
    else:
        serve(factory(), settings.host, settings.port, "warning")


if __name__ == "__main__":
    main()
