"""From an identity provider's claims to a person with a role and a scope (OpenID Connect
sign-in). Claim names are paths: `a.b` goes into objects, `a[].b` gathers from every item of a
list, so nested claims such as Pro Santé Connect's `SubjectRefPro` can be read
(docs/security.md has the mapping for PSC)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from iaspipe.errors import Forbidden, NotAuthenticated
from iaspipe.principal import Role
from services.portal.domain.accounts import OPTIONAL_SCOPE, SCOPE_OF_ROLE, Person

ROLE_NAMES = {r.value for r in Role}


@dataclass(frozen=True)
class LoginRequest:
    """An OpenID Connect sign-in under way: what the callback needs to finish it. Kept
    server-side, found by its `state`, used once."""

    state: str
    nonce: str
    code_verifier: str
    next_url: str
    created_at: dt.datetime


@dataclass(frozen=True)
class ClaimMapping:
    subject: str = "sub"
    name: str = "name"
    email: str = "email"
    role: str = "iaspipe_role"
    role_values: dict[str, Role] = field(default_factory=dict)
    default_role: Role | None = None
    finess: str = "finess"
    cpias: str = "cpias"
    region: str = "region"


def claim_values(claims: Any, path: str) -> list[str]:
    """Every value at `path`, flattened to strings, in order, without repeats."""
    nodes = [claims]
    for part in path.split(".") if path else []:
        spread = part.endswith("[]")
        name = part[:-2] if spread else part
        nxt: list[Any] = []
        for node in nodes:
            value = node.get(name) if isinstance(node, dict) else None
            if value is None:
                continue
            if spread or isinstance(value, list):
                nxt += value if isinstance(value, list) else [value]
            else:
                nxt.append(value)
        nodes = nxt
    out: list[str] = []
    for node in nodes:
        if isinstance(node, str | int) and str(node) and str(node) not in out:
            out.append(str(node))
    return out


class OidcStateMismatch(NotAuthenticated):
    message = (
        "Cette connexion n’a pas été demandée depuis ce navigateur, ou a expiré : recommencez."
    )


class NoRoleHere(Forbidden):
    message = (
        "Votre identité est reconnue, mais aucun rôle ne vous est attribué sur cette plateforme : "
        "adressez-vous à son administrateur, à votre ARS ou dans votre établissement."
    )


def person_from_claims(claims: dict[str, Any], mapping: ClaimMapping) -> Person:
    """The person the claims describe; NoRoleHere when they give no role, or not the scope
    the role needs. With several values for the scope (a professional working in several
    establishments), the first is taken."""
    subjects = claim_values(claims, mapping.subject)
    if not subjects:
        raise NoRoleHere("no subject claim")
    role: Role | None = None
    for value in claim_values(claims, mapping.role):
        role = mapping.role_values.get(value) or (Role(value) if value in ROLE_NAMES else None)
        if role is not None:
            break
    role = role or mapping.default_role
    if role is None:
        raise NoRoleHere("no role claim")
    scope = {
        name: next(iter(claim_values(claims, getattr(mapping, name))), None)
        for name in ("finess", "cpias", "region")
    }
    needed = SCOPE_OF_ROLE.get(role)
    if needed and not scope[needed] and role not in OPTIONAL_SCOPE:
        raise NoRoleHere(f"a {role.value} needs a {needed} claim")
    names = claim_values(claims, mapping.name)
    emails = claim_values(claims, mapping.email)
    return Person(
        subject=subjects[0],
        role=role,
        finess=scope["finess"] if needed == "finess" else None,
        cpias=scope["cpias"] if needed == "cpias" else None,
        region=scope["region"] if needed == "region" else None,
        display_name=names[0] if names else subjects[0],
        email=emails[0] if emails else None,
    )
