"""The portal's use cases: accounts, sign-in with lock-out, sessions, drafts, and the calls
to intake on behalf of the signed-in person. Each takes its unit of work and ports as
arguments; database changes are committed once per use case, and never around an HTTP call."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from pydantic import ValidationError

from iaspipe.audit import RefusedAttempt
from iaspipe.errors import InvalidRequest
from iaspipe.principal import Caller, Principal, Role, require
from schemas.answers import AuditPage, ComplementAccepted, DeclarationPage
from schemas.declaration import Complement
from schemas.events import utcnow
from schemas.notifications import (
    AddressBook,
    ArsAddressChanged,
    CpiasAddressChanged,
    NotificationPage,
    is_mailbox,
)
from schemas.plain import has_forbidden_character
from schemas.problems import Problem
from schemas.reference import ReferenceData, reference
from schemas.validation import complement_warnings, names_quoted
from services.portal import metrics
from services.portal.domain import administration, form
from services.portal.domain.accounts import (
    Account,
    AccountDisabled,
    AccountExists,
    AccountLine,
    AccountNotFound,
    Attempts,
    CannotDisableSelf,
    LockedOut,
    Person,
    Session,
    SignInFailed,
    account_problems,
    normalise_username,
    password_problems,
)
from services.portal.domain.administration import AuditQuery
from services.portal.domain.answers import Accepted, Followed, Refused, ServiceUnavailable
from services.portal.domain.claims import ClaimMapping, OidcStateMismatch, person_from_claims
from services.portal.domain.drafts import AlreadySent, Draft, DraftNotFound, Sent
from services.portal.ports import (
    AuditApi,
    DeclarationsApi,
    IdentityProvider,
    NotifierApi,
    PasswordHasher,
    PortalUnitOfWork,
    TokenMinter,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionPolicy:
    """How long sessions last and when a username is locked out (settings)."""

    lifetime: dt.timedelta = dt.timedelta(hours=8)
    idle: dt.timedelta = dt.timedelta(hours=1)
    max_failures: int = 5
    lock_for: dt.timedelta = dt.timedelta(minutes=15)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _caller(person: Person, address: str) -> Caller:
    return Caller(person.principal, address)


# -- accounts and sign-in ------------------------------------------------------------------


# Changes made with `iaspipe users` on the server itself are audited under this name.
COMMAND_LINE = Caller(Principal(administration.COMMAND_LINE_SUBJECT, Role.admin), "local")


def add_account(
    uow: PortalUnitOfWork,
    hasher: PasswordHasher,
    *,
    email: str,
    password: str,
    role: Role | str,
    finess: str | None = None,
    cpias: str | None = None,
    region: str | None = None,
    display_name: str = "",
    min_password_length: int = 12,
    confirmation: str | None = None,
    ref: ReferenceData | None = None,
    caller: Caller = COMMAND_LINE,
    now: dt.datetime | None = None,
) -> Account:
    """A local account, audited in its transaction. The password is kept only as its argon2
    hash; typed twice (`confirmation`) on the admin page. InvalidRequest names each field to
    correct (domain/accounts.py, the rules of `iaspipe users add`)."""
    ref = ref or reference()
    problems = account_problems(
        email,
        str(role),
        finess,
        cpias,
        region,
        cpias_ids=ref.cpias_ids,
        region_codes=ref.region_codes,
    )
    problems += password_problems(
        password, password if confirmation is None else confirmation, min_password_length
    )
    if problems:
        raise InvalidRequest(problems)
    email = normalise_username(email)
    account = Account(
        id=str(uuid.uuid4()),
        email=email,
        password_hash=hasher.hash(password),
        role=Role(role),
        finess=finess,
        cpias=cpias,
        region=region,
        display_name=display_name.strip(),
        created_at=now or utcnow(),
    )
    with uow:
        if uow.accounts.get(email) is not None:
            raise AccountExists(email)
        uow.accounts.add(account)
        uow.audit(caller, "account:add", "account", email[:64])
        uow.commit()
    return account


def account_lines(
    uow: PortalUnitOfWork, *, limit: int, offset: int, now: dt.datetime | None = None
) -> tuple[list[AccountLine], int]:
    """A page of the local accounts, each with the lock-out of its username; and the total."""
    now = now or utcnow()
    with uow:
        accounts, total = uow.accounts.page(limit=limit, offset=offset)
        locked = uow.attempts.locked([a.email for a in accounts], now)
    return [AccountLine(a, locked.get(a.email)) for a in accounts], total


def account_by_id(uow: PortalUnitOfWork, account_id: str) -> Account | None:
    with uow:
        return uow.accounts.by_id(account_id)


def set_account_active(
    uow: PortalUnitOfWork,
    email: str,
    *,
    active: bool,
    caller: Caller = COMMAND_LINE,
    now: dt.datetime | None = None,
) -> Account:
    """Disable an account (it cannot sign in, and every open session of it ends now) or enable
    it again; audited in the same transaction. Nobody disables their own account."""
    now = now or utcnow()
    email = normalise_username(email)
    with uow:
        account = uow.accounts.get(email)
        if account is None:
            raise AccountNotFound(email)
        if not active and account.email == caller.subject:
            raise CannotDisableSelf(email)
        if account.active == active:
            return account
        uow.accounts.set_disabled(account.id, None if active else now)
        if not active:
            ended = uow.sessions.delete_of(account.email)
            log.info("account disabled by an admin; %d open session(s) ended", ended)
        uow.audit(caller, "account:enable" if active else "account:disable", "account", email[:64])
        uow.commit()
    return replace(account, disabled_at=None if active else now)


def set_password(
    uow: PortalUnitOfWork,
    hasher: PasswordHasher,
    email: str,
    password: str,
    *,
    min_password_length: int = 12,
    confirmation: str | None = None,
    caller: Caller = COMMAND_LINE,
) -> Account:
    """A new password for a local account (a person who forgot theirs asks an admin): kept as
    its argon2 hash; the account's open sessions end and its lock-out is lifted; audited in
    the same transaction. Typed twice (`confirmation`) on the admin page."""
    problems = password_problems(
        password, password if confirmation is None else confirmation, min_password_length
    )
    if problems:
        raise InvalidRequest(problems)
    email = normalise_username(email)
    with uow:
        account = uow.accounts.get(email)
        if account is None:
            raise AccountNotFound(email)
        uow.accounts.set_password_hash(account.id, hasher.hash(password))
        ended = uow.sessions.delete_of(account.email)
        uow.attempts.clear(account.email)
        log.info("password set by an admin; %d open session(s) ended", ended)
        uow.audit(caller, "account:password", "account", email[:64])
        uow.commit()
    return account


def sign_in(
    uow: PortalUnitOfWork,
    hasher: PasswordHasher,
    *,
    username: str,
    password: str,
    policy: SessionPolicy,
    address: str = "unknown",
    now: dt.datetime | None = None,
) -> tuple[Session, str]:
    """A new session and its cookie token, or SignInFailed (one message whether the username
    or the password is wrong) or LockedOut (after `policy.max_failures` failures in a row
    for this username, whether or not an account has it)."""
    now = now or utcnow()
    username = normalise_username(username)
    if len(username) > 320 or has_forbidden_character(username):
        # No account has such a name, and it is not one to keep (a NUL, 100 KB): the same
        # answer as a wrong password, after the same work, nothing written.
        hasher.verify(hasher.decoy, password)
        metrics.SIGN_INS.labels("failed").inc()
        raise SignInFailed("wrong username or password")
    with uow:
        attempts = uow.attempts.get(username) or Attempts(username)
        if attempts.is_locked(now):
            assert attempts.locked_until is not None
            metrics.SIGN_INS.labels("locked").inc()
            _audit_refused_sign_in(uow, username, address, "locked_out")
            uow.commit()
            raise LockedOut(attempts.locked_until, now)
        account = uow.accounts.get(username)
        stored = account.password_hash if account else hasher.decoy
        verified = hasher.verify(stored, password)
        if account is not None and not account.active:
            # The same answer, after the same work, whether the password was right or not.
            metrics.SIGN_INS.labels("disabled").inc()
            role = account.role.value
            _audit_refused_sign_in(uow, username, address, "account_disabled", role=role)
            uow.commit()
            raise AccountDisabled("account disabled")
        if not verified or account is None:
            failed = attempts.failed(
                now, max_failures=policy.max_failures, lock_for=policy.lock_for
            )
            uow.attempts.save(failed)
            _audit_refused_sign_in(uow, username, address, "wrong_credentials")
            uow.commit()
            metrics.SIGN_INS.labels("failed").inc()
            if failed.is_locked(now):
                assert failed.locked_until is not None
                log.warning(
                    "username %s locked out after failed sign-ins, from %s", username, address
                )
                raise LockedOut(failed.locked_until, now)
            raise SignInFailed("wrong username or password")
        if hasher.needs_rehash(account.password_hash):
            uow.accounts.set_password_hash(account.id, hasher.hash(password))
        uow.attempts.clear(username)
        uow.accounts.record_sign_in(account.id, now)
        session, token = _open_session(uow, account.person(), policy, now)
        uow.audit(_caller(session.person, address), "sign_in", "account", username[:64])
        uow.commit()
    metrics.SIGN_INS.labels("ok").inc()
    return session, token


def _audit_refused_sign_in(
    uow: PortalUnitOfWork, username: str, address: str, reason: str, *, role: str = "-"
) -> None:
    """A refused sign-in is audited under the username typed (which may name nobody), with
    the account's role when the account is known."""
    attempt = RefusedAttempt(username, address, "sign_in", "account", username, reason, role)
    uow.audit_refused(attempt)


