"""OpenID Connect sign-in: authorization code with PKCE (S256) through Authlib, the ID token
checked with PyJWT against the provider's JWKS (issuer, audience, expiry, nonce), then the
userinfo claims. Nothing here decides who may do what: domain/claims.py does."""

from __future__ import annotations

import datetime as dt
import threading
import warnings
from typing import Any

import httpx
import jwt
from authlib.common.security import generate_token
from authlib.deprecate import AuthlibDeprecationWarning
from authlib.oauth2.rfc6749 import OAuth2Error

from iaspipe.errors import NotAuthenticated
from services.portal.domain.claims import LoginRequest
from services.portal.settings import OidcSettings

with warnings.catch_warnings():
    # Authlib's httpx client asks for the "httpx2" package; httpx is what this project uses.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Client

ALGORITHMS = ["RS256", "ES256", "PS256"]


class OidcFailed(NotAuthenticated):
    message = "La connexion auprès du fournisseur d’identité n’a pas abouti : recommencez."


class OidcClient:
    def __init__(
        self,
        settings: OidcSettings,
        redirect_url: str,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.redirect_url = redirect_url
        self.transport = transport
        self._metadata: dict[str, Any] | None = None
        self._jwks: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()

    def _client(self) -> OAuth2Client:
        s = self.settings
        return OAuth2Client(
            client_id=s.client_id,
            client_secret=s.client_secret.get_secret_value() if s.client_secret else None,
            token_endpoint_auth_method="client_secret_basic" if s.client_secret else "none",
            scope=s.scopes,
            redirect_uri=self.redirect_url,
            code_challenge_method="S256",
            timeout=s.http_timeout_seconds,
            transport=self.transport,
        )

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document, fetched once."""
        with self._lock:
            if self._metadata is None:
                issuer = (self.settings.issuer or "").rstrip("/")
                url = f"{issuer}/.well-known/openid-configuration"
                try:
                    with httpx.Client(
                        timeout=self.settings.http_timeout_seconds, transport=self.transport
                    ) as http:
                        response = http.get(url)
                        response.raise_for_status()
                except httpx.HTTPError as exc:
                    raise OidcFailed(f"discovery failed: {type(exc).__name__}") from exc
                meta = response.json()
                if meta.get("issuer", "").rstrip("/") != issuer:
                    raise OidcFailed("the discovery document names another issuer")
                self._metadata = meta
                self._jwks = jwt.PyJWKClient(meta["jwks_uri"], cache_jwk_set=True, lifespan=300)
            return self._metadata

    def start(self, next_url: str, now: dt.datetime) -> tuple[str, LoginRequest]:
        """The provider's authorization URL, and the request to keep until the callback."""
        meta = self.metadata()
        request = LoginRequest(
            state=generate_token(32),
            nonce=generate_token(32),
            code_verifier=generate_token(64),
            next_url=next_url,
            created_at=now,
        )
        url, _ = self._client().create_authorization_url(
            meta["authorization_endpoint"],
            state=request.state,
            code_verifier=request.code_verifier,
            nonce=request.nonce,
        )
        return url, request

    def finish(self, code: str, request: LoginRequest) -> dict[str, Any]:
        """Exchange the code (with the PKCE verifier), check the ID token, and return its
        claims merged with the userinfo claims."""
        meta = self.metadata()
        client = self._client()
        try:
            token = client.fetch_token(
                meta["token_endpoint"],
                code=code,
                code_verifier=request.code_verifier,
                grant_type="authorization_code",
            )
        except (OAuth2Error, httpx.HTTPError) as exc:
            raise OidcFailed(f"token exchange failed: {type(exc).__name__}") from exc
        claims = self._id_token_claims(str(token.get("id_token", "")), request.nonce)
        if self.settings.use_userinfo and meta.get("userinfo_endpoint"):
            try:
                response = client.get(meta["userinfo_endpoint"])
                response.raise_for_status()
            except httpx.HTTPError as exc:
                raise OidcFailed(f"userinfo failed: {type(exc).__name__}") from exc
            info = response.json()
            if info.get("sub") != claims.get("sub"):
                raise OidcFailed("userinfo names another subject")
            claims = {**claims, **info}
        return claims

    def _id_token_claims(self, id_token: str, nonce: str) -> dict[str, Any]:
        assert self._jwks is not None
        try:
            key = self._jwks.get_signing_key_from_jwt(id_token)
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key,
                algorithms=ALGORITHMS,
                audience=self.settings.client_id,
                issuer=self.metadata()["issuer"],
                leeway=30,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise OidcFailed(f"ID token refused: {exc}") from exc
        if claims.get("nonce") != nonce:
            raise OidcFailed("ID token nonce does not match")
        return claims
