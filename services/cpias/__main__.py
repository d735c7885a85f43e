"""python -m services.cpias: run the case service with its consumer and status relay."""

from __future__ import annotations

from iaspipe.http import serve, serve_processes
from iaspipe.logs import configure
from services.cpias.app import create_app
from services.cpias.settings import CpiasSettings


def main() -> None:
    settings = CpiasSettings()
    configure(settings.log_level)
    if settings.processes > 1:
        serve_processes(
            "services.cpias.app:from_env",
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