def _open_session(
    uow: PortalUnitOfWork, person: Person, policy: SessionPolicy, now: dt.datetime
) -> tuple[Session, str]:
    token = secrets.token_urlsafe(32)
    session = Session(
        token_hash=hash_token(token),
        person=person,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=now + policy.lifetime,
    )
    uow.sessions.add(session)
    return session, token


def open_session(
    uow: PortalUnitOfWork,
    person: Person,
    *,
    policy: SessionPolicy,
    address: str = "unknown",
    now: dt.datetime | None = None,
) -> tuple[Session, str]:
    """A session for a person an identity provider vouched for (OpenID Connect)."""
    now = now or utcnow()
    with uow:
        session, token = _open_session(uow, person, policy, now)
        uow.audit(_caller(person, address), "sign_in", "account", person.subject[:64])
        uow.commit()
    return session, token


LOGIN_REQUEST_TTL = dt.timedelta(minutes=10)


def start_provider_sign_in(
    uow: PortalUnitOfWork,
    provider: IdentityProvider,
    *,
    next_url: str,
    now: dt.datetime | None = None,
) -> tuple[str, str]:
    """Begin an OpenID Connect sign-in: (the provider's URL, the state the browser keeps in a
    cookie to prove the callback is its own)."""
    now = now or utcnow()
    url, request = provider.start(next_url, now)
    with uow:
        uow.logins.add(request)
        uow.commit()
    return url, request.state


