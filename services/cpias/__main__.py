"""python -m services.cpias: run the case service with its consumer and status relay."""

from __future__ import annotations

from iaspipe.http.serving import run_service
from services.cpias.app import create_app
from services.cpias.settings import CpiasSettings


def main() -> None:
    run_service(CpiasSettings(), create_app, "services.cpias.app:from_env")


if __name__ == "__main__":
    main()
