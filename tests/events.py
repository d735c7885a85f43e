"""Build real events the way the services do."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from schemas import topics
from schemas.declaration import Declaration
from schemas.events import (
    DeclarationRouted,
    DeclarationSubmitted,
    Envelope,
    RoutingDecided,
    decode,
    envelope,
)
from schemas.reference import REFERENCE_DIR
from services.cpias import service as cpias_service
from services.cpias.adapters.orm import CaseRow
from services.cpias.adapters.uow import SqlCpiasUnitOfWork
from services.cpias.domain.clusters import ClusterRules
from services.cpias.settings import CpiasSettings
from services.intake import service as intake_service
from services.intake.adapters.orm import Outbox
from services.intake.adapters.uow import SqlIntakeUnitOfWork
from services.router.domain.routing_rules import RULES_DIR, RoutingData, load_routing_data
from services.router.service import route
from tests.factories import make_declaration

ROUTING = load_routing_data()
ACK_HOURS = CpiasSettings().ack_hours


def submitted(
    body: dict[str, Any] | None = None,
    *,
    reference: str = "IAS-2026-84-000001",
    declaration_id: str | None = None,
    received_at: dt.datetime | None = None,
) -> Envelope:
    declaration_id = declaration_id or str(uuid.uuid4())
    payload = DeclarationSubmitted(
        declaration_id=declaration_id,
        reference=reference,
        received_at=received_at or dt.datetime.now(dt.UTC),
        declaration=Declaration.model_validate(body or make_declaration()),
    )
    return envelope("DeclarationSubmitted", payload, correlation_id=uuid.UUID(declaration_id))


def routed_to_cpias(env: Envelope) -> bytes:
    """The DeclarationRouted the router sends to the CPias for this submission."""
    out = route(env.to_bytes(), ROUTING)
    return next(o.value for o in out if o.topic.startswith("ias.to.cpias-"))


def received_in_cpias(
    sessions: sessionmaker[Session],
    env: Envelope,
    *,
    ack_hours: dict[str, float] = ACK_HOURS,
    now: dt.datetime | None = None,
    clusters: ClusterRules = cpias_service.DEFAULT_CLUSTER_RULES,
) -> DeclarationRouted:
    """What the router and cpias's consumer do with a submission: route it to its CPias, which
    receives the DeclarationRouted (and opens the case) at `now`."""
    routed_env, routed = decode(routed_to_cpias(env))
    assert isinstance(routed, DeclarationRouted)
    cpias_service.receive_routed(
        SqlCpiasUnitOfWork(sessions),
        str(routed_env.event_id),
        routed,
        ack_hours=ack_hours,
        now=now,
        clusters=clusters,
    )
    return routed


def case_id_of(sessions: sessionmaker[Session], declaration_id: str) -> str:
    """The id of the case cpias opened for a declaration."""
    with sessions() as s:
        return str(
            s.scalars(select(CaseRow.id).where(CaseRow.declaration_id == declaration_id)).one()
        )


def opened_case(sessions: sessionmaker[Session], env: Envelope, **options: Any) -> str:
    """The id of the case cpias opens for a submission (`received_in_cpias`'s options)."""
    return case_id_of(sessions, received_in_cpias(sessions, env, **options).declaration_id)


def outbox_events(sessions: sessionmaker[Session], declaration_id: str) -> list[bytes]:
    """What intake has put in its outbox for one declaration, oldest first."""
    with sessions() as s:
        rows = s.scalars(select(Outbox).where(Outbox.key == declaration_id).order_by(Outbox.id))
        return [row.value for row in rows]


def route_stored(
    sessions: sessionmaker[Session], declaration_id: str, data: RoutingData = ROUTING
) -> RoutingDecided:
    """What the router and intake's status consumer do for a stored declaration: route its
    DeclarationSubmitted with `data`, then follow the RoutingDecided in intake."""
    out = route(outbox_events(sessions, declaration_id)[0], data)
    env, decided = decode(next(o.value for o in out if o.topic == topics.ROUTING))
    assert isinstance(decided, RoutingDecided)
    intake_service.follow_event(SqlIntakeUnitOfWork(sessions), str(env.event_id), decided)
    return decided


def changed_routing(tmp_path: Path) -> RoutingData:
    """Other rules and other reference data than those of the initial decision: another
    version, the ARS and Santé publique France citing other texts, no ANSM, and the Rhône in
    another region and CPias."""
    rules = json.loads((RULES_DIR / "rules.json").read_text(encoding="utf-8"))
    rules["version"] = "2027-06-v3"
    rules["recipients"] = [
        {**r, "legal_basis": ["X-1"], "extra_basis": []} if r["kind"] in ("ars", "spf") else r
        for r in rules["recipients"]
        if r["kind"] != "ansm"
    ]
    (tmp_path / "rules.json").write_text(json.dumps(rules), encoding="utf-8")
    lines = (REFERENCE_DIR / "departements.csv").read_text(encoding="utf-8").splitlines()
    moved = "69,Rhône,11,Île-de-France,cpias-idf,CPias Île-de-France"
    lines = [moved if line.startswith("69,") else line for line in lines]
    (tmp_path / "departements.csv").write_text("\n".join(lines), encoding="utf-8")
    diseases = (REFERENCE_DIR / "notifiable_diseases.csv").read_text(encoding="utf-8")
    (tmp_path / "notifiable_diseases.csv").write_text(
        "\n".join(line for line in diseases.splitlines() if not line.startswith("legionellosis")),
        encoding="utf-8",
    )
    return load_routing_data(tmp_path / "rules.json", reference_dir=tmp_path)
