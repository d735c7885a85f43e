"""API tokens for intake and cpias, minted for the signed-in person with the portal's key
(iaspipe.auth: the local issuer in the embedded default, the portal's own issuer in
production, whose JWKS the services then read at /.well-known/jwks.json)."""

from __future__ import annotations

import ipaddress

from iaspipe.auth import AuthSettings, issue_local_token, load_or_create_local_key
from services.portal.domain.accounts import Person


class KeyFileMinter:
    def __init__(self, settings: AuthSettings, ttl_seconds: int) -> None:
        self.settings = settings
        self.ttl_seconds = ttl_seconds
        load_or_create_local_key(settings.local_key_file)  # fail at start, not at first use

    def mint(self, person: Person) -> str:
        return issue_local_token(
            self.settings,
            subject=person.subject,
            role=person.role,
            finess=person.finess,
            cpias=person.cpias,
            region=person.region,
            ttl_seconds=self.ttl_seconds,
            client_address=person.address if _is_ip(person.address) else None,
        )


def _is_ip(address: str | None) -> bool:
    """An address a token may carry: an IP ("testclient" or "unknown" are not)."""
    try:
        ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return True
