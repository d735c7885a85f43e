"""Who may declare, read and act: OIDC bearer tokens checked with PyJWT.

A token is verified against the issuer's JWKS (fetched, cached, refetched on an unknown key id
so rotated keys are accepted), then its issuer, audience and expiry (with a small leeway). The
embedded default is a local issuer: an EC key generated at first run and kept out of git, whose
public half serves as the JWKS. Roles and scopes come from the claims (docs/security.md).
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cachetools import TTLCache
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt import PyJWK, PyJWKClient, PyJWKSet
from pydantic import BaseModel, Field, IPvAnyAddress

from iaspipe.errors import NotAuthenticated
from iaspipe.principal import Principal, Role
from schemas.plain import has_forbidden_character, is_blank

ALGORITHMS = ["ES256", "RS256", "PS256"]
LOCAL_ISSUER = "urn:iaspipe:local-issuer"


class AuthSettings(BaseModel):
    """Part of every service's settings (INTAKE_AUTH__ISSUER, CPIAS_AUTH__JWKS_URL, ...)."""

    issuer: str = LOCAL_ISSUER
    audience: str = "iaspipe"
    jwks_url: str | None = None
    local_key_file: Path = Path(".data/local-issuer-key.pem")
    leeway_seconds: int = 30
    jwks_cache_seconds: int = 300
    # Least time between two JWKS fetches triggered by unknown key ids (rotation vs. abuse).
    jwks_refetch_cooldown_seconds: float = 10.0
    role_claim: str = "iaspipe_role"

    @property
    def is_local(self) -> bool:
        return self.jwks_url is None


# -- the local issuer --------------------------------------------------------------------------


def load_or_create_local_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The local issuer's private key, created with mode 0600 on first use (atomically, so
    services starting together agree on one key)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        try:
            os.link(tmp, path)  # fails if another process won the race: keep theirs
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise NotAuthenticated(f"{path} is not an EC private key")
    return loaded


def _kid(public_jwk: dict[str, Any]) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, json.dumps(public_jwk, sort_keys=True)))


def local_jwks(path: Path) -> dict[str, Any]:
    public = load_or_create_local_key(path).public_key()
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(public))
    jwk.update({"use": "sig", "alg": "ES256", "kid": _kid(jwk)})
    return {"keys": [jwk]}


class TokenClaims(BaseModel):
    role: Role
    finess: str | None = Field(default=None, pattern=r"^[0-9AB]{9}$")
    cpias: str | None = Field(default=None, pattern=r"^cpias-[a-z]+$")
    region: str | None = Field(default=None, pattern=r"^[0-9]{2}$")
    # The address of the person a token was minted for (the portal's API tokens): an IP.
    client_address: IPvAnyAddress | None = None


def readable_subject(subject: str) -> bool:
    """A subject that can be written where who did what is kept: 200 characters at the most,
    valid Unicode, no control or bidirectional-override character."""
    try:
        subject.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return len(subject) <= 200 and not has_forbidden_character(subject)


def issue_local_token(
    settings: AuthSettings,
    *,
    subject: str,
    role: Role,
    finess: str | None = None,
    cpias: str | None = None,
    region: str | None = None,
    ttl_seconds: int = 8 * 3600,
    client_address: str | None = None,
) -> str:
    """A token signed with the key in `settings.local_key_file`, issued as `settings.issuer`:
    the local issuer of the embedded default, or the portal's own API tokens (the services
    then verify them with the portal's JWKS, docs/security.md)."""
    claims = TokenClaims(role=role, finess=finess, cpias=cpias, region=region)
    key = load_or_create_local_key(settings.local_key_file)
    jwks = local_jwks(settings.local_key_file)
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": settings.issuer,
        "aud": settings.audience,
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
        settings.role_claim: claims.role.value,
    }
    payload.update(
        {
            k: v
            for k, v in (
                ("finess", finess),
                ("cpias", cpias),
                ("region", region),
                ("client_address", client_address),
            )
            if v
        }
    )
    return jwt.encode(payload, key, algorithm="ES256", headers={"kid": jwks["keys"][0]["kid"]})


# -- verification --------------------------------------------------------------------------------


class Verifier:
    """Checks bearer tokens for one service."""

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self._verified: TTLCache[str, tuple[Principal, float]] = TTLCache(maxsize=10_000, ttl=60)
        self._lock = threading.Lock()
        self._client: PyJWKClient | None = None
        self._local: PyJWKSet | None = None
        if settings.jwks_url:
            self._client = PyJWKClient(
                settings.jwks_url,
                cache_jwk_set=True,
                lifespan=settings.jwks_cache_seconds,
                timeout=5,
                cooldown_duration=settings.jwks_refetch_cooldown_seconds,
            )

    def _key(self, token: str) -> PyJWK:
        try:
            if self._client is not None:
                return self._client.get_signing_key_from_jwt(token)
            if self._local is None:
                self._local = PyJWKSet.from_dict(local_jwks(self.settings.local_key_file))
            kid = jwt.get_unverified_header(token).get("kid")
            for key in self._local.keys:
                if key.key_id == kid:
                    return key
        except jwt.PyJWTError as exc:
            raise NotAuthenticated(f"signing key not found: {exc}") from exc
        raise NotAuthenticated("signing key not found")

    def cached(self, token: str) -> Principal | None:
        """The caller of a token verified less than a minute ago and not yet expired."""
        with self._lock:
            cached = self._verified.get(token)
        if cached is not None and cached[1] > time.time():
            return cached[0]
        return None

    def verify(self, token: str) -> Principal:
        """The caller a token names; NotAuthenticated if it cannot be trusted. A verified token is
        remembered for at most a minute, and never past its expiry."""
        cached = self.cached(token)
        if cached is not None:
            return cached
        principal, expires = self._verify(token)
        with self._lock:
            self._verified[token] = (principal, expires)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        key = self._key(token)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=self.settings.leeway_seconds,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise NotAuthenticated(str(exc)) from exc
        # Blank as a reader sees it: spaces, but also a zero-width space or a Hangul filler
        # (an audit row would name nobody).
        if not isinstance(claims.get("sub"), str) or is_blank(claims["sub"]):
            raise NotAuthenticated("token without subject")
        if not readable_subject(claims["sub"]):
            # It is written in audit rows and histories: a NUL, a lone surrogate or a subject
            # of 10 KB would be refused there, after the request was served.
            raise NotAuthenticated("subject not readable")
        try:
            scoped = TokenClaims(
                role=claims.get(self.settings.role_claim),
                finess=claims.get("finess"),
                cpias=claims.get("cpias"),
                region=claims.get("region"),
                client_address=claims.get("client_address"),
            )
        except ValueError as exc:
            raise NotAuthenticated("role or scope claims missing or malformed") from exc
        # A declarant without FINESS is a professional in community practice (establishment
        # kind "ville", identified by RPPS): it declares without FINESS and reads what it sent.
        needs = {
            Role.cpias_investigator: scoped.cpias,
            Role.ars_viewer: scoped.region,
        }
        if scoped.role in needs and not needs[scoped.role]:
            raise NotAuthenticated(f"a {scoped.role.value} token needs its scope claim")
        principal = Principal(
            subject=str(claims["sub"]),
            role=scoped.role,
            finess=scoped.finess,
            cpias=scoped.cpias,
            region=scoped.region,
            address=str(scoped.client_address) if scoped.client_address else None,
        )
        return principal, float(claims["exp"]) + self.settings.leeway_seconds
