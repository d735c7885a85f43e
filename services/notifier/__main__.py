"""python -m services.notifier: run the notifier with its consumer and dispatcher."""

from __future__ import annotations

from iaspipe.http.serving import run_service
from services.notifier.app import create_app
from services.notifier.settings import NotifierSettings


def main() -> None:
    run_service(NotifierSettings(), create_app, "services.notifier.app:from_env")


if __name__ == "__main__":
    main()
