"""The caller of a request: its bearer token verified once, as a FastAPI dependency."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from iaspipe.auth import Verifier
from iaspipe.errors import NotAuthenticated
from iaspipe.principal import Caller, Principal


async def bearer(request: Request) -> Principal:
    """The caller of the request. A coroutine (FastAPI would run a plain function in a worker
    thread): a token verified recently is answered from the cache; any other is verified in a
    worker thread, since it may have to fetch the issuer's keys."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise NotAuthenticated("no bearer token")
    verifier: Verifier = request.app.state.verifier
    principal = verifier.cached(token)
    if principal is None:
        principal = await run_in_threadpool(verifier.verify, token)
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(bearer)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def asking_from(principal: Principal, request: Request) -> str:
    """Where a caller asks from, for the audit: the peer's address, or, when the token's
    issuer vouches for the person's own (the portal's tokens), that one and the peer it came
    through ("203.0.113.7 via 10.0.0.5"); one address when both are the same (a portal
    used from its own machine)."""
    peer = client_address(request)
    if principal.address is None or principal.address == peer:
        return peer
    through = f"{principal.address} via {peer}"
    return through if len(through) <= 64 else principal.address


async def authenticate(request: Request) -> Caller:
    """The caller, for a route that reads its request itself."""
    principal = await bearer(request)
    return Caller(principal, asking_from(principal, request))


async def caller(request: Request, principal: PrincipalDep) -> Caller:
    return Caller(principal, asking_from(principal, request))


CallerDep = Annotated[Caller, Depends(caller)]
