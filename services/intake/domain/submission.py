"""A new declaration, ready to store in one go: every row it needs, with its JSON encoded
once. Its reference number is only known when stored (a sequence per region and year), so
the texts that carry the reference (the event, the answer) are kept in two halves around it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from iaspipe.principal import Caller
from schemas import topics
from schemas.events import envelope_json, timestamp

# Stands for the reference until it is known; unguessable, so no declaration text holds it.
REFERENCE_MARK = f"@@{uuid.uuid4().hex}@@"


class _Identifiers:
    """Random (version 4) UUIDs drawn from a buffer of system randomness refilled 4 KiB at a
    time: one system call per 256 identifiers instead of one each (a system call lets the
    process's other threads take the interpreter, which the request then waits for)."""

    def __init__(self) -> None:
        self._buffer = b""
        self._lock = threading.Lock()

    def new(self) -> str:
        with self._lock:
            if not self._buffer:
                self._buffer = os.urandom(4096)
            raw, self._buffer = self._buffer[:16], self._buffer[16:]
        return str(uuid.UUID(bytes=raw, version=4))


new_id = _Identifiers().new


def key_scope(caller: Caller) -> str:
    """Whose idempotency keys these are: the establishment of the token (its FINESS), or the
    token's subject when it has none. Two establishments may use the same keys."""
    finess = caller.principal.finess
    return f"finess:{finess}" if finess else f"subject:{caller.subject}"


def reference_of(prefix: str, sequence: int) -> str:
    """IAS-2026-84-000042: year, region code, sequence (six digits at least)."""
    return f"{prefix}{sequence:06d}"


def split_on_reference(text: str) -> tuple[str, str]:
    before, _, after = text.partition(REFERENCE_MARK)
    return before, after


def submitted_event_json(
    *,
    event_id: str,
    declaration_id: str,
    reference: str,
    received_at: dt.datetime,
    declaration_json: str,
    warnings_json: str | None = None,
) -> str:
    """The DeclarationSubmitted event (schemas.events) around an already encoded declaration,
    with the warnings given to the declarant when known. The one place its bytes are made: at
    submission and when republished."""
    warnings = f',"warnings":{warnings_json}' if warnings_json is not None else ""
    payload = (
        f'{{"declaration_id":"{declaration_id}","reference":{json.dumps(reference)},'
        f'"received_at":"{timestamp(received_at)}","declaration":{declaration_json}{warnings}}}'
    )
    return envelope_json(
        "DeclarationSubmitted",
        payload,
        event_id=event_id,
        correlation_id=declaration_id,
        occurred_at=received_at,
    )


@dataclass(frozen=True)
class NewDeclaration:
    """Everything a submission writes, in one transaction (see ports.Submissions)."""

    id: str
    event_id: str
    region_code: str
    year: int
    departement: str
    finess: str | None
    body_json: str
    received_at: dt.datetime
    caller: Caller
    idempotency_key: str | None
    request_hash: str
    idempotency_scope: str
    event_halves: tuple[str, str]
    answer_halves: tuple[str, str]
    # Where the regional figures file it (domain/figures.py).
    received_on: dt.date
    week: dt.date
    facets: tuple[tuple[str, str], ...]
    topic: str = topics.DECLARATIONS

    @property
    def reference_prefix(self) -> str:
        return f"IAS-{self.year}-{self.region_code}-"

    def reference(self, sequence: int) -> str:
        return reference_of(self.reference_prefix, sequence)

    def event_bytes(self, reference: str) -> bytes:
        return reference.join(self.event_halves).encode()

    def answer(self, reference: str) -> dict[str, Any]:
        return json.loads(reference.join(self.answer_halves))  # type: ignore[no-any-return]
