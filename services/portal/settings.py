"""Portal settings (environment prefix PORTAL_)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from iaspipe.principal import Role
from iaspipe.settings import ServiceSettings
from services.portal.domain.claims import ClaimMapping

PORTAL_DIR = Path(__file__).parent
# Where `make portal-assets` (npm ci) puts the State design system's built files.
DSFR_DIST = PORTAL_DIR / "node_modules" / "@gouvfr" / "dsfr" / "dist"


class OidcSettings(BaseModel):
    """Sign-in by OpenID Connect (production): PORTAL_OIDC__ISSUER and friends. When `issuer`
    is set, the portal has no local accounts. docs/security.md maps Pro Santé Connect's claims."""

    issuer: str | None = None
    client_id: str = ""
    client_secret: SecretStr | None = None  # a confidential client; PKCE is used either way
    scopes: str = "openid profile email"
    # Shown on the sign-in button: "Se connecter avec <provider_name>".
    provider_name: str = "Pro Santé Connect"
    # Read the claims from the userinfo endpoint as well as the ID token (PSC puts them there).
    use_userinfo: bool = True
    # Claims to role and scope. Names are paths: "a.b" goes into objects, "a[].b" collects
    # from every item of a list (PSC: "SubjectRefPro.exercices[].activities[].structure...").
    subject_claim: str = "sub"
    name_claim: str = "name"
    email_claim: str = "email"
    role_claim: str = "iaspipe_role"
    # Values of the role claim -> roles (a value absent here is taken as a role name).
    role_values: dict[str, Role] = Field(default_factory=dict)
    # The role of a person whose claims carry none (PSC: every professional may declare).
    default_role: Role | None = None
    finess_claim: str = "finess"
    cpias_claim: str = "cpias"
    region_claim: str = "region"
    http_timeout_seconds: float = 10.0

    @field_validator("default_role", "client_secret", "issuer", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        """An empty environment variable (Compose's `${X:-}`) means "not set"."""
        return None if value == "" else value

    @property
    def enabled(self) -> bool:
        return bool(self.issuer)

    def claim_mapping(self) -> ClaimMapping:
        return ClaimMapping(
            subject=self.subject_claim,
            name=self.name_claim,
            email=self.email_claim,
            role=self.role_claim,
            role_values=dict(self.role_values),
            default_role=self.default_role,
            finess=self.finess_claim,
            cpias=self.cpias_claim,
            region=self.region_claim,
        )


class PortalSettings(ServiceSettings):
    """The portal signs the API tokens it sends to intake and cpias with `auth.local_key_file`
    as `auth.issuer` (the local issuer in the embedded default), and publishes the public key
    at /.well-known/jwks.json."""

    model_config = SettingsConfigDict(env_prefix="PORTAL_")

    port: int = 8000
    database_url: SecretStr = SecretStr("sqlite:///.data/portal.db")
    intake_url: str = "http://127.0.0.1:8001"
    cpias_url: str = "http://127.0.0.1:8002"
    notifier_url: str = "http://127.0.0.1:8004"
    api_timeout_seconds: float = 15.0
    # The address people use, for links sent elsewhere (the OIDC redirect URL).
    public_url: str = "http://127.0.0.1:8000"
    service_name: str = "Signalement des infections associées aux soins"
    dsfr_dir: Path = DSFR_DIST
    max_body_bytes: int = 256 * 1024
    # Sessions: absolute lifetime, and how long one may stay idle.
    session_hours: float = 8.0
    session_idle_minutes: float = 60.0
    # "auto": Secure when the request came over HTTPS (behind a proxy, uvicorn reads its
    # X-Forwarded-Proto when FORWARDED_ALLOW_IPS names it); "always" or "never" to force it.
    cookie_secure: Literal["auto", "always", "never"] = "auto"
    # Lock-out: after this many failed sign-ins for one username, refuse it for some minutes.
    lockout_failures: int = Field(default=5, ge=1)
    lockout_minutes: float = Field(default=15.0, gt=0)
    min_password_length: int = 12
    # API tokens the portal mints for the signed-in person: short-lived, one per call.
    api_token_seconds: int = 300
    # The address people write to when a page is out of their reach (the accessibility
    # statement); without it, the statement sends them to the portal's administrator.
    contact: str | None = None
    # The legal notice (/mentions-legales): who publishes the portal, who answers for what it
    # says, and who hosts it, as the operator names them (a sentence each, an address included).
    publisher: str | None = None
    publication_director: str | None = None
    hosting: str | None = None
    # The personal data page (/donnees-personnelles): who is the controller of the processing
    # (its name and address), its data protection officer's e-mail address, and how long
    # declarations, cases and audit logs are kept, as the controller decided ("pendant 10 ans",
    # a sentence part). Without them, the page says who decides and whom to ask.
    data_controller: str | None = None
    dpo_address: str | None = None
    records_retention: str | None = None
    # Unsent drafts are forgotten after this many days.
    draft_retention_days: int = 30
    sweep_every_seconds: float = 300.0
    # How often the CPias queue's page asks for new cases (portal.js).
    cases_poll_seconds: float = Field(default=15.0, gt=0)
    oidc: OidcSettings = Field(default_factory=OidcSettings)

    @model_validator(mode="after")
    def _oidc_complete(self) -> PortalSettings:
        if self.oidc.enabled and not self.oidc.client_id:
            raise ValueError("PORTAL_OIDC__CLIENT_ID is needed with PORTAL_OIDC__ISSUER")
        return self

    @property
    def oidc_redirect_url(self) -> str:
        return f"{self.public_url.rstrip('/')}/auth/callback"
