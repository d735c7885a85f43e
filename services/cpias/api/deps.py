"""What the CPias routes receive from the app: a unit of work per request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.cpias.adapters.uow import SqlCpiasUnitOfWork
from services.cpias.ports import CpiasUnitOfWork


def get_uow(request: Request) -> SqlCpiasUnitOfWork:
    return SqlCpiasUnitOfWork(request.app.state.sessions)


UowDep = Annotated[CpiasUnitOfWork, Depends(get_uow)]