def finish_provider_sign_in(
    uow: PortalUnitOfWork,
    provider: IdentityProvider,
    *,
    code: str,
    state: str,
    browser_state: str | None,
    mapping: ClaimMapping,
    policy: SessionPolicy,
    address: str = "unknown",
    now: dt.datetime | None = None,
) -> tuple[Session, str, str]:
    """Finish it: the state must be one this portal issued, to this browser, minutes ago.
    Returns the session, its cookie token and where to go next."""
    now = now or utcnow()
    if not browser_state or not csrf_ok(browser_state, state):
        raise OidcStateMismatch("state does not match the browser's")
    with uow:
        request = uow.logins.pop(state)
        uow.commit()
    if request is None or now - request.created_at > LOGIN_REQUEST_TTL:
        raise OidcStateMismatch("unknown or stale state")
    person = person_from_claims(provider.finish(code, request), mapping)
    with uow:
        uow.people.seen(person, now)  # the colleagues a case may be assigned to
        uow.commit()
    session, token = open_session(uow, person, policy=policy, address=address, now=now)
    return session, token, request.next_url


def current_session(
    uow: PortalUnitOfWork, token: str, *, policy: SessionPolicy, now: dt.datetime | None = None
) -> Session | None:
    """The active session of a cookie token, None when there is none or it has expired (past
    its lifetime, or idle too long). Marks it seen, at most once a minute."""
    now = now or utcnow()
    with uow:
        session = uow.sessions.get(hash_token(token))
        if session is None or not session.is_active(now, policy.idle):
            return None
        if session.needs_touch(now):
            uow.sessions.touch(session.token_hash, now)
            uow.commit()
    return session


