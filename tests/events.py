"""Build real events the way the services do."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from schemas.declaration import Declaration
from schemas.events import DeclarationSubmitted, Envelope, envelope
from services.router.domain.routing_rules import load_routing_data
from services.router.service import route
from tests.factories import make_declaration

ROUTING = load_routing_data()


def submitted(
    body: dict[str, Any] | None = None,
    *,
    reference: str = "IAS-2026-84-000001",
    declaration_id: str | None = None,
) -> Envelope:
    declaration_id = declaration_id or str(uuid.uuid4())
    payload = DeclarationSubmitted(
        declaration_id=declaration_id,
        reference=reference,
        received_at=dt.datetime.now(dt.UTC),
        declaration=Declaration.model_validate(body or make_declaration()),
    )
    return envelope("DeclarationSubmitted", payload, correlation_id=uuid.UUID(declaration_id))


def routed_to_cpias(env: Envelope) -> bytes:
    """The DeclarationRouted the router sends to the CPias for this submission."""
    out = route(env.to_bytes(), ROUTING)
    return next(o.value for o in out if o.topic.startswith("ias.to.cpias-"))
