"""python -m services.intake: run the intake API with its relay and status consumer."""

from __future__ import annotations

from iaspipe.http import serve, serve_processes
from iaspipe.logs import configure
from services.intake.app import create_app
from services.intake.settings import IntakeSettings


def main() -> None:
    settings = IntakeSettings()
    configure(settings.log_level)
    if settings.processes > 1:
        serve_processes(
            "services.intake.app:from_env",
            settings.host,
            settings.port,
            settings.processes,
            settings.log_level,
        )
        return
    app = create_app(settings)
    serve(app, settings.host, settings.port, settings.log_level)
    if app.state.workers.fatal:
        raise SystemExit(3)


if __name__ == "__main__":
    main()
