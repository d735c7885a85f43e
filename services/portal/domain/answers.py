"""What the portal reads in intake's answers, beyond schemas/answers.py: warnings on an
accepted declaration and obligations on its routing entry (rules version 2). Both are read
when present and ignored when absent, so the portal works with intake before and after v2."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from iaspipe.errors import ServiceError
from schemas.answers import DeclarationView
from schemas.problems import Problem


@dataclass(frozen=True)
class Obligation:
    """A duty the declarant still has elsewhere (a notifiable-disease report...)."""

    article: str
    message: str
    message_en: str = ""


@dataclass(frozen=True)
class Accepted:
    declaration_id: str
    reference: str
    received_at: dt.datetime
    warnings: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class Refused:
    """A 4xx answer: every problem, each with its path (and article when a rule has one)."""

    status: int
    detail: str
    problems: list[Problem]


@dataclass(frozen=True)
class Followed:
    """A declaration with its timeline, and the obligations its routing carried."""

    view: DeclarationView
    obligations: list[Obligation]


class ReadRefused(Exception):
    """A read whose parameters the service refused (422): its problems, each with its path,
    to show beside the filters they concern."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


class ServiceUnavailable(ServiceError):
    """Intake or cpias did not answer (network error, timeout, 5xx): nothing is known about
    whether the request took effect, so it may be sent again with the same key."""

    status = 503
    detail = "Service momentanément indisponible / Service unavailable"
    rule = "unavailable"
    message = "La réception des déclarations ne répond pas pour le moment."
    message_en = "The receiving service does not answer."


def warnings_of(raw: dict[str, Any]) -> list[Problem]:
    return [Problem.model_validate({"rule": "warning", **w}) for w in raw.get("warnings") or []]


def obligations_of(raw: dict[str, Any]) -> list[Obligation]:
    """The obligations of the routing entries of a raw DeclarationView, once each."""
    seen: dict[tuple[str, str], Obligation] = {}
    for entry in raw.get("timeline") or []:
        for o in entry.get("obligations") or []:
            ob = Obligation(
                article=str(o.get("article", "")),
                message=str(o.get("message", "")),
                message_en=str(o.get("message_en", "")),
            )
            seen.setdefault((ob.article, ob.message), ob)
    return list(seen.values())
