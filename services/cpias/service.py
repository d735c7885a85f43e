"""CPias use cases. Each takes the unit of work (services/cpias/ports.py) and ends with its
single commit: a change, its history row, its status event (outbox) and its audit row are
committed together or not at all."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from iaspipe.errors import InvalidRequest
from iaspipe.principal import Caller, Principal
from iaspipe.uow import CommitConflict
from schemas import topics
from schemas.answers import CaseDetail, CasePage, CaseSummary, HistoryEntry, LinkView, NoteView
from schemas.declaration import Complement, Declaration
from schemas.events import (
    CaseStatusChanged,
    DeclarationRouted,
    Milestone,
    derived_event_id,
    envelope,
    utcnow,
)
from schemas.plain import is_blank
from schemas.reference import reference
from schemas.validation import texts_problems
from services.cpias import metrics, notices, outbreaks
from services.cpias.domain import fhir, policy
from services.cpias.domain.cases import (
    AssignmentRefused,
    BlankAssignee,
    Case,
    CaseNotFound,
    LinkRefused,
    QueueQuery,
)
from services.cpias.domain.clusters import ClusterRules
from services.cpias.domain.workflow import ALLOWED, LinkKind, NoteKind, Outcome, Status
from services.cpias.ports import CpiasUnitOfWork

DEFAULT_CLUSTER_RULES = ClusterRules()


def _announce(
    uow: CpiasUnitOfWork,
    case: Case,
    milestone: Milestone,
    at: dt.datetime,
    actor: str | None,
    reason: str | None = None,
    *,
    complement_id: str | None = None,
) -> None:
    """A CaseStatusChanged on ias.status.v1, for the declarant's timeline. The "received"
    milestone, and the "complement_received" of each complement, have a fixed event id (see
    `_announce_received`)."""
    received = milestone is Milestone.received
    fixed = "received" if received else None
    if complement_id is not None:
        fixed = f"complement:{complement_id}"
    payload = CaseStatusChanged(
        declaration_id=case.declaration_id,
        reference=case.reference,
        case_id=case.id,
        cpias=case.cpias,
        milestone=milestone,
        status=Status.new.value if received else case.status,
        changed_at=at,
        actor=actor,
        reason=reason,
        outcome=case.outcome if milestone is Milestone.closed else None,
        complement_id=complement_id,
    )
    event = envelope(
        "CaseStatusChanged",
        payload,
        correlation_id=uuid.UUID(case.declaration_id),
        occurred_at=at,
        event_id=derived_event_id(uuid.UUID(case.id), fixed) if fixed else None,
    )
    uow.publish(topics.STATUS, case.declaration_id, event)


def _announce_received(uow: CpiasUnitOfWork, case: Case) -> None:
    """Say again that the case was opened, with the same event id as the first time: intake
    records it if the first copy never reached it (a broker that lost it), and ignores it
    otherwise. Without this, a declaration intake publishes again would never be confirmed."""
    _announce(uow, case, Milestone.received, case.opened_at, "system")


def _announce_complement(uow: CpiasUnitOfWork, case: Case, routed: DeclarationRouted) -> None:
    """Say again that a complement is attached, under the same event id as the first time:
    intake publishes a complement again until it hears this."""
    _announce(
        uow,
        case,
        Milestone.complement_received,
        utcnow(),
        "system",
        complement_id=str(routed.source_event_id),
    )


def receive_routed(
    uow: CpiasUnitOfWork,
    event_id: str,
    routed: DeclarationRouted,
    *,
    ack_hours: dict[str, float],
    now: dt.datetime | None = None,
    clusters: ClusterRules = DEFAULT_CLUSTER_RULES,
) -> bool:
    """`receive_batch` of one event: False when it was already handled."""
    (done,) = receive_batch(
        uow, [(event_id, routed)], ack_hours=ack_hours, now=now, clusters=clusters
    )
    return done


def receive_batch(
    uow: CpiasUnitOfWork,
    events: Sequence[tuple[str, DeclarationRouted]],
    *,
    ack_hours: dict[str, float],
    now: dt.datetime | None = None,
    clusters: ClusterRules = DEFAULT_CLUSTER_RULES,
) -> list[bool]:
    """Open the case of each routed declaration (event id, event), or attach a complement to
    it, in order and in one unit of work committed once. Idempotent: each event id is
    recorded with its effect; False for an event already handled, before or earlier in
    `events` (a case opened again says "received" again, under the same event id). One of
    them handled concurrently elsewhere raises CommitConflict, and nothing is written.
    Opening a case also runs the cluster rule (`clusters`, docs/clusters.md), which sees the
    cases opened before it in `events` too. `now` (each event's own time, by default) stamps
    what an event does."""
    done: list[bool] = []
    opened: dict[str, Case] = {}  # by id, in order
    complemented: dict[str, Case] = {}  # cases opened before, a complement written to
    steps: list[Case | dict[str, Any]] = []  # in order: a case opened, or a history row
    processed: list[tuple[str, dt.datetime]] = []
    with uow:
        seen = uow.processed.seen({event_id for event_id, _ in events})
        # Locked: a complement written to a case must not undo an investigator's move made
        # meanwhile (each writes the whole case).
        cases = uow.cases.of_declarations({r.declaration_id for _, r in events}, for_update=True)
        for event_id, routed in events:
            at = now or utcnow()
            case = cases.get(routed.declaration_id)
            if event_id in seen:
                if case is not None and routed.kind == "initial":
                    _announce_received(uow, case)
                elif case is not None and routed.complement is not None:
                    _announce_complement(uow, case, routed)
                done.append(False)
                continue
            seen.add(event_id)
            processed.append((event_id, at))
            if case is None:
                case = cases[routed.declaration_id] = _open(
                    uow, routed, ack_hours=ack_hours, now=at
                )
                opened[case.id] = case
                steps.append(case)
            complement = _complement(uow, case, routed, at)
            if complement is not None:
                steps.append(complement)
                if case.id not in opened:
                    complemented[case.id] = case
            done.append(True)
        uow.cases.add_many(list(opened.values()))
        for case in complemented.values():
            uow.cases.save(case)
        uow.processed.add_many(processed)
        suggested = outbreaks.on_cases_opened(uow, list(opened.values()), clusters)
        history: list[dict[str, Any]] = []
        for step in steps:  # a case's "opened" row, then the suggestions its opening made
            if isinstance(step, Case):
                history += [_opened_history(step), *suggested.get(step.id, [])]
            else:
                history.append(step)
        uow.history.add_many(history)
        uow.commit()
    metrics.DUPLICATES.inc(done.count(False))
    for case in opened.values():
        metrics.OPENED.labels(case.cpias, case.priority).inc()
    return done


def _open(
    uow: CpiasUnitOfWork,
    routed: DeclarationRouted,
    *,
    ack_hours: dict[str, float],
    now: dt.datetime,
) -> Case:
    """A new case, announced "received" to the declarant and to the CPias team (outbox);
    written by the caller."""
    case = Case.open(
        case_id=str(uuid.uuid4()),
        declaration_id=routed.declaration_id,
        reference=routed.reference,
        cpias=routed.recipient.id,
        region_code=routed.region_code,
        priority=routed.priority.value,
        declaration=routed.declaration.model_dump(mode="json"),
        routing={
            "legal_basis": routed.recipient.legal_basis,
            "reason": routed.recipient.reason,
            "rules_version": routed.rules_version,
        },
        received_at=routed.received_at,
        now=now,
        ack_hours=ack_hours,
    )
    _announce(uow, case, Milestone.received, now, "system")
    notices.request_new_case(uow, case, now)
    return case


def _opened_history(case: Case) -> dict[str, Any]:
    return _history_row(
        case.id, case.opened_at, "opened", None, {"status": case.status, "priority": case.priority}
    )


def _complement(
    uow: CpiasUnitOfWork, case: Case, routed: DeclarationRouted, now: dt.datetime
) -> dict[str, Any] | None:
    """Attach the complement a routed event carries, if new to the case, and announce it (to
    the declarant's timeline and to the CPias team); its history row, or None. The case is
    written by the caller."""
    complement = routed.complement if routed.kind == "complement" else None
    if complement is None:
        return None
    had_complement = case.complement_received
    complement_id = str(routed.source_event_id)
    if not case.add_complement(complement.model_dump(mode="json")):
        # The same text sent again under another id (a second submission, not a copy): it
        # is attached once, but confirmed under its own id, so that intake stops publishing
        # it and the declarant's timeline shows it received.
        _announce(
            uow, case, Milestone.complement_received, now, "system", complement_id=complement_id
        )
        return None
    _announce(uow, case, Milestone.complement_received, now, "system", complement_id=complement_id)
    notices.request_complement(uow, case, complement_id, now)
    return _history_row(
        case.id,
        now,
        "complement_received",
        {"complement_received": had_complement},
        {"complement_received": True},
    )


def _history_row(
    case_id: str,
    at: dt.datetime,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> dict[str, Any]:
    """A history row written by the system (History.add_many)."""
    return {
        "case_id": case_id,
        "at": at,
        "actor": "system",
        "action": action,
        "before": before,
        "after": after,
        "reason": None,
    }


def summary(
    case: Case, now: dt.datetime, suggestions_pending: int = 0, cluster_name: str | None = None
) -> CaseSummary:
    decl = case.declaration
    establishment = decl["establishment"]
    return CaseSummary(
        id=case.id,
        declaration_id=case.declaration_id,
        reference=case.reference,
        cpias=case.cpias,
        region_code=case.region_code,
        priority=case.priority,
        status=case.status,
        assignee=case.assignee,
        received_at=case.received_at,
        opened_at=case.opened_at,
        deadlines={"acknowledge_by": case.ack_due_at},
        overdue=case.is_overdue(now),
        acknowledged_at=case.acknowledged_at,
        closed_at=case.closed_at,
        outcome=case.outcome,
        complement_received=case.complement_received,
        establishment={k: establishment.get(k) for k in ("finess", "name", "kind", "departement")},
        criteria=decl.get("criteria", []),
        pathogens=[
            " ".join(filter(None, (p.get("species"), p.get("mechanism"))))
            for p in decl.get("infection", {}).get("pathogens", [])
        ],
        suggestions_pending=suggestions_pending,
        cluster_name=cluster_name,
    )


QUEUE_FILTERS = ("status", "priority", "assignee", "declaration_id", "reference", "cpias")


def list_cases(
    uow: CpiasUnitOfWork,
    *,
    filters: dict[str, Any],
    caller: Caller,
    limit: int,
    offset: int,
    now: dt.datetime | None = None,
) -> CasePage:
    """The caller's queue: only cases in its scope, urgent first, then the longest waiting
    since reception. The read is audited (the scope's CPias, or "*")."""
    now = now or utcnow()
    wanted = {k: filters[k] for k in QUEUE_FILTERS if filters.get(k) is not None}
    scope = policy.queue_scope(caller.principal)
    with uow:
        cases, total = uow.cases.page(
            QueueQuery(
                filters=wanted,
                scope=scope,
                now=now,
                limit=limit,
                offset=offset,
                overdue=filters.get("overdue"),
                search=filters.get("q") or None,
                assigned=filters.get("assigned"),
                closed=filters.get("closed"),
            )
        )
        ids = [c.id for c in cases]
        pending, clusters = uow.links.pending_counts(ids), uow.clusters.names_of(ids)
        uow.audit(caller, "list", "case", scope_id(scope))
        uow.commit()
    return CasePage(
        items=[summary(c, now, pending.get(c.id, 0), clusters.get(c.id)) for c in cases],
        total=total,
        limit=limit,
        offset=offset,
    )


def scope_id(scope: dict[str, Any]) -> str:
    """The object of a list's audit entry: the CPias or region it was narrowed to, or "*"."""
    return str(scope.get("cpias") or scope.get("region_code") or "*")


def check_texts(**texts: str | None) -> None:
    """What investigators type follows the declaration's rules: no patient identity
    (R1413-80), no control or bidirectional-override character (InvalidRequest, 422)."""
    problems = texts_problems(texts)
    if problems:
        raise InvalidRequest(problems, "Texte refusé / Text refused")


def _readable(
    uow: CpiasUnitOfWork, case_id: str, principal: Principal, *, act: bool = False
) -> Case:
    """The case if the caller may see it (else CaseNotFound); `act` also checks it may act,
    and locks the case until the commit: two moves at once take turns, and the second is
    checked against what the first did (on PostgreSQL; SQLite runs one writer at a time)."""
    case = uow.cases.get(case_id, for_update=act)
    if case is None or not policy.can_read(principal, case):
        raise CaseNotFound(case_id)
    if act:
        policy.check_may_act(principal)
    return case


def _detail(uow: CpiasUnitOfWork, case: Case, now: dt.datetime, viewer: Principal) -> CaseDetail:
    """The whole case as `viewer` may see it: a linked case outside its scope shows neither
    its reference nor a way to open it (`visible` false)."""
    cluster = uow.clusters.of_case(case.id)
    links = uow.links.of(case.id, lambda cpias, region: policy.sees(viewer, cpias, region))
    # The undecided suggestions are among the case's links: counted there, not queried again.
    pending = sum(
        1 for link in links if link.kind == LinkKind.cluster and link.status == "suggested"
    )
    return CaseDetail(
        **summary(case, now, pending, cluster.name if cluster else None).model_dump(),
        # The moves this viewer may make: none for a reader (an ARS viewer).
        allowed_transitions=(
            [s.value for s in ALLOWED[Status(case.status)]] if policy.may_act(viewer) else []
        ),
        declaration=Declaration.model_validate(case.declaration),
        complements=[Complement.model_validate(c) for c in case.complements],
        routing=case.routing,
        notes=uow.notes.of(case.id),
        history=_seen_history(uow.history.of(case.id), links),
        links=links,
        episodes=uow.episodes.of(case.id),
        cluster=None if cluster is None else uow.clusters.summary(cluster),
    )


def _seen_history(history: list[HistoryEntry], links: list[LinkView]) -> list[HistoryEntry]:
    """The history as the links show it: a row naming a linked case outside the viewer's
    scope (a link, a decided suggestion) keeps its id but not its reference."""
    hidden = {link.case_id for link in links if not link.visible}

    def seen(values: dict[str, Any] | None) -> dict[str, Any] | None:
        if values is None or values.get("case_id") not in hidden:
            return values
        return {k: v for k, v in values.items() if k != "reference"}

    return [
        h.model_copy(update={"before": seen(h.before), "after": seen(h.after)}) for h in history
    ]


def _answered(
    uow: CpiasUnitOfWork, case: Case, caller: Caller, action: str, now: dt.datetime
) -> CaseDetail:
    """The end of a use case on one case: its audit row in the same transaction, the case as
    the caller now sees it, the commit."""
    uow.audit(caller, action, "case", case.id)
    detail = _detail(uow, case, now, caller.principal)
    uow.commit()
    return detail


def get_case(
    uow: CpiasUnitOfWork,
    case_id: str,
    *,
    caller: Caller,
    now: dt.datetime | None = None,
) -> CaseDetail:
    """A whole case, if in the caller's scope; the read is audited."""
    now = now or utcnow()
    with uow:
        case = _readable(uow, case_id, caller.principal)
        return _answered(uow, case, caller, "read", now)


def transition(
    uow: CpiasUnitOfWork,
    case_id: str,
    *,
    to: Status,
    caller: Caller,
    reason: str | None,
    outcome: Outcome | None,
    now: dt.datetime | None = None,
) -> CaseDetail:
    """Move a case along the workflow; IllegalTransition says which moves are allowed."""
    now = now or utcnow()
    with uow:
        case = _readable(uow, case_id, caller.principal, act=True)
        check_texts(reason=reason)  # once the caller may act: else its 404 or 403 comes first
        before, after = case.move(to, outcome, now)
        uow.cases.save(case)
        uow.history.add(case.id, now, caller.subject, "status", before, after, reason)
        _announce(uow, case, Milestone(to.value), now, caller.subject, reason)
        detail = _answered(uow, case, caller, f"transition:{to.value}", now)
    _observe(case, to, now)
    return detail


def _observe(case: Case, to: Status, now: dt.datetime) -> None:
    if to is Status.acknowledged:
        metrics.TIME_TO_ACK.labels(case.cpias, case.priority).observe(
            (now - case.opened_at).total_seconds()
        )
        metrics.SUBMISSION_TO_ACK.labels(case.cpias, case.region_code, case.priority).observe(
            max((now - case.received_at).total_seconds(), 0)
        )
    if to is Status.closed:
        metrics.TIME_TO_CLOSE.labels(case.cpias, case.priority).observe(
            (now - case.opened_at).total_seconds()
        )


def assign(
    uow: CpiasUnitOfWork,
    case_id: str,
    *,
    assignee: str | None,
    caller: Caller,
    now: dt.datetime | None = None,
) -> CaseDetail:
    now = now or utcnow()
    with uow:
        case = _readable(uow, case_id, caller.principal, act=True)
        check_texts(assignee=assignee)  # an identifier, but typed: no patient in it either
        if assignee is not None and is_blank(assignee):  # nobody: say so with null
            raise BlankAssignee("blank assignee")
        if case.status == Status.closed.value:  # nobody works a closed case any more
            raise AssignmentRefused(
                "Un dossier clôturé ne peut plus être attribué.",
                "a closed case is no longer assigned",
            )
        before = {"assignee": case.assignee}
        case.assignee = assignee
        uow.cases.save(case)
        uow.history.add(case.id, now, caller.subject, "assignment", before, {"assignee": assignee})
        return _answered(uow, case, caller, "assignment", now)


def add_note(
    uow: CpiasUnitOfWork,
    case_id: str,
    *,
    kind: NoteKind,
    text: str,
    caller: Caller,
    now: dt.datetime | None = None,
) -> NoteView:
    now = now or utcnow()
    with uow:
        case = _readable(uow, case_id, caller.principal, act=True)
        check_texts(text=text)
        note = uow.notes.add(case.id, kind.value, text, caller.subject, now)
        uow.history.add(
            case.id, now, caller.subject, "note", None, {"note_id": note.id, "kind": kind.value}
        )
        uow.audit(caller, "note", "case", case_id)
        uow.commit()
    return note


def link_cases(
    uow: CpiasUnitOfWork,
    case_id: str,
    *,
    other: dict[str, str | None],
    kind: LinkKind,
    reason: str | None,
    caller: Caller,
    now: dt.datetime | None = None,
) -> CaseDetail:
    """Link two cases (same episode, or a cluster across establishments); seen from both."""
    now = now or utcnow()
    try:
        return _link(uow, case_id, other, kind, reason, caller, now)
    except CommitConflict as exc:  # the same link made at the same moment by someone else
        raise LinkRefused(*ALREADY_LINKED) from exc


ALREADY_LINKED = (
    "Ces dossiers sont déjà liés : le lien figure parmi les dossiers liés, rien n'est à refaire.",
    "these cases are already linked",
)


def _link(
    uow: CpiasUnitOfWork,
    case_id: str,
    other: dict[str, str | None],
    kind: LinkKind,
    reason: str | None,
    caller: Caller,
    now: dt.datetime,
) -> CaseDetail:
    with uow:
        case = _readable(uow, case_id, caller.principal, act=True)
        check_texts(reason=reason)
        target = uow.cases.find(**other)
        if target is None or not policy.can_read(caller.principal, target):
            raise CaseNotFound("linked case")
        if target.id == case.id:
            raise LinkRefused(
                "Indiquez la référence d'un autre dossier : un dossier ne peut pas être lié à "
                "lui-même.",
                "give another case's reference: a case cannot be linked to itself",
            )
        a, b = sorted((case.id, target.id))
        existing = uow.links.state(a, b)
        before: dict[str, Any] | None = None
        if existing is None:
            uow.links.add(a, b, kind.value, reason, caller.subject, now)
        elif existing[1] == "suggested":  # linking a suggested pair decides the suggestion
            uow.links.decide(a, b, "confirmed", caller.subject, now, kind=kind.value)
            before = {"kind": existing[0], "status": existing[1]}
        else:
            raise LinkRefused(*ALREADY_LINKED)
        if kind is LinkKind.cluster:  # an investigator's cluster link is a confirmed cluster
            outbreaks.join(uow, [case, target], actor=caller.subject, now=now)
        for one, two in ((case, target), (target, case)):
            uow.history.add(
                one.id,
                now,
                caller.subject,
                "link",
                before and {"case_id": two.id, "reference": two.reference, **before},
                {"case_id": two.id, "reference": two.reference, "kind": kind.value},
                reason,
            )
        return _answered(uow, case, caller, "link", now)


def case_fhir(
    uow: CpiasUnitOfWork,
    case_id: str,
    *,
    caller: Caller,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The case as a FHIR R4 Bundle for other agencies' systems (services/cpias/domain/
    fhir.py); in the caller's scope like the case itself, and audited like reading it."""
    now = now or utcnow()
    with uow:
        case = _readable(uow, case_id, caller.principal)
        bundle = fhir.case_bundle(case, _cpias_name(case.cpias), now)
        uow.audit(caller, "read:fhir", "case", case_id)
        uow.commit()
    return bundle


def _cpias_name(cpias_id: str) -> str:
    names = {d.cpias_id: d.cpias_name for d in reference().departements.values()}
    return names.get(cpias_id, cpias_id)


def open_counts(
    uow: CpiasUnitOfWork, now: dt.datetime | None = None
) -> list[tuple[str, str, str, str, int, int]]:
    """Open cases by CPias, region, priority and status, with how many are overdue."""
    with uow:
        counts = uow.cases.open_counts(now or utcnow())
        uow.commit()
    return counts
