"""The caller of a request: its bearer token verified once, as a FastAPI dependency."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from iaspipe.auth import Verifier
from iaspipe.errors import NotAuthenticated
from iaspipe.principal import Caller, Principal


def bearer(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("no bearer token")
    verifier: Verifier = request.app.state.verifier
    principal = verifier.verify(token.strip())
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(bearer)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def caller(request: Request, principal: PrincipalDep) -> Caller:
    return Caller(principal, client_address(request))


CallerDep = Annotated[Caller, Depends(caller)]
