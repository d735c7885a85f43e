"""python -m services.router: refuse to start on bad routing data, else route until stopped."""

from __future__ import annotations

import sys

from iaspipe.http.serving import serve_until_stopped
from iaspipe.logs import configure
from services.router.app import create_app, load
from services.router.domain.routing_rules import RulesError
from services.router.settings import RouterSettings


def main() -> None:
    settings = RouterSettings()
    configure(settings.log_level)
    try:
        data = load(settings)
    except RulesError as exc:
        print(f"router: routing data rejected: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    serve_until_stopped(create_app(settings, data), settings)


if __name__ == "__main__":
    main()
