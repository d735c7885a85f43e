"""The event envelope and the event payloads carried on the topics.

Payloads tolerate unknown fields so that old and new readers understand each other; a breaking
change is a new schema_version and a new topic.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from enum import StrEnum
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    create_model,
)

from schemas.declaration import Complement, Declaration
from schemas.problems import Problem

SCHEMA_VERSION = 1


class Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore")


# What the services keep of an event, bounded as they store it (and as the services write
# it): a record that breaks these is poison when it is read, dead-lettered with its bytes,
# not a database error on every try that holds its partition back.
DeclarationId = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
]
Reference = Annotated[str, StringConstraints(pattern=r"^IAS-[0-9]{4}-[0-9]{2}-[0-9]{6,12}$")]
RegionCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{2}$")]
CpiasId = Annotated[str, StringConstraints(pattern=r"^cpias-[a-z]{1,34}$")]
CaseId = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z-]{1,36}$")]
# A recipient as routing names it: its kind, then its region or its CPias ("ars-84", "spf").
RecipientId = Annotated[str, StringConstraints(pattern=r"^[a-z]+(-[0-9a-z]+)*$", max_length=64)]
Subject = Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
FinessCode = Annotated[str, StringConstraints(pattern=r"^[0-9AB]{9}$")]


class EventHead(Tolerant):
    """What an envelope says of its event, its payload apart."""

    event_id: uuid.UUID
    event_type: str
    schema_version: int = SCHEMA_VERSION
    occurred_at: AwareDatetime
    correlation_id: uuid.UUID


class Envelope(EventHead):
    payload: dict[str, Any]

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def envelope(
    event_type: str,
    payload: BaseModel,
    *,
    correlation_id: uuid.UUID,
    event_id: uuid.UUID | None = None,
    occurred_at: dt.datetime | None = None,
) -> Envelope:
    return Envelope(
        event_id=event_id or uuid.uuid4(),
        event_type=event_type,
        occurred_at=occurred_at or utcnow(),
        correlation_id=correlation_id,
        payload=payload.model_dump(mode="json"),
    )


def timestamp(value: dt.datetime) -> str:
    """A UTC instant as the envelope writes it in JSON (2026-11-25T21:06:25.123456Z)."""
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def envelope_json(
    event_type: str,
    payload_json: str,
    *,
    event_id: str | uuid.UUID,
    correlation_id: str | uuid.UUID,
    occurred_at: dt.datetime | str,
) -> str:
    """An envelope's JSON around a payload already encoded: what `envelope(...).to_bytes()`
    gives, without decoding and encoding the payload again (hot paths encode it once).
    `occurred_at` may come already written by `timestamp`."""
    return f"{_envelope_head(event_type, event_id, correlation_id, occurred_at)}{payload_json}}}"


def envelope_bytes(
    event_type: str,
    *payload_parts: bytes | memoryview,
    event_id: str | uuid.UUID,
    correlation_id: str | uuid.UUID,
    occurred_at: dt.datetime | str,
) -> bytes:
    """`envelope_json(...).encode()` around a payload given as the consecutive parts of its
    UTF-8 JSON: the router joins each recipient's bytes to the declaration's, encoded once,
    without a round trip through `str`."""
    head = _envelope_head(event_type, event_id, correlation_id, occurred_at).encode()
    return b"".join((head, *payload_parts, b"}"))


def _envelope_head(
    event_type: str,
    event_id: str | uuid.UUID,
    correlation_id: str | uuid.UUID,
    occurred_at: dt.datetime | str,
) -> str:
    at = occurred_at if isinstance(occurred_at, str) else timestamp(occurred_at)
    return (
        f'{{"event_id":"{event_id}","event_type":"{event_type}",'
        f'"schema_version":{SCHEMA_VERSION},"occurred_at":"{at}",'
        f'"correlation_id":"{correlation_id}","payload":'
    )


def derived_event_id(parent: uuid.UUID, name: str) -> uuid.UUID:
    """Deterministic id of an event derived from another: the same on every redelivery."""
    return uuid.uuid5(parent, name)


def derived_event_text(parent: uuid.UUID, name: str) -> str:
    """`str(derived_event_id(parent, name))`, written straight from the hash: the router
    derives four ids a record, and building each `UUID` object cost more than the hash."""
    digest = bytearray(hashlib.sha1(parent.bytes + name.encode(), usedforsecurity=False).digest())
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5 (RFC 4122, 4.1.3)
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest[:16].hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Priority(StrEnum):
    urgent = "urgent"
    high = "high"
    normal = "normal"


class DeclarationSubmitted(Tolerant):
    declaration_id: DeclarationId
    reference: Reference
    received_at: AwareDatetime
    declaration: Declaration
    warnings: list[Problem] | None = Field(
        default=None,
        description="The warnings intake gave the declarant (the routing decision carries "
        "them); absent from events published before they were carried here",
    )


class RecipientDecision(Tolerant):
    id: str
    kind: str
    topic: str
    legal_basis: list[str]
    reason: str
    for_information: bool = Field(
        default=False,
        description="Sent for information only: the product that names this recipient was "
        "already declared to its vigilance",
    )


class Obligation(Tolerant):
    """What the declarant still owes elsewhere: this declaration does not discharge it."""

    rule: str
    owed_to: str = Field(description="Who it is owed to: ars, spf, ansm")
    article: str
    message: str
    message_en: str


class Decision(Tolerant):
    region_code: RegionCode
    cpias: CpiasId
    priority: Priority
    rules_version: str
    recipients: list[RecipientDecision]
    warnings: list[Problem] = Field(
        default_factory=list, description="The declaration's warnings (never blocking)"
    )
    obligations: list[Obligation] = Field(default_factory=list)


class DeclarationComplemented(Tolerant):
    declaration_id: DeclarationId
    reference: Reference
    received_at: AwareDatetime
    complemented_at: AwareDatetime
    complement: Complement
    declaration: Declaration
    initial_decision: Decision | None = Field(
        default=None,
        description="The routing decision of the initial declaration, as intake stored it: "
        "the complement goes to exactly these recipients",
    )


class DeclarationRouted(Tolerant):
    """One declaration delivered to one recipient, with why it is sent there."""

    declaration_id: DeclarationId
    reference: Reference
    kind: Literal["initial", "complement"]
    source_event_id: uuid.UUID
    received_at: AwareDatetime
    region_code: RegionCode
    cpias: CpiasId
    priority: Priority
    rules_version: str
    recipient: RecipientDecision
    declaration: Declaration
    complement: Complement | None = None


class RoutingDecided(Tolerant):
    declaration_id: DeclarationId
    reference: Reference
    kind: Literal["initial", "complement"]
    source_event_id: uuid.UUID
    decided_at: AwareDatetime
    decision: Decision


class Milestone(StrEnum):
    received = "received"
    acknowledged = "acknowledged"
    investigating = "investigating"
    monitoring = "monitoring"
    complement_received = "complement_received"
    closed = "closed"


class CaseStatusChanged(Tolerant):
    declaration_id: DeclarationId
    reference: Reference
    case_id: CaseId
    cpias: CpiasId
    milestone: Milestone
    status: str
    changed_at: AwareDatetime
    actor: str | None = None
    reason: str | None = None
    outcome: str | None = None
    complement_id: str | None = Field(
        default=None,
        description="With complement_received: the complement attached (the event id of its "
        "DeclarationComplemented); intake publishes again a complement left unconfirmed",
    )


class ClusterCase(Tolerant):
    """A case of a flagged cluster: which declaration, where and when. Nothing about
    patients (there is none in a declaration)."""

    case_id: CaseId
    declaration_id: DeclarationId
    reference: Reference
    cpias: CpiasId
    region_code: RegionCode
    departement: str
    finess: str | None = None
    episode_date: dt.date


class ClusterFlagged(Tolerant):
    """A confirmed cluster whose cases span several regions, flagged for Santé publique
    France (national analysis and support, R1413-82), on ias.status.v1 keyed by the cluster
    id. Published again, with the same cluster id, each time it reaches one more region.
    Intake does not follow it (not a declaration's timeline)."""

    cluster_id: str
    name: str
    recipient: str = Field(default="spf", description="Who the flag is for")
    reason: str = Field(default="spans_regions", description="Why it is flagged")
    organism: str | None = None
    mechanism_family: str | None = None
    regions: list[str]
    first_date: dt.date
    last_date: dt.date
    cases: list[ClusterCase]
    flagged_at: AwareDatetime
    actor: str | None = None


class RecipientAcknowledged(Tolerant):
    declaration_id: DeclarationId
    recipient_id: RecipientId
    acknowledged_at: AwareDatetime
    note: str | None = None


class NotificationKind(StrEnum):
    """What a notification is about (docs/notifications.md): who receives each kind is the
    notifier's setting, not the requester's choice."""

    receipt = "receipt"  # intake: the declaration is routed; to the declarant
    case_closed = "case_closed"  # intake: the CPias closed the case; to the declarant
    new_case = "new_case"  # cpias: a case is opened; to the CPias team
    ack_reminder = "ack_reminder"  # cpias: the acknowledgement deadline is near
    ack_overdue = "ack_overdue"  # cpias: the acknowledgement deadline has passed
    complement = "complement"  # cpias: a complement is attached to the case; to the CPias team


class NotifiedEstablishment(Tolerant):
    name: str
    finess: FinessCode | None = None
    departement: str


class NotificationRequested(Tolerant):
    """A message someone must get about a declaration, requested in the transaction of the
    change that calls for it. It carries only what a message may show (docs/notifications.md,
    the content rule): never the declaration's free text, never anything about a patient.
    Its event id is `notification_event_id(declaration_id, kind)`, so a cause handled twice
    requests it once."""

    kind: NotificationKind
    declaration_id: DeclarationId
    reference: Reference
    priority: Priority
    region_code: RegionCode
    cpias: CpiasId
    establishment: NotifiedEstablishment
    requested_at: AwareDatetime
    case_id: CaseId | None = None
    deadline: AwareDatetime | None = Field(
        default=None, description="The case's acknowledgement deadline"
    )
    declarant_email: str | None = Field(
        default=None, description="Where the declarant's messages go (receipt, case closed)"
    )
    submitted_by: Subject | None = Field(
        default=None,
        description="Who submitted the declaration (token subject): with the FINESS, who may "
        "read the messages sent about it",
    )
    recipients: list[str] = Field(
        default_factory=list, description="Receipt: the recipients of the declaration"
    )
    obligations: list[Obligation] = Field(
        default_factory=list, description="Receipt: what the declarant still owes elsewhere"
    )
    outcome: str | None = Field(default=None, description="Case closed: the outcome's code")
    complement_id: str | None = Field(
        default=None,
        description="Complement: which one (a declaration may have several, each announced once)",
    )


def notification_event_id(
    declaration_id: str, kind: NotificationKind, complement_id: str | None = None
) -> uuid.UUID:
    """The event id of a notification request: one per declaration and kind (and complement,
    for a complement's), whatever delivered its cause and however often."""
    name = f"notification:{kind.value}"
    if complement_id is not None:
        name += f":{complement_id}"
    return derived_event_id(uuid.UUID(declaration_id), name)


def notification_envelope(request: NotificationRequested) -> Envelope:
    """The event of a notification request, with its deterministic id."""
    return envelope(
        "NotificationRequested",
        request,
        event_id=notification_event_id(request.declaration_id, request.kind, request.complement_id),
        correlation_id=uuid.UUID(request.declaration_id),
        occurred_at=request.requested_at,
    )


EVENT_MODELS: dict[str, type[BaseModel]] = {
    "DeclarationSubmitted": DeclarationSubmitted,
    "DeclarationComplemented": DeclarationComplemented,
    "DeclarationRouted": DeclarationRouted,
    "RoutingDecided": RoutingDecided,
    "CaseStatusChanged": CaseStatusChanged,
    "RecipientAcknowledged": RecipientAcknowledged,
    "ClusterFlagged": ClusterFlagged,
    "NotificationRequested": NotificationRequested,
}


class UndecodableEvent(ValueError):
    """The bytes are not an event this reader can ever understand."""


def event_type(raw: bytes | None) -> str | None:
    """The event type an envelope announces, or None when the bytes are not an envelope."""
    try:
        return Envelope.model_validate_json(raw or b"").event_type
    except ValidationError:
        return None


def _typed_envelope(name: str, model: type[BaseModel]) -> type[EventHead]:
    fields: dict[str, Any] = {
        "event_type": (Literal[name], ...),
        "schema_version": (Literal[SCHEMA_VERSION], SCHEMA_VERSION),
        "payload": (model, ...),
    }
    return create_model(f"{name}Envelope", __base__=EventHead, **fields)


# Every known event's envelope with its payload typed, told apart by `event_type`: one pass
# of pydantic-core over the bytes, where the envelope then its payload's dict took two.
_TYPED_ENVELOPES: TypeAdapter[Any] = TypeAdapter(
    Annotated[  # type: ignore[arg-type]  # a union built at run time
        Union[tuple(_typed_envelope(n, m) for n, m in EVENT_MODELS.items())],  # noqa: UP007
        Field(discriminator="event_type"),
    ]
)


def decode(raw: bytes | None, expected: set[str] | None = None) -> tuple[EventHead, BaseModel]:
    """Parse an envelope and its typed payload; UndecodableEvent when that can never work."""
    if raw is None:
        raise UndecodableEvent("empty message")
    try:
        typed = _TYPED_ENVELOPES.validate_json(raw)
    except ValidationError:
        return _decode_in_two(raw, expected)  # raises what is wrong, by step
    if expected is not None and typed.event_type not in expected:
        raise UndecodableEvent(f"unexpected event type {typed.event_type!r}")
    return typed, typed.payload


def _decode_in_two(raw: bytes, expected: set[str] | None) -> tuple[EventHead, BaseModel]:
    """The envelope, then its payload: each step says what it found wrong."""
    try:
        env = Envelope.model_validate_json(raw)
    except ValidationError as exc:
        raise UndecodableEvent(f"not an event envelope: {exc.error_count()} error(s)") from exc
    model = EVENT_MODELS.get(env.event_type)
    if model is None or (expected is not None and env.event_type not in expected):
        raise UndecodableEvent(f"unexpected event type {env.event_type!r}")
    if env.schema_version != SCHEMA_VERSION:
        raise UndecodableEvent(f"unsupported schema_version {env.schema_version}")
    try:
        payload = model.model_validate(env.payload)
    except ValidationError as exc:
        locs = sorted({".".join(map(str, e["loc"])) for e in exc.errors()})[:5]
        raise UndecodableEvent(f"{env.event_type} payload invalid at {', '.join(locs)}") from exc
    return env, payload