def expired_session(uow: PortalUnitOfWork, token: str) -> Session | None:
    """The session of a cookie token, active or not: an expired one may still save the form
    page it was showing (the form keeps its CSRF token), never read anything."""
    with uow:
        return uow.sessions.get(hash_token(token))


def sign_out(uow: PortalUnitOfWork, token: str, *, address: str = "unknown") -> None:
    with uow:
        session = uow.sessions.get(hash_token(token))
        if session is None:
            return
        uow.sessions.delete(session.token_hash)
        uow.audit(
            _caller(session.person, address), "sign_out", "account", session.person.subject[:64]
        )
        uow.commit()


def csrf_ok(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())


def sweep(
    uow: PortalUnitOfWork,
    *,
    policy: SessionPolicy,
    draft_retention: dt.timedelta,
    now: dt.datetime | None = None,
) -> tuple[int, int]:
    """Forget sessions a day after they ended, and drafts left alone past their retention
    (sent ones after a day: their page has been seen). Returns (sessions, drafts) removed."""
    now = now or utcnow()
    grace = dt.timedelta(days=1)
    with uow:
        sessions = uow.sessions.purge(
            expired_before=now - grace, idle_before=now - policy.idle - grace
        )
        drafts = uow.drafts.purge(unsent_before=now - draft_retention, sent_before=now - grace)
        uow.logins.purge(now - LOGIN_REQUEST_TTL)
        uow.commit()
    return sessions, drafts


# -- drafts --------------------------------------------------------------------------------


def start_draft(
    uow: PortalUnitOfWork, person: Person, *, ref: ReferenceData, now: dt.datetime | None = None
) -> Draft:
    now = now or utcnow()
    draft = Draft(
        id=str(uuid.uuid4()),
        owner=person.subject,
        data=form.initial_data(
            finess=person.finess,
            name=person.display_name,
            email=person.email,
            ref=ref,
            community=person.role is Role.declarant and not person.finess,
        ),
        idempotency_key=str(uuid.uuid4()),
        created_at=now,
        updated_at=now,
    )
    with uow:
        uow.drafts.add(draft)
        uow.commit()
    return draft


def _own(uow: PortalUnitOfWork, owner: str, draft_id: str) -> Draft:
    draft = uow.drafts.get(draft_id)
    if draft is None or draft.owner != owner:
        raise DraftNotFound(draft_id)
    return draft


def own_draft(uow: PortalUnitOfWork, owner: str, draft_id: str) -> Draft:
    with uow:
        return _own(uow, owner, draft_id)


def unsent_drafts(uow: PortalUnitOfWork, owner: str) -> list[Draft]:
    with uow:
        return uow.drafts.unsent_of(owner)


@dataclass(frozen=True)
class StepSaved:
    draft: Draft
    # Where to go next: a step's slug; `stay` when the same step must be shown again (a row
    # added or removed, a conditional block to show), with the anchor to land on.
    goto: str
    anchor: str | None = None


def save_step(
    uow: PortalUnitOfWork,
    owner: str,
    draft_id: str,
    slug: str,
    posted: Mapping[str, list[str]],
    *,
    action: str,
    now: dt.datetime | None = None,
) -> StepSaved:
    """Keep what a step's page posted, then say where to go: `next`, `previous`, `stay`
    (after `add_pathogen`, `remove_pathogen:N`, `save`), or a step's slug."""
    now = now or utcnow()
    s = form.step(slug)
    if s is None or s is form.REVIEW:
        raise DraftNotFound(slug)
    with uow:
        draft = _own(uow, owner, draft_id)
        if draft.sent is not None:
            raise AlreadySent(draft_id)
        data, revealed = form.read_step(s, posted, draft.data)
        anchor = None
        goto = _after(slug, action)
        if action == "add_pathogen":
            data = form.add_row(data)
            anchor = f"pathogen-{form.rows(data) - 1}"
        elif action.startswith("remove_pathogen:") and (
            (index := form.whole_number(action.partition(":")[2], default=-1)) >= 0
        ):
            data = form.remove_row(data, index)
            anchor = "pathogens"
        elif revealed and action == "next":
            goto, anchor = slug, form.reveal_anchor(revealed)
        step_fields = {form.pattern(n) for n in s.fields}

        def on_this_step(p: Problem) -> bool:
            return form.pattern(form.field_of(p.path) or "") in step_fields

        typed = form.typed_problems(s, data, reference(), now)
        # The rules between the criteria and the infection, said again from both steps' answers
        # whichever of the two was saved: a criterion ticked after the counts shows on the
        # infection's step.
        episode = form.episode_problems(data, reference())
        episode = None if episode is None else form.on_form_rows(episode, data)
        fresh = typed + (episode or [])
        if action == "next" and not revealed:  # said done: what it still lacks is said now
            fresh += [p for p in form.missing_problems(data) if on_this_step(p)]
        if any(map(on_this_step, fresh)) and form.step_index(goto) > form.step_index(slug):
            goto, anchor = slug, "problems"  # said now, beside the field; going back is free
        kept = [
            p
            for p in draft.problems
            if not on_this_step(p) and (episode is None or p.rule not in form.EPISODE_RULES)
        ]
        problems = kept + fresh
        draft = replace(draft, data=data, problems=problems, updated_at=now)
        uow.drafts.save(draft)
        uow.commit()
    return StepSaved(draft, goto, anchor)


