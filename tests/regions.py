"""Declarations and cases of two regions, stored the way intake and cpias store them, at the
dates a test chooses (the regional figures and the ARS dashboard's tests)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from iaspipe.principal import Caller, Principal, Role
from schemas.declaration import Declaration
from schemas.events import DeclarationSubmitted, envelope
from schemas.reference import reference
from services.cpias import service as cpias_service
from services.cpias.adapters.uow import SqlCpiasUnitOfWork
from services.cpias.domain.workflow import Outcome, Status
from services.intake import service as intake_service
from services.intake.adapters.uow import SqlIntakeUnitOfWork
from tests.events import opened_case

ADMIN = Caller(Principal("admin.test", Role.admin))
# Texts of the sample declaration (tests/factories.py) that no list, chart or export may show:
# its free text, its declarant, its unit.
FREE_TEXT = (
    "Bactériémies à Klebsiella",  # nature
    "chambres voisines",  # circumstances
    "Dépistage rectal",  # investigations
    "Précautions complémentaires",  # initial measures
    "Claire Martin",  # the declarant
    "claire.martin@chu.example",
    "+33 4 72",
    "Réanimation médicale",  # the unit
)


def declare_at(intake: Any, body: dict[str, Any], at: dt.datetime) -> str:
    """Store a declaration received at `at` in intake (its app, or its sessionmaker), as a
    submission does (the SQL path); its outbox row is published if a relay runs."""
    new = intake_service.new_declaration(
        Declaration.model_validate(body),
        ref=reference(),
        caller=ADMIN,
        idempotency_key=None,
        now=at,
        year=at.year,
        warnings=[],
    )
    intake_service.store_submission(SqlIntakeUnitOfWork(_sessions(intake)), new)
    return new.id


def open_case(
    cpias_app: Any,
    body: dict[str, Any],
    *,
    received: dt.datetime,
    opened: dt.datetime,
    declaration_id: str | None = None,
    reference_: str | None = None,
) -> str:
    """The case cpias opens at `opened` for a declaration submitted at `received`."""
    declaration_id = declaration_id or str(uuid.uuid4())
    payload = DeclarationSubmitted(
        declaration_id=declaration_id,
        reference=reference_ or f"IAS-2026-00-{uuid.uuid4().int % 10**6:06d}",
        received_at=received,
        declaration=Declaration.model_validate(body),
    )
    env = envelope("DeclarationSubmitted", payload, correlation_id=uuid.UUID(declaration_id))
    return opened_case(cpias_app.state.sessions, env, now=opened)


def move(cpias: Any, case_id: str, *steps: tuple[Status, dt.datetime]) -> None:
    """Move a case along the workflow at the given moments (closed as controlled); `cpias`
    is its app or its sessionmaker."""
    for to, at in steps:
        cpias_service.transition(
            SqlCpiasUnitOfWork(_sessions(cpias)),
            case_id,
            to=to,
            caller=ADMIN,
            reason=None,
            outcome=Outcome.controlled if to is Status.closed else None,
            now=at,
        )


def _sessions(app_or_sessions: Any) -> Any:
    state = getattr(app_or_sessions, "state", None)
    return state.sessions if state is not None else app_or_sessions
