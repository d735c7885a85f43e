"""The router's one read route: the routing rules in force."""

from __future__ import annotations

from fastapi import APIRouter, Request

from iaspipe.http.auth import PrincipalDep
from schemas.problems import ProblemReport
from services.router.domain.routing_rules import RoutingRules

router = APIRouter(prefix="/v1", tags=["routing"])


@router.get(
    "/rules",
    summary="The routing rules in force",
    response_model=RoutingRules,
    responses={401: {"model": ProblemReport}},
)
def rules(request: Request, _principal: PrincipalDep) -> RoutingRules:
    return request.app.state.routing_data.rules  # type: ignore[no-any-return]
