"""uvicorn's HTTP protocol with a deadline on request headers: a client that connects and
sends nothing, or sends its headers a byte at a time (slowloris), is cut after a set time
instead of holding a connection for ever. (uvicorn closes idle keep-alive connections itself;
request bodies have their own deadline, iaspipe.http.middleware.BodyLimit.)"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)

HEADER_TIMEOUT = "IASPIPE_HEADER_TIMEOUT"


class HeaderDeadlineProtocol(HttpToolsProtocol):
    header_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        self._header_timer = None
        log.warning(
            "request headers not received within %.0fs: connection closed", self.header_timeout
        )
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def with_header_deadline(seconds: float) -> type[HeaderDeadlineProtocol]:
    return type("HeaderDeadline", (HeaderDeadlineProtocol,), {"header_timeout": seconds})


class HeaderDeadlineFromEnv(HeaderDeadlineProtocol):
    """The protocol of several server processes: uvicorn gives each process the protocol by
    its import path (a class built at run time cannot be sent to another process), so the
    deadline comes from IASPIPE_HEADER_TIMEOUT, set by the parent before it starts them."""

    header_timeout = float(os.environ.get(HEADER_TIMEOUT, "10"))
