"""Contracts: exported JSON Schema files are current; the envelope round-trips."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from schemas.events import Envelope, UndecodableEvent, decode
from schemas.export import JSON_DIR, MODELS, stale
from tests.events import submitted


def test_exported_json_schemas_are_current() -> None:
    assert stale(JSON_DIR) == [], "run `make schemas` (iaspipe schemas export) and commit"


def test_stale_check_notices_a_changed_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for path in JSON_DIR.glob("*.json"):
        (tmp_path / path.name).write_text(path.read_text())
    target = tmp_path / "Declaration.v1.schema.json"
    target.write_text(target.read_text().replace('"rpps"', '"rpps_old"'))
    assert stale(tmp_path) == ["Declaration.v1.schema.json"]


def test_export_check_command_exits_zero_when_current() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cli", "schemas", "export", "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout


def test_every_event_is_exported() -> None:
    assert {
        "Envelope",
        "Declaration",
        "DeclarationSubmitted",
        "DeclarationRouted",
        "RoutingDecided",
        "CaseStatusChanged",
        "DeclarationComplemented",
    } <= set(MODELS)
    envelope_schema = json.loads((JSON_DIR / "Envelope.v1.schema.json").read_text())
    assert set(envelope_schema["required"]) >= {
        "event_id",
        "event_type",
        "occurred_at",
        "correlation_id",
        "payload",
    }


def test_envelope_round_trip_and_tolerance_of_new_fields() -> None:
    env = submitted()
    raw = json.loads(env.to_bytes())
    raw["payload"]["added_in_a_later_version"] = 1
    raw["trace"] = "x"
    got, payload = decode(json.dumps(raw).encode())
    assert got.event_id == env.event_id and got.occurred_at.tzinfo is not None
    assert payload.reference == "IAS-2026-84-000001"  # type: ignore[attr-defined]


@pytest.mark.parametrize("raw", [b"", b"{}", b"[1]", b'{"event_type": "Nope"}'])
def test_undecodable(raw: bytes) -> None:
    with pytest.raises(UndecodableEvent):
        decode(raw)


def test_wrong_schema_version_is_undecodable() -> None:
    env = submitted().model_copy(update={"schema_version": 2})
    with pytest.raises(UndecodableEvent, match="schema_version"):
        decode(env.to_bytes())


def test_envelope_needs_aware_time() -> None:
    with pytest.raises(ValueError):
        Envelope(
            event_id=uuid.uuid4(),
            event_type="X",
            occurred_at="2026-11-22T10:00:00",
            correlation_id=uuid.uuid4(),
            payload={},
        )
