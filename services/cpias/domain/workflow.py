"""Case workflow and deadlines (R1413-83 3°: the CPias investigates and follows up). Pure."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from iaspipe.errors import Conflict, ServiceError
from schemas.problems import Problem


class Status(StrEnum):
    new = "new"
    acknowledged = "acknowledged"
    investigating = "investigating"
    monitoring = "monitoring"
    closed = "closed"


class Outcome(StrEnum):
    controlled = "controlled"
    no_further_action = "no_further_action"
    transferred = "transferred"
    not_healthcare_associated = "not_healthcare_associated"
    other = "other"


class NoteKind(StrEnum):
    call = "call"
    site_visit = "site_visit"
    screening_result = "screening_result"
    recommendation = "recommendation"
    measure = "measure"
    other = "other"


class LinkKind(StrEnum):
    same_episode = "same_episode"
    cluster = "cluster"


ALLOWED: dict[Status, tuple[Status, ...]] = {
    Status.new: (Status.acknowledged,),
    Status.acknowledged: (Status.investigating,),
    Status.investigating: (Status.monitoring,),
    Status.monitoring: (Status.investigating, Status.closed),
    Status.closed: (),
}


class IllegalTransition(Conflict):
    """A move the workflow does not allow now (409, with the moves that are allowed)."""

    detail = "Transition interdite / Transition not allowed"

    def __init__(self, current: Status, target: Status) -> None:
        self.current, self.target = current, target
        self.allowed = list(ALLOWED[current])
        super().__init__(f"{current} -> {target} is not allowed")

    def problems(self) -> list[Problem]:
        allowed = ", ".join(s.value for s in self.allowed) or "aucun / none"
        return [
            Problem(
                path="to",
                rule="illegal_transition",
                message=f"Un dossier « {self.current.value} » ne peut pas passer à "
                f"« {self.target.value} ». Possibles : {allowed}.",
                message_en=f"A {self.current.value} case cannot move to "
                f"{self.target.value}. Allowed: {allowed}.",
            )
        ]

    def headers(self) -> dict[str, str]:
        return {"X-Allowed-Transitions": ",".join(s.value for s in self.allowed)}


class OutcomeRequired(ServiceError):
    status = 422
    detail = "Issue requise / Outcome required"
    path = "outcome"
    rule = "outcome_required"
    message = (
        "Choisissez l'issue du dossier avant de le clôturer (par exemple épisode maîtrisé, "
        "sans suite à donner, transmis à une autre structure)."
    )
    message_en = (
        "Choose the case's outcome before closing it (for example controlled, "
        "no_further_action, transferred)."
    )


def check_transition(current: Status, target: Status, outcome: Outcome | None) -> None:
    if target not in ALLOWED[current]:
        raise IllegalTransition(current, target)
    if target is Status.closed and outcome is None:
        raise OutcomeRequired("closing a case needs an outcome")


def ack_deadline(opened_at: dt.datetime, priority: str, hours: dict[str, float]) -> dt.datetime:
    return opened_at + dt.timedelta(hours=hours[priority])


def is_overdue(status: str, ack_due_at: dt.datetime, now: dt.datetime) -> bool:
    return status == Status.new and now > ack_due_at
