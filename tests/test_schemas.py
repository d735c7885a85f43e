"""Contracts: exported JSON Schema files are current; the envelope round-trips."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.events import (
    Envelope,
    UndecodableEvent,
    decode,
    derived_event_id,
    derived_event_text,
    envelope_bytes,
    envelope_json,
    notification_envelope,
)
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


def test_a_known_event_of_another_type_than_expected_is_undecodable() -> None:
    with pytest.raises(UndecodableEvent, match="unexpected event type 'DeclarationSubmitted'"):
        decode(submitted().to_bytes(), {"DeclarationRouted"})


def test_an_invalid_payload_names_where_it_is_invalid() -> None:
    raw = json.loads(submitted().to_bytes())
    raw["payload"]["received_at"] = "yesterday"
    with pytest.raises(
        UndecodableEvent, match="DeclarationSubmitted payload invalid at received_at"
    ):
        decode(json.dumps(raw).encode())


def test_one_pass_decoding_reads_what_the_envelope_then_its_payload_read() -> None:
    raw = submitted().to_bytes()
    head, payload = decode(raw)
    env = Envelope.model_validate_json(raw)
    assert (head.event_id, head.event_type, head.occurred_at, head.correlation_id) == (
        env.event_id,
        env.event_type,
        env.occurred_at,
        env.correlation_id,
    )
    assert payload.model_dump(mode="json") == env.payload


@given(st.uuids(), st.text(max_size=40))
def test_a_derived_id_s_text_is_the_uuid5_s(parent: uuid.UUID, name: str) -> None:
    assert derived_event_text(parent, name) == str(derived_event_id(parent, name))


def test_an_envelope_s_bytes_are_its_json_encoded() -> None:
    env = submitted()
    payload = json.dumps(env.payload, ensure_ascii=False)
    args = {"event_id": env.event_id, "correlation_id": env.correlation_id}
    text = envelope_json("X", payload, occurred_at=env.occurred_at, **args)
    parts = payload.encode()
    assert (
        envelope_bytes("X", parts[:7], memoryview(parts)[7:], occurred_at=env.occurred_at, **args)
        == text.encode()
    )
    assert Envelope.model_validate_json(text).payload == env.payload


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


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("declaration_id", "d" * 1000),
        ("declaration_id", "not-a-uuid"),
        ("reference", "IAS-2026-84-000001\x00"),
        ("reference", "IAS-2026-84-" + "9" * 300),
        ("region_code", "9" * 100),
        ("cpias", "cpias-ara\x00"),
        ("submitted_by", "someone\x00"),
    ],
)
def test_an_event_with_values_no_service_writes_is_refused_when_read(
    field: str, value: str
) -> None:
    """Bounded as the services store them: read, such an event is undecodable (poison,
    dead-lettered), never a database error on every try."""
    from tests.notifications import notification_request

    request = notification_request()
    raw = json.loads(notification_envelope(request).to_bytes())
    raw["payload"][field] = value
    with pytest.raises(UndecodableEvent):
        decode(json.dumps(raw).encode())
    assert decode(notification_envelope(request).to_bytes())[1] == request
