"""The CPias's cases: the queue (/cases, its filters in the URL, and its table alone at
/cases/results, which portal.js asks for every few seconds to show new cases), and each case's
page with its forms: a move along the workflow, the assignment, a note, a link, a decision on
a cluster suggestion. Each form posts back, then comes back to the page with a notice; what
cpias refuses is shown beside its field."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from iaspipe.errors import Forbidden
from schemas.answers import CaseDetail, CasePage, NoteView
from schemas.events import utcnow
from services.portal import casework, service
from services.portal.domain import administration, form
from services.portal.domain import casework as words
from services.portal.domain.accounts import Person
from services.portal.domain.answers import Refused, ServiceUnavailable
from services.portal.domain.casework import (
    CLOSE_FIELDS,
    DECIDE_FIELDS,
    LINK_FIELDS,
    ME,
    MOVE_FIELDS,
    NOBODY,
    NOTE_FIELDS,
    CaseFields,
    CaseForm,
    QueueFilters,
    assign_fields,
    is_uuid,
    moved_away,
)
from services.portal.web.deps import (
    PersonDep,
    Portal,
    PortalDep,
    PostedDep,
    SessionDep,
    check_csrf,
    error_page,
    first,
    redirect,
    render,
)
from services.portal.web.formview import FormView, Row

router = APIRouter(prefix="/cases")

PAGE_SIZE = 20


def investigator(person: PersonDep) -> Person:
    if not person.may_investigate:
        raise Forbidden(f"role {person.role.value} has no case queue")
    return person


InvestigatorDep = Annotated[Person, Depends(investigator)]


# -- the queue -----------------------------------------------------------------------------


@router.get("", summary="The CPias's queue: urgent first, then oldest; filters in the URL")
def cases(request: Request, portal: PortalDep, person: InvestigatorDep) -> Response:
    return _queue(request, portal, person, "cases.html", since=None)


@router.get("/results", summary="The queue's table alone, with the cases opened since `since`")
def results(
    request: Request,
    portal: PortalDep,
    person: InvestigatorDep,
    since: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    return _queue(request, portal, person, "partials/cases_results.html", since=_instant(since))


def _instant(value: str | None) -> dt.datetime | None:
    try:
        at = dt.datetime.fromisoformat(value or "")
    except ValueError:
        return None
    return at if at.tzinfo else None


def _queue(
    request: Request, portal: Portal, person: Person, template: str, *, since: dt.datetime | None
) -> Response:
    people = casework.colleagues(portal.uow(), None if person.is_admin else person.cpias)
    filters = QueueFilters.read(
        request.query_params,
        assignees={p.subject for p in people},
        may_choose_cpias=person.is_admin,
    )
    now = utcnow()
    listing: CasePage | Refused | None
    new_urgent, status = 0, 200
    try:
        listing = casework.queue(portal.cases, portal.minter, person, filters, limit=PAGE_SIZE)
        if since is not None:
            new_urgent = casework.new_urgent(portal.cases, portal.minter, person, since)
    except ServiceUnavailable:
        listing, status = None, 503
    problems = listing.problems if isinstance(listing, Refused) else []
    page = listing if isinstance(listing, CasePage) else None
    last = max(1, -(-page.total // PAGE_SIZE)) if page else 1
    if page is not None and filters.page > last:
        # A page that no longer exists (its cases closed meanwhile): the last one that does.
        since_param = {"since": request.query_params["since"]} if since is not None else {}
        query = filters.query(page=last if last > 1 else "", **since_param)
        return redirect(f"{request.url.path}?{query}")
    if isinstance(listing, Refused):
        status = 422
    fresh = {c.id for c in page.items if since and c.opened_at > since} if page else set()
    cpias = {d.cpias_id: d.cpias_name for d in portal.ref.departements.values()}
    context = {
        "cw": words,
        "filters": filters,
        "listing": page,
        "unavailable": listing is None,
        "problems": problems,
        "pages": max(1, -(-page.total // PAGE_SIZE)) if page else 0,
        "names": casework.names_of(people, person),
        "people": [p for p in people if p.subject != person.subject],
        "cpias_choices": sorted(cpias.items(), key=lambda kv: kv[1]),
        "now": now,
        "since": (since or now).isoformat(),
        "fresh": fresh,
        "new_urgent": new_urgent,
        "poll_seconds": portal.settings.cases_poll_seconds,
        "ME": ME,
        "NOBODY": NOBODY,
    }
    return render(request, portal, template, context, status_code=status)


# -- a case's page -------------------------------------------------------------------------


class CaseReading(FormView):
    """The declaration as the CPias reads it: the declarant named in the third person."""

    def review_rows(self, s: form.Step) -> list[Row]:
        return [
            replace(r, label=words.READER_LABELS.get(r.name, r.label))
            for r in super().review_rows(s)
        ]


def _file(portal: Portal, person: Person, case_id: str) -> casework.CaseFile | None:
    if not is_uuid(case_id):
        return None
    return casework.case_file(portal.cases, portal.minter, portal.uow(), person, case_id)


def _not_found(request: Request, portal: Portal) -> Response:
    return error_page(
        request, portal, 404, "Ce dossier n’existe pas, ou il ne relève pas de votre CPias."
    )


@router.get("/{case_id}", summary="A case: the declaration, its follow-up and every action")
def case(
    request: Request,
    portal: PortalDep,
    person: InvestigatorDep,
    case_id: str,
    info: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    file = _file(portal, person, case_id)
    if file is None:
        return _not_found(request, portal)
    notice = words.notice(info or "", file.case.status)
    return _case_page(request, portal, person, file, CaseForm(), info=notice)


def _case_page(
    request: Request,
    portal: Portal,
    person: Person,
    file: casework.CaseFile,
    posted: CaseForm,
    *,
    info: str | None = None,
    status_code: int = 200,
) -> Response:
    c = file.case
    body = c.declaration.model_dump(mode="json", exclude_none=True)
    assignee = c.assignee or ""
    current = ME if assignee == person.subject else assignee or NOBODY
    # Suggestions toward a confirmed cluster first: joining it settles those with its other
    # members, and a new cluster made before would split the outbreak.
    suggestions = sorted(
        (x for x in c.links if x.kind == "cluster" and x.status == "suggested"),
        key=lambda x: x.cluster_id is None,
    )
    views = {
        "note": CaseFields(posted, "note", NOTE_FIELDS, defaults={"kind": ""}),
        "move": CaseFields(posted, "move", MOVE_FIELDS),
        "close": CaseFields(posted, "move", CLOSE_FIELDS, target="closed"),
        "assign": CaseFields(
            posted,
            "assign",
            assign_fields(person, file.colleagues),
            defaults={"assignee": current},
        ),
        "link": CaseFields(posted, "link", LINK_FIELDS, defaults={"kind": "same_episode"}),
    }
    decide = {
        s.case_id: CaseFields(posted, "decide", DECIDE_FIELDS, s.case_id) for s in suggestions
    }
    # A decision on a suggestion that is no longer pending has no form left to show it.
    orphans = posted.problems if posted.name == "decide" and posted.target not in decide else []
    context: dict[str, Any] = {
        "cw": words,
        "orphans": orphans,
        "file": file,
        "c": c,
        "form": CaseReading(form.from_body(body), portal.ref),
        "steps": form.STEPS,
        "v": views,
        "decide": decide,
        "posted": posted,
        "suggestions": suggestions,
        "links": [x for x in c.links if x not in suggestions],
        "info": info,
        "now": utcnow(),
        "mine": assignee == person.subject,
        "messages": service.declaration_messages(
            portal.notifier, portal.minter, person, c.declaration_id
        ),
        "message_words": administration,
    }
    return render(request, portal, "case.html", context, status_code=status_code)


def _after(
    request: Request,
    portal: Portal,
    person: Person,
    case_id: str,
    answer: CaseDetail | NoteView | Refused,
    posted: CaseForm,
    info: str,
) -> Response:
    """Back to the page with a notice; or, when cpias refused, the page again with the form as
    it was posted and the problems beside their fields."""
    if not isinstance(answer, Refused):
        return redirect(f"/cases/{case_id}?info={info}#notice")
    file = _file(portal, person, case_id)
    if file is None:
        return _not_found(request, portal)
    posted.problems = answer.problems
    if answer.status == 409 and posted.name == "move":
        posted.conflict = moved_away(file.case.status)
    status = answer.status if answer.status in (409, 422) else 409
    return _case_page(request, portal, person, file, posted, status_code=status)


Change = Callable[[Portal, Person, str, casework.Posted], CaseDetail | NoteView | Refused]


def _use(case: Callable[..., CaseDetail | NoteView | Refused]) -> Change:
    return lambda portal, person, case_id, posted: case(
        portal.cases, portal.minter, person, case_id, posted
    )


def _assign(
    portal: Portal, person: Person, case_id: str, posted: casework.Posted
) -> CaseDetail | Refused:
    """To oneself, to nobody, or to an investigator of the case's CPias."""
    file = _file(portal, person, case_id)
    if file is None:
        return Refused(404, "Dossier introuvable / Case not found", [])
    allowed = {p.subject for p in file.colleagues}
    return casework.assign(portal.cases, portal.minter, person, case_id, posted, allowed)


