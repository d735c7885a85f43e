"""python -m services.portal: run the portal (pages for health professionals)."""

from __future__ import annotations

from iaspipe.http.serving import run_service
from services.portal.app import create_app
from services.portal.settings import PortalSettings


def main() -> None:
    run_service(PortalSettings(), create_app, "services.portal.app:from_env")


if __name__ == "__main__":
    main()
