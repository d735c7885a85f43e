"""The declaration form, step by step: /declarations/new, its steps, the review, the sending
and the confirmation. Every step posts back to the server, which keeps the draft."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from iaspipe.principal import Role
from services.portal import service
from services.portal.domain import form
from services.portal.domain.answers import Followed, ServiceUnavailable
from services.portal.domain.drafts import Draft
from services.portal.web.deps import (
    DeclarantDep,
    OptionalSessionDep,
    Portal,
    PortalDep,
    PostedDep,
    SessionDep,
    check_csrf,
    error_page,
    first,
    login_url,
    one_place,
    redirect,
    render,
    session_token,
)
from services.portal.web.formview import FormView

router = APIRouter(prefix="/declarations/new")


def step_url(draft_id: str, slug: str, anchor: str | None = None) -> str:
    return f"/declarations/new/{draft_id}/{slug}" + (f"#{anchor}" if anchor else "")


def _view(portal: Portal, draft: Draft, role: Role, slug: str) -> FormView:
    readonly = frozenset({"establishment.finess"}) if role is Role.declarant else frozenset()
    return FormView(
        draft.data,
        portal.ref,
        form.place(draft.problems),
        readonly,
        base_url=f"/declarations/new/{draft.id}",
        current=slug,
    )


def _stepper(slug: str) -> dict[str, object]:
    index = form.step_index(slug)
    steps = form.ALL_STEPS
    return {
        "step": steps[index],
        "step_number": index + 1,
        "step_count": len(steps),
        "next_step": steps[index + 1] if index + 1 < len(steps) else None,
        "steps": steps,
    }


@router.get("", summary="Start a declaration, or resume a draft")
def new(request: Request, portal: PortalDep, person: DeclarantDep) -> Response:
    drafts = service.unsent_drafts(portal.uow(), person.subject)
    where = one_place(_departement(d) for d in drafts)
    return render(request, portal, "new.html", {"drafts": drafts}, where=where)


@router.post("", summary="Start a new draft")
def start(request: Request, portal: PortalDep, session: SessionDep, form_: PostedDep) -> Response:
    check_csrf(session, form_)
    if not session.person.may_declare:
        return redirect("/declarations")
    draft = service.start_draft(portal.uow(), session.person, ref=portal.ref)
    return redirect(step_url(draft.id, form.STEPS[0].slug))


def _departement(draft: Draft) -> str | None:
    """The département a draft names, if any."""
    value = draft.data.get("establishment.departement")
    return value if isinstance(value, str) and value else None


@router.get("/{draft_id}/sent", summary="The confirmation: reference, warnings, obligations")
def sent(request: Request, portal: PortalDep, draft_id: str, person: DeclarantDep) -> Response:
    draft = service.own_draft(portal.uow(), person.subject, draft_id)
    if draft.sent is None:
        return redirect(step_url(draft_id, form.REVIEW.slug))
    followed: Followed | None = None
    try:
        followed = service.followed_declaration(
            portal.api, portal.minter, person, draft.sent.declaration_id
        )
    except ServiceUnavailable:
        followed = None
    return render(
        request,
        portal,
        "sent.html",
        {
            "draft": draft,
            "sent": draft.sent,
            "obligations": followed.obligations if followed else [],
            "products": draft.sent.products,
        },
        where=followed.view.declaration.establishment.departement if followed else None,
    )


@router.get("/{draft_id}/{slug}", summary="A step of the form, or the review")
def show_step(
    request: Request, portal: PortalDep, draft_id: str, slug: str, person: DeclarantDep
) -> Response:
    draft = service.own_draft(portal.uow(), person.subject, draft_id)
    if draft.sent is not None:
        return redirect(f"/declarations/new/{draft_id}/sent")
    return _render_step(request, portal, draft, slug, person.role)


def _render_step(
    request: Request,
    portal: Portal,
    draft: Draft,
    slug: str,
    role: Role,
    *,
    unavailable: bool = False,
    status_code: int = 200,
) -> Response:
    s = form.step(slug)
    if s is None:
        return error_page(request, portal, 404)
    view = _view(portal, draft, role, slug)
    context = {
        "draft": draft,
        "form": view,
        "url": step_url(draft.id, slug),
        "unavailable": unavailable,
        **_stepper(slug),
    }
    if s is form.REVIEW:
        context["steps"] = form.STEPS
        return render(request, portal, "review.html", context, status_code=status_code)
    return render(request, portal, f"step_{slug}.html", context, status_code=status_code)


@router.post(
    "/{draft_id}/submit", summary="Send the draft to intake (Idempotency-Key: the draft's)"
)
def submit(
    request: Request, portal: PortalDep, draft_id: str, session: SessionDep, form_: PostedDep
) -> Response:
    check_csrf(session, form_)
    person = session.person
    try:
        draft = service.submit_draft(portal.uow(), portal.api, portal.minter, person, draft_id)
    except ServiceUnavailable:
        draft = service.own_draft(portal.uow(), person.subject, draft_id)
        return _render_step(
            request, portal, draft, form.REVIEW.slug, person.role, unavailable=True, status_code=503
        )
    if draft.sent is not None:
        return redirect(f"/declarations/new/{draft_id}/sent")
    return redirect(step_url(draft_id, form.REVIEW.slug, "problems"))


@router.post("/{draft_id}/{slug}", summary="Keep a step's fields, then go on")
def save_step(
    request: Request,
    portal: PortalDep,
    draft_id: str,
    slug: str,
    session: OptionalSessionDep,
    form_: PostedDep,
) -> Response:
    action = first(form_, "action") or "next"
    if session is None:
        # Expired while the page was open: keep what was typed, then ask to sign in again.
        token = session_token(request)
        expired = service.expired_session(portal.uow(), token) if token else None
        if expired is not None and service.csrf_ok(expired.csrf_token, first(form_, "csrf_token")):
            service.save_step(
                portal.uow(), expired.person.subject, draft_id, slug, form_, action="save"
            )
        return redirect(login_url(step_url(draft_id, slug), "expired"))
    check_csrf(session, form_)
    saved = service.save_step(
        portal.uow(), session.person.subject, draft_id, slug, form_, action=action
    )
    return redirect(step_url(draft_id, saved.goto, saved.anchor))
