"""The investigators' use cases: the CPias queue, a case's page, and each change made from it
(a move along the workflow, an assignment, a note, a link, a decision on a cluster
suggestion). cpias judges every change; the portal only builds the request from the form and
reads the answer. Free text is never logged."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from schemas.answers import CaseDetail, CasePage, ClusterView, NoteView
from schemas.problems import Problem
from services.portal.domain.accounts import Person
from services.portal.domain.answers import Refused
from services.portal.domain.casework import ME, NOBODY, QueueFilters, is_uuid, problem
from services.portal.ports import CasesApi, PortalUnitOfWork, TokenMinter

Posted = Mapping[str, list[str]]


def _one(posted: Posted, name: str) -> str:
    return (posted.get(name) or [""])[0].strip()


def _optional(posted: Posted, **names: str) -> dict[str, str]:
    """The optional texts that were filled in, under the API's names."""
    return {api: _one(posted, name) for api, name in names.items() if _one(posted, name)}


@dataclass(frozen=True)
class CaseFile:
    """Everything a case's page shows: the case, its confirmed cluster with its cases, the
    investigators it may be assigned to, and the names of the people its history mentions."""

    case: CaseDetail
    cluster: ClusterView | None
    colleagues: list[Person] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)


def colleagues(
    uow: PortalUnitOfWork, cpias: str | None, *, active_only: bool = False
) -> list[Person]:
    """The investigators of a CPias (of every CPias when None): local accounts, and those who
    signed in through the identity provider, by name. `active_only`: not the accounts an
    admin disabled (a case is not given to someone who can no longer sign in; their name
    still reads in the history)."""
    with uow:
        people = [
            a.person() for a in uow.accounts.investigators(cpias) if a.active or not active_only
        ]
        people += uow.people.investigators(cpias)
    unique = {p.subject: p for p in people}
    return sorted(unique.values(), key=lambda p: (p.display_name.casefold(), p.subject))


def names_of(people: list[Person], person: Person) -> dict[str, str]:
    return {p.subject: p.display_name for p in [*people, person]}


def queue(
    api: CasesApi,
    minter: TokenMinter,
    person: Person,
    filters: QueueFilters,
    *,
    limit: int,
) -> CasePage | Refused:
    params = {
        **filters.api_params(person.subject),
        "limit": limit,
        "offset": (filters.page - 1) * limit,
    }
    return api.page(minter.mint(person), params)


def new_urgent(api: CasesApi, minter: TokenMinter, person: Person, since: dt.datetime) -> int:
    """Urgent cases still to acknowledge that opened after `since`, in the person's scope."""
    page = api.page(minter.mint(person), {"priority": "urgent", "status": "new", "limit": 200})
    if isinstance(page, Refused):
        return 0
    return sum(1 for c in page.items if c.opened_at > since)


def case_file(
    api: CasesApi, minter: TokenMinter, uow: PortalUnitOfWork, person: Person, case_id: str
) -> CaseFile | None:
    """None when the case is absent or outside the person's scope."""
    token = minter.mint(person)
    case = api.get(token, case_id)
    if case is None:
        return None
    cluster = api.cluster(token, case.cluster.id) if case.cluster else None
    everyone = colleagues(uow, case.cpias)
    assignable = colleagues(uow, case.cpias, active_only=True)
    return CaseFile(case, cluster, assignable, names_of(everyone, person))


def move(
    api: CasesApi, minter: TokenMinter, person: Person, case_id: str, posted: Posted
) -> CaseDetail | Refused:
    """A move along the workflow (`to`), with its reason; closing carries its outcome."""
    body: dict[str, Any] = {"to": _one(posted, "to"), **_optional(posted, reason="reason")}
    if body["to"] == "closed":
        body |= _optional(posted, outcome="outcome")
    return api.transition(minter.mint(person), case_id, body)


def assign(
    api: CasesApi,
    minter: TokenMinter,
    person: Person,
    case_id: str,
    posted: Posted,
    allowed: set[str],
) -> CaseDetail | Refused:
    """To the person (`moi`), to nobody (`personne`), or to one of `allowed` (the subjects of
    the case's CPias's investigators)."""
    chosen = _one(posted, "assignee")
    if chosen == ME:
        chosen = person.subject
    if chosen != NOBODY and chosen not in allowed | {person.subject}:
        return Refused(
            422,
            "Attribution refusée / Assignment refused",
            [
                problem(
                    "assignee",
                    "unknown_assignee",
                    "Choisissez une personne de la liste.",
                    "Choose someone from the list.",
                )
            ],
        )
    return api.assign(minter.mint(person), case_id, None if chosen == NOBODY else chosen)


def add_note(
    api: CasesApi, minter: TokenMinter, person: Person, case_id: str, posted: Posted
) -> NoteView | Refused:
    return api.add_note(minter.mint(person), case_id, _one(posted, "kind"), _one(posted, "text"))


def link(
    api: CasesApi, minter: TokenMinter, person: Person, case_id: str, posted: Posted
) -> CaseDetail | Refused:
    """Link another case by its reference. A reference that names no case the person may see
    is said beside the field (cpias answers 404 for it as for the case itself)."""
    reference = _one(posted, "reference").upper()
    if not reference:
        return Refused(422, "Lien refusé / Link refused", [_no_reference(empty=True)])
    token = minter.mint(person)
    body = {
        "reference": reference,
        "kind": _one(posted, "kind"),
        **_optional(posted, reason="reason"),
    }
    answer = api.link(token, case_id, body)
    if isinstance(answer, Refused) and answer.status == 404 and api.get(token, case_id):
        return Refused(422, answer.detail, [_no_reference(empty=False)])
    return answer


def _no_reference(*, empty: bool) -> Problem:
    if empty:
        return problem(
            "reference",
            "reference_required",
            "Saisissez la référence du dossier à lier, par exemple IAS-2026-84-000012.",
            "Type the reference of the case to link.",
        )
    return problem(
        "reference",
        "reference_unknown",
        "Aucun dossier que vous puissiez lier ne porte cette référence : vérifiez-la (par exemple "
        "IAS-2026-84-000012) ; un dossier suivi par un autre CPias ne peut pas être lié ici.",
        "No case of your scope has this reference.",
    )


# The most suggestions one card may dismiss at once (a cluster's members near this case).
MAX_GROUPED = 50


def decide(
    api: CasesApi,
    minter: TokenMinter,
    person: Person,
    case_id: str,
    other_case_id: str,
    posted: Posted,
) -> CaseDetail | Refused:
    """Confirm a cluster suggestion (with the new cluster's name, when given) or dismiss it.

    The page shows the suggestions toward one confirmed cluster as one card: confirming one
    confirms the others with it (cpias), and dismissing it dismisses the others too (`also`,
    each one decided here after the first; one already decided meanwhile is passed over)."""
    decision = _one(posted, "decision")
    body: dict[str, Any] = {"decision": decision, **_optional(posted, reason="reason")}
    if decision == "confirm":
        body |= _optional(posted, name="name")
    token = minter.mint(person)
    answer = api.decide(token, case_id, other_case_id, body)
    if decision != "dismiss" or isinstance(answer, Refused):
        return answer
    others = {o for o in posted.get("also", []) if is_uuid(o)} - {case_id, other_case_id}
    for other in sorted(others)[:MAX_GROUPED]:
        later = api.decide(token, case_id, other, body)
        answer = answer if isinstance(later, Refused) else later
    return answer
