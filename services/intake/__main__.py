"""python -m services.intake: run the intake API with its relay and status consumer."""

from __future__ import annotations

from iaspipe.http import serve
from iaspipe.logs import configure
from services.intake.app import create_app
from services.intake.settings import IntakeSettings


def main() -> None:
    settings = IntakeSettings()
    configure(settings.log_level)
    serve(create_app(settings), settings.host, settings.port, settings.log_level)


if __name__ == "__main__":
    main()