def _after(slug: str, action: str) -> str:
    index = form.step_index(slug)
    if action == "next":
        return form.ALL_STEPS[index + 1].slug
    if action == "previous":
        return form.ALL_STEPS[max(index - 1, 0)].slug
    if form.step(action) is not None:
        return action
    return slug


MAX_ATTEMPTS = 5  # bodies a draft remembers of the tries whose answer was lost


def _key_taken(outcome: Accepted | Refused) -> bool:
    """Intake's 409: the draft's key already holds another body."""
    return isinstance(outcome, Refused) and any(
        p.rule == "idempotency_conflict" for p in outcome.problems
    )


def _first_answer(api: DeclarationsApi, token: str, draft: Draft) -> Accepted | Refused:
    """The answer to whichever earlier try intake stored (the others get 409 again)."""
    outcome: Accepted | Refused | None = None
    for attempt in draft.attempts:
        outcome = api.submit(token, attempt, draft.idempotency_key)
        if not _key_taken(outcome):
            break
    assert outcome is not None
    return outcome


def submit_draft(
    uow: PortalUnitOfWork,
    api: DeclarationsApi,
    minter: TokenMinter,
    person: Person,
    draft_id: str,
    *,
    now: dt.datetime | None = None,
) -> Draft:
    """Send the draft to intake with its own Idempotency-Key: a retry (after a network error,
    a double click, a reload) never makes a second declaration. Accepted: the draft keeps the
    reference and warnings and forgets its fields. Refused: it keeps the problems, shown beside
    their fields. Intake unreachable: ServiceUnavailable, and the draft is unchanged."""
    now = now or utcnow()
    with uow:
        draft = _own(uow, person.subject, draft_id)
    if draft.sent is not None:
        return draft
    typed = draft.data
    body = form.build_body(typed)
    token = minter.mint(person)
    try:
        outcome = api.submit(token, body, draft.idempotency_key)
        changed_since = False
        if _key_taken(outcome) and draft.attempts:
            # A body sent earlier, whose answer was lost, was stored under this key: sent
            # again as it was, it gets the declaration's answer, its reference.
            outcome, changed_since = _first_answer(api, token, draft), True
    except ServiceUnavailable:
        metrics.SUBMISSIONS.labels("unavailable").inc()
        with uow:  # it may have reached intake: remembered, to learn its answer later
            draft = _own(uow, person.subject, draft_id)
            if body not in draft.attempts:
                draft = replace(draft, attempts=[*draft.attempts, body][-MAX_ATTEMPTS:])
                uow.drafts.save(draft)
                uow.commit()
        raise
    metrics.SUBMISSIONS.labels("accepted" if isinstance(outcome, Accepted) else "refused").inc()
    with uow:
        draft = _own(uow, person.subject, draft_id)
        if isinstance(outcome, Accepted):
            sent = Sent(
                outcome.declaration_id,
                outcome.reference,
                outcome.received_at,
                outcome.warnings,
                products=form.products_named(draft.data),
                reminders=form.reminders(draft.data),
                changed_since=changed_since,
            )
            draft = replace(draft, data={}, problems=[], sent=sent, updated_at=now)
        else:
            problems = form.on_form_rows(outcome.problems, typed)
            draft = replace(draft, problems=problems, updated_at=now)
        uow.drafts.save(draft)
        uow.commit()
    return draft


