"""What the notifier's routes receive from the app: a unit of work, the reference data, the
settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from schemas.reference import ReferenceData
from services.notifier.adapters.uow import SqlNotifierUnitOfWork
from services.notifier.ports import NotifierUnitOfWork
from services.notifier.settings import NotifierSettings


def get_uow(request: Request) -> SqlNotifierUnitOfWork:
    return SqlNotifierUnitOfWork(request.app.state.sessions)


def get_reference(request: Request) -> ReferenceData:
    return request.app.state.reference  # type: ignore[no-any-return]


def get_settings(request: Request) -> NotifierSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


UowDep = Annotated[NotifierUnitOfWork, Depends(get_uow)]
ReferenceDep = Annotated[ReferenceData, Depends(get_reference)]
SettingsDep = Annotated[NotifierSettings, Depends(get_settings)]
