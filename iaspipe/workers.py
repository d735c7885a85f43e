"""Background workers (consumers, relays) that live inside a service process."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable

from iaspipe.kafka import TooManyDeadLetters

log = logging.getLogger(__name__)


class Workers:
    """Threads started in a lifespan and stopped there: stop() sets the event and joins."""

    def __init__(self) -> None:
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self.fatal: str | None = None

    def start(self, name: str, body: Callable[[], None]) -> None:
        def run() -> None:
            backoff = 0.5
            while not self.stop_event.is_set():
                try:
                    body()
                    return
                except TooManyDeadLetters as exc:
                    self.fatal = str(exc)
                    log.critical("worker=%s stopping the service: %s", name, exc)
                    os.kill(os.getpid(), signal.SIGTERM)
                    return
                except Exception as exc:
                    log.warning(
                        "worker=%s failed (%s: %s); restarting in %.1fs",
                        name,
                        type(exc).__name__,
                        exc,
                        backoff,
                    )
                    self.stop_event.wait(backoff)
                    backoff = min(backoff * 2, 10.0)

        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def stop(self, timeout: float = 30) -> None:
        """Ask every worker to finish its batch, commit and close; wait for them."""
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout)
        alive = [t.name for t in self.threads if t.is_alive()]
        if alive:
            log.error("workers still running after %.0fs: %s", timeout, ", ".join(alive))
        else:
            log.info("workers stopped: %s", ", ".join(t.name for t in self.threads))
