"""Logging set-up. Log lines carry identifiers and counts, never declaration bodies (R1413-80)."""

from __future__ import annotations

import logging


def configure(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        force=True,
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)
