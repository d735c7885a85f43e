"""python -m services.intake: run the intake API with its relay and status consumer."""

from __future__ import annotations

from iaspipe.http import serve
from iaspipe.logs import configure
from services.intake.app import create_app
from services.intake.settings import IntakeSettings


def main() -> None:
    settings = IntakeSettings()
    configure(settings.log_level)
    app = create_app(settings)
    serve(app, settings.host, settings.port, settings.log_level)
    if app.state.workers.fatal:
        raise SystemExit(3)


if __name__ == "__main__":
    main()