# The changes of a case's page: the form's name on the page, the notice after, the use case.
CHANGES: dict[str, tuple[str, str, Change]] = {
    "transitions": ("move", "moved", _use(casework.move)),
    "assignment": ("assign", "assigned", _assign),
    "notes": ("note", "note", _use(casework.add_note)),
    "links": ("link", "linked", _use(casework.link)),
}


@router.get("/{case_id}/{change}", include_in_schema=False)
def back_to_the_case(request: Request, portal: PortalDep, case_id: str, change: str) -> Response:
    """The address of a form shown again after a refusal, opened anew: the case's page."""
    if change not in CHANGES or not is_uuid(case_id):
        return _not_found(request, portal)
    return redirect(f"/cases/{case_id}")


@router.post(
    "/{case_id}/{change}",
    summary="Change a case: `transitions` (a move along the workflow; closing with its "
    "outcome), `assignment` (to oneself or a colleague), `notes`, `links` (by reference)",
)
def change(
    request: Request,
    portal: PortalDep,
    session: SessionDep,
    person: InvestigatorDep,
    case_id: str,
    change: str,
    posted: PostedDep,
) -> Response:
    check_csrf(session, posted)
    if change not in CHANGES or not is_uuid(case_id):
        return _not_found(request, portal)
    name, info, run = CHANGES[change]
    target = "closed" if change == "transitions" and first(posted, "to") == "closed" else ""
    answer = run(portal, person, case_id, posted)
    return _after(
        request, portal, person, case_id, answer, CaseForm(name, posted, target=target), info
    )


@router.post(
    "/{case_id}/suggestions/{other_case_id}",
    summary="Confirm a cluster suggestion (with a name) or dismiss it",
)
def decide(
    request: Request,
    portal: PortalDep,
    session: SessionDep,
    person: InvestigatorDep,
    case_id: str,
    other_case_id: str,
    posted: PostedDep,
) -> Response:
    check_csrf(session, posted)
    if not is_uuid(case_id) or not is_uuid(other_case_id):
        return _not_found(request, portal)
    answer = casework.decide(portal.cases, portal.minter, person, case_id, other_case_id, posted)
    info = "confirmed" if first(posted, "decision") == "confirm" else "dismissed"
    posted_form = CaseForm("decide", posted, target=other_case_id)
    return _after(request, portal, person, case_id, answer, posted_form, info)
