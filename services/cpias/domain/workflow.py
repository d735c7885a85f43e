"""Case workflow and deadlines (R1413-83 3°: the CPias investigates and follows up). Pure."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum


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


class WorkflowError(ValueError):
    """A move the workflow does not allow."""


class IllegalTransition(WorkflowError):
    def __init__(self, current: Status, target: Status) -> None:
        self.current, self.target = current, target
        self.allowed = list(ALLOWED[current])
        super().__init__(f"{current} -> {target} is not allowed")


class OutcomeRequired(WorkflowError):
    pass


def check_transition(current: Status, target: Status, outcome: Outcome | None) -> None:
    if target not in ALLOWED[current]:
        raise IllegalTransition(current, target)
    if target is Status.closed and outcome is None:
        raise OutcomeRequired("closing a case needs an outcome")


def ack_deadline(opened_at: dt.datetime, priority: str, hours: dict[str, float]) -> dt.datetime:
    return opened_at + dt.timedelta(hours=hours[priority])


def is_overdue(status: str, ack_due_at: dt.datetime, now: dt.datetime) -> bool:
    return status == Status.new and now > ack_due_at
