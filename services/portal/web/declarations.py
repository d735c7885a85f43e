"""My declarations, and each declaration's page: laid out for reading, its timeline, and the
complement form."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from schemas.problems import Problem
from services.portal import service
from services.portal.domain import administration, form, labels, region
from services.portal.domain.answers import Followed, Refused, ServiceUnavailable
from services.portal.domain.casework import is_uuid
from services.portal.domain.form import dom_id
from services.portal.web.deps import (
    Portal,
    PortalDep,
    PostedDep,
    SessionDep,
    check_csrf,
    error_page,
    first,
    one_place,
    redirect,
    render,
)
from services.portal.web.formview import FormView

router = APIRouter(prefix="/declarations")

PAGE_SIZE = 20


@router.get("", summary="My declarations and their status")
def declarations(
    request: Request,
    portal: PortalDep,
    session: SessionDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    person = session.person
    drafts = service.unsent_drafts(portal.uow(), person.subject) if person.may_declare else []
    try:
        listing = service.declarations_page(
            portal.api, portal.minter, person, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
        )
    except ServiceUnavailable:
        return render(
            request,
            portal,
            "declarations.html",
            {"drafts": drafts, "listing": None, "page": page, "pages": 0},
            status_code=503,
        )
    pages = max(1, -(-listing.total // PAGE_SIZE))
    return render(
        request,
        portal,
        "declarations.html",
        {"drafts": drafts, "listing": listing, "page": page, "pages": pages},
        where=one_place(item.departement for item in listing.items),
    )


@dataclass
class ComplementForm:
    """The complement form as posted (it is not kept: it is one page)."""

    posted: dict[str, list[str]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    rows: int = 1
    # Before sending: what to look at again, and the mark that says it was read.
    check: service.ComplementCheck | None = None
    # The Idempotency-Key the form sends with: made when the form is first shown, kept while
    # it is shown again, so that a double click or a reload sends one complement.
    fresh_key: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def key(self) -> str:
        return first(self.posted, "complement_key") or self.fresh_key

    def id(self, name: str) -> str:
        return dom_id(f"complement.{name}")

    def value(self, name: str) -> str:
        return first(self.posted, name)

    def errors(self, name: str) -> list[Problem]:
        return [p for p in self.problems if _complement_field(p.path) == name]

    @property
    def warnings(self) -> list[Problem]:
        return self.check.warnings if self.check else []

    def warnings_of(self, name: str) -> list[Problem]:
        return [p for p in self.warnings if _complement_field(p.path) == name]

    def general(self) -> list[Problem]:
        return [p for p in self.problems if _complement_field(p.path) is None]

    def field_of(self, problem: Problem) -> str | None:
        return _complement_field(problem.path)

    @staticmethod
    def label(name: str) -> str:
        """How the summary names a field: as its label says."""
        if name == "cause_analysis":
            return "Analyse des causes"
        row = re.fullmatch(r"action_plan\[(\d+)\]\.(action|due_date)", name)
        if row is None:
            return "Plan d’actions correctives"
        number = int(row.group(1)) + 1
        return f"Action {number}" if row.group(2) == "action" else f"Échéance de l’action {number}"


def _complement_field(path: str) -> str | None:
    if path == "cause_analysis" or re.fullmatch(r"action_plan\[\d+\]\.(action|due_date)", path):
        return path
    if path.startswith("action_plan"):
        return "action_plan"
    return None


def _page(
    request: Request,
    portal: Portal,
    followed: Followed,
    complement: ComplementForm,
    *,
    info: str | None = None,
    status_code: int = 200,
) -> Response:
    body = followed.view.declaration.model_dump(mode="json", exclude_none=True)
    data = form.from_body(body)
    view = FormView(data, portal.ref)
    person = request.state.session.person
    # An ARS reader came from the line list: the status in its words (a case the CPias has
    # not acknowledged yet); the declarant reads its own.
    reader = person.watches_region and not person.may_declare
    status = (region.status_label if reader else labels.status_label)(followed.view.status)
    messages = service.declaration_messages(
        portal.notifier, portal.minter, person, followed.view.id
    )
    return render(
        request,
        portal,
        "declaration.html",
        {
            "d": followed.view,
            "status": status,
            "obligations": followed.obligations,
            "form": view,
            "steps": form.STEPS,
            "complement": complement,
            "max_actions": service.MAX_ACTIONS,
            "info": info,
            "messages": messages,
            "message_words": administration,
        },
        status_code=status_code,
        where=followed.view.declaration.establishment.departement,
    )


@router.get("/{declaration_id}", summary="A declaration, its timeline and the complement form")
def declaration(
    request: Request,
    portal: PortalDep,
    session: SessionDep,
    declaration_id: str,
    info: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    followed = (
        service.followed_declaration(portal.api, portal.minter, session.person, declaration_id)
        if is_uuid(declaration_id)
        else None
    )
    if followed is None:
        return error_page(request, portal, 404)
    return _page(request, portal, followed, ComplementForm(), info=info)


@router.post("/{declaration_id}/complement", summary="Send the cause analysis and action plan")
def add_complement(
    request: Request,
    portal: PortalDep,
    session: SessionDep,
    declaration_id: str,
    form_: PostedDep,
) -> Response:
    check_csrf(session, form_)
    if not is_uuid(declaration_id):
        return error_page(request, portal, 404)
    person = session.person
    rows = service.complement_rows(form_)
    action = first(form_, "action")
    removed = re.fullmatch(r"remove_action:(\d{1,2})", action)
    if action == "add_action" or removed:
        followed = service.followed_declaration(portal.api, portal.minter, person, declaration_id)
        if followed is None:
            return error_page(request, portal, 404)
        if removed:
            kept = service.without_action(form_, int(removed.group(1)))
            shown = ComplementForm(kept, [], service.complement_rows(kept))
        else:
            shown = ComplementForm(form_, [], min(rows + 1, service.MAX_ACTIONS))
        return _page(request, portal, followed, shown)
    check = service.complement_check(form_)
    if not check.read_by_sender(form_):
        # A text seems to name someone: said beside it before anything is sent; sent as it is
        # when the same texts come back with the mark of the warnings read.
        followed = service.followed_declaration(portal.api, portal.minter, person, declaration_id)
        if followed is None:
            return error_page(request, portal, 404)
        return _page(request, portal, followed, ComplementForm(form_, [], rows, check))
    try:
        answer = service.complement(portal.api, portal.minter, person, declaration_id, form_)
    except ServiceUnavailable:
        # What was typed is shown again, under the same Idempotency-Key: sent again, it is
        # recorded once, whether or not the lost attempt reached intake.
        followed = service.followed_declaration(portal.api, portal.minter, person, declaration_id)
        if followed is None:
            return error_page(request, portal, 404)
        if service.already_received(followed, form_):  # the answer alone was lost
            return redirect(f"/declarations/{declaration_id}?info=complement#suivi")
        typed = ComplementForm(form_, [], rows)
        return _page(
            request, portal, followed, typed, info="complement_unavailable", status_code=503
        )
    if not isinstance(answer, Refused):
        return redirect(f"/declarations/{declaration_id}?info=complement#suivi")
    followed = service.followed_declaration(portal.api, portal.minter, person, declaration_id)
    if followed is None or answer.status == 404:
        return error_page(request, portal, 404)
    return _page(
        request,
        portal,
        followed,
        ComplementForm(form_, service.on_form_lines(answer.problems, form_), rows),
        status_code=answer.status,
    )
