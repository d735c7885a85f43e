"""What intake's routes receive from the app: settings, reference data, a unit of work."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from schemas.reference import ReferenceData
from services.intake.adapters.uow import SqlIntakeUnitOfWork
from services.intake.ports import IntakeUnitOfWork
from services.intake.settings import IntakeSettings


def get_uow(request: Request) -> SqlIntakeUnitOfWork:
    return SqlIntakeUnitOfWork(request.app.state.sessions)


def get_settings(request: Request) -> IntakeSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_reference(request: Request) -> ReferenceData:
    return request.app.state.reference  # type: ignore[no-any-return]


UowDep = Annotated[IntakeUnitOfWork, Depends(get_uow)]
SettingsDep = Annotated[IntakeSettings, Depends(get_settings)]
ReferenceDep = Annotated[ReferenceData, Depends(get_reference)]
