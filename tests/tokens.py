"""Tokens of the local issuer for tests."""

from __future__ import annotations

from pathlib import Path

from iaspipe.auth import AuthSettings, issue_local_token
from iaspipe.principal import Role


class Tokens:
    def __init__(self, key_file: Path) -> None:
        self.settings = AuthSettings(local_key_file=key_file)

    def token(
        self,
        role: str,
        *,
        subject: str | None = None,
        finess: str | None = None,
        cpias: str | None = None,
        region: str | None = None,
    ) -> str:
        return issue_local_token(
            self.settings,
            subject=subject or f"{role}-test",
            role=Role(role),
            finess=finess,
            cpias=cpias,
            region=region,
        )

    def headers(self, role: str = "admin", **kw: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, **kw)}"}