# -- reading and complementing declarations ------------------------------------------------


def declarations_page(
    api: DeclarationsApi, minter: TokenMinter, person: Person, *, limit: int, offset: int
) -> DeclarationPage:
    return api.page(minter.mint(person), limit=limit, offset=offset)


def followed_declaration(
    api: DeclarationsApi, minter: TokenMinter, person: Person, declaration_id: str
) -> Followed | None:
    return api.get(minter.mint(person), declaration_id)


def complement(
    api: DeclarationsApi,
    minter: TokenMinter,
    person: Person,
    declaration_id: str,
    posted: Mapping[str, list[str]],
) -> ComplementAccepted | Refused:
    """Send the cause analysis and action plan (R1413-80, second paragraph) under the form's
    Idempotency-Key (a double click sends one complement). Empty action lines are left out;
    intake judges the rest."""
    key = ((posted.get("complement_key") or [""])[0]).strip()[:200] or None
    return api.complement(
        minter.mint(person), declaration_id, complement_body(posted), idempotency_key=key
    )


def _posted_one(posted: Mapping[str, list[str]], name: str) -> str:
    values = posted.get(name) or [""]
    return values[0].strip()


def _sent_lines(posted: Mapping[str, list[str]]) -> list[int]:
    """The form's action lines that are sent: those with an action or a due date."""
    return [
        i
        for i in range(complement_rows(posted))
        if _posted_one(posted, f"action_plan[{i}].action")
        or _posted_one(posted, f"action_plan[{i}].due_date")
    ]


def already_received(followed: Followed, posted: Mapping[str, list[str]]) -> bool:
    """Whether the declaration holds a complement saying exactly what was posted: sent, its
    answer lost on the way back."""
    try:
        typed = Complement.model_validate(complement_body(posted))
    except ValidationError:  # not a complement intake would have taken
        return False
    return any(
        Complement.model_validate(c.model_dump(include={"cause_analysis", "action_plan"})) == typed
        for c in followed.view.complements
    )


@dataclass(frozen=True)
class ComplementCheck:
    """What a complement form as posted should be looked at again for before it is sent (its
    texts seem to name someone, R1413-80), and the mark of those very texts: posted back with
    the form, it says the sender has read the warnings and sends it as it is."""

    warnings: list[Problem]
    mark: str

    def read_by_sender(self, posted: Mapping[str, list[str]]) -> bool:
        return not self.warnings or _posted_one(posted, "warnings_read") == self.mark


def complement_check(posted: Mapping[str, list[str]]) -> ComplementCheck:
    """The warnings of the complement the form would send, each on the form's line (empty
    lines are not sent), and the mark of the texts they are about: only a warned text that
    changes, or a new one, is warned about again (a due date changed is not)."""
    try:
        typed = Complement.model_validate(complement_body(posted))
    except ValidationError:  # intake says what is wrong with it
        return ComplementCheck([], "")
    warnings = complement_warnings(typed)
    texts = {"cause_analysis": typed.cause_analysis} | {
        f"action_plan[{i}].action": item.action for i, item in enumerate(typed.action_plan)
    }
    warned = sorted(texts.get(w.path, w.path) for w in warnings)
    mark = hashlib.sha256(json.dumps(warned, ensure_ascii=False).encode()).hexdigest()[:32]
    return ComplementCheck(on_form_lines(names_quoted(warnings, typed), posted), mark)


def complement_body(posted: Mapping[str, list[str]]) -> dict[str, Any]:
    plan = []
    for i in _sent_lines(posted):
        action = _posted_one(posted, f"action_plan[{i}].action")
        due = _posted_one(posted, f"action_plan[{i}].due_date")
        plan.append({"action": action, **({"due_date": due} if due else {})})
    # With no line filled, one empty line is sent: intake then names the field to fill.
    cause = _posted_one(posted, "cause_analysis")
    return {"cause_analysis": cause, "action_plan": plan or [{"action": ""}]}


def on_form_lines(problems: list[Problem], posted: Mapping[str, list[str]]) -> list[Problem]:
    """Intake's problems about a complement, its action lines numbered as the form's: with an
    empty line before it, the plan's first action is the form's second."""
    return form.renumbered(problems, "action_plan", _sent_lines(posted))


