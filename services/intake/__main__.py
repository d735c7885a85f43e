"""python -m services.intake: run the intake API with its relay and status consumer."""

from __future__ import annotations

from iaspipe.http.serving import run_service
from services.intake.app import create_app
from services.intake.settings import IntakeSettings


def main() -> None:
    run_service(IntakeSettings(), create_app, "services.intake.app:from_env")


if __name__ == "__main__":
    main()
