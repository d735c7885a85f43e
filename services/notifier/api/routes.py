"""Notifier HTTP routes: the messages sent about a declaration, and the address book
(admins). Thin: one use case each."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from iaspipe.http.auth import CallerDep
from iaspipe.http.problems import documented_problems
from schemas.notifications import (
    AddressBook,
    ArsAddressChanged,
    ArsAddressIn,
    CpiasAddressChanged,
    CpiasAddressIn,
    NotificationPage,
)
from services.notifier import service
from services.notifier.api.deps import ReferenceDep, SettingsDep, UowDep

ERRORS = documented_problems({404: "No such CPias or region", 422: "One entry per problem"})

router = APIRouter(prefix="/v1", responses=ERRORS)


@router.get(
    "/notifications",
    response_model=NotificationPage,
    tags=["notifications"],
    summary="The e-mails sent about a declaration: what, to whom, when",
)
def list_notifications(
    uow: UowDep,
    caller: CallerDep,
    declaration_id: Annotated[str, Query(min_length=1, max_length=36)],
) -> NotificationPage:
    return service.list_notifications(uow, declaration_id, caller=caller)


@router.get(
    "/address-book",
    response_model=AddressBook,
    tags=["address book"],
    summary="Every CPias team and ARS region with its address (admin)",
)
def address_book(
    uow: UowDep, caller: CallerDep, ref: ReferenceDep, settings: SettingsDep
) -> AddressBook:
    return service.address_book(uow, caller=caller, ref=ref, digest_hour=settings.digest_hour)


@router.put(
    "/address-book/cpias/{cpias}",
    response_model=CpiasAddressChanged,
    tags=["address book"],
    summary="Set a CPias team's address and its digest choice (admin)",
)
def set_cpias_address(
    cpias: Annotated[str, Path(max_length=40)],
    body: CpiasAddressIn,
    uow: UowDep,
    caller: CallerDep,
    ref: ReferenceDep,
) -> CpiasAddressChanged:
    return service.set_cpias_address(uow, cpias, body, caller=caller, ref=ref)


@router.put(
    "/address-book/ars/{region_code}",
    response_model=ArsAddressChanged,
    tags=["address book"],
    summary="Set the address of an ARS region, warned when a deadline passes (admin)",
)
def set_ars_address(
    region_code: Annotated[str, Path(max_length=2)],
    body: ArsAddressIn,
    uow: UowDep,
    caller: CallerDep,
    ref: ReferenceDep,
) -> ArsAddressChanged:
    return service.set_ars_address(uow, region_code, body, caller=caller, ref=ref)