MAX_ACTIONS = 50  # the contract's most (schemas/declaration.py, Complement.action_plan)


def complement_rows(posted: Mapping[str, list[str]]) -> int:
    return max(form.whole_number((posted.get("action_rows") or ["1"])[0], at_most=MAX_ACTIONS), 1)


def without_action(posted: Mapping[str, list[str]], index: int) -> dict[str, list[str]]:
    """The complement form as posted, less the action line `index` (its "Retirer" button):
    the lines after it move up one, the rest is kept as typed."""
    rows = complement_rows(posted)
    kept = {k: list(v) for k, v in posted.items() if not k.startswith("action_plan[")}
    moved = [i for i in range(rows) if i != index]
    for new, old in enumerate(moved):
        for part in ("action", "due_date"):
            if f"action_plan[{old}].{part}" in posted:
                kept[f"action_plan[{new}].{part}"] = list(posted[f"action_plan[{old}].{part}"])
    kept["action_rows"] = [str(max(len(moved), 1))]
    return kept


# -- administration: the audit logs, the notifier's address book and messages -------------


def audit_page(
    uow: PortalUnitOfWork,
    audits: Mapping[str, AuditApi],
    minter: TokenMinter,
    person: Person,
    query: AuditQuery,
    *,
    limit: int,
) -> AuditPage:
    """One page of a service's audit log, newest first: the portal's own table, or the
    service's GET /v1/audit with the admin's token. One entry more than `limit` is asked
    for, to know whether a next page exists."""
    require(person.principal, Role.admin)
    offset = (query.page - 1) * limit
    if query.service == "portal":
        filters: dict[str, str | None] = dict(query.filters)
        with uow:
            return uow.audit_log.page(filters=filters, limit=limit + 1, offset=offset)
    api = audits[query.service]
    return api.page(minter.mint(person), filters=query.filters, limit=limit + 1, offset=offset)


def address_book(notifier: NotifierApi, minter: TokenMinter, person: Person) -> AddressBook:
    require(person.principal, Role.admin)
    return notifier.address_book(minter.mint(person))


def people_names(uow: PortalUnitOfWork, subjects: Iterable[str]) -> dict[str, str]:
    """The names the portal's local accounts give the subjects it knows (an address book's
    "changed by"): a person reads "Alice Martin", not her sign-in address."""
    names: dict[str, str] = {}
    with uow:
        for subject in set(subjects):
            account = uow.accounts.get(subject)
            if account is not None and account.display_name:
                names[subject] = account.display_name
    return names


def set_address(
    notifier: NotifierApi,
    minter: TokenMinter,
    person: Person,
    kind: str,
    key: str,
    posted: Mapping[str, list[str]],
) -> CpiasAddressChanged | ArsAddressChanged | Refused:
    """Change the address of a CPias team (and its choice for non-urgent cases) or of an ARS
    region. The address is checked here first, so the person reads a French sentence beside
    the field; the notifier judges the rest."""
    require(person.principal, Role.admin)

    def one(name: str) -> str:
        return ((posted.get(name) or [""])[0]).strip()

    address = one("address")
    if not is_mailbox(address):
        problem = Problem(
            path="address",
            rule="address_invalid",
            message="Saisissez une seule adresse électronique, sans espace ni virgule, "
            "par exemple signalement@cpias-exemple.fr.",
            message_en="One e-mail address, without spaces or commas.",
        )
        return Refused(422, "Adresse invalide / Invalid address", [problem])
    token = minter.mint(person)
    if kind == "cpias":
        body = {"address": address, "non_urgent": one("non_urgent") or "immediate"}
        return notifier.set_cpias_address(token, key, body)
    return notifier.set_ars_address(token, key, {"address": address})


def declaration_messages(
    notifier: NotifierApi, minter: TokenMinter, person: Person, declaration_id: str
) -> NotificationPage | None:
    """The messages sent about a declaration that the person may read; None when the notifier
    does not answer (the declaration's page is shown without them)."""
    try:
        return notifier.notifications(minter.mint(person), declaration_id)
    except ServiceUnavailable:
        log.warning("the notifier did not answer: declaration page shown without its messages")
        return None
