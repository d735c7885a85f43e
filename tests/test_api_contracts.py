"""Property-based API tests with schemathesis against each service's own OpenAPI document:
no 5xx, responses match their documented schema and status codes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services.cpias.app import create_app as cpias_app
from services.cpias.settings import CpiasSettings
from services.intake.app import create_app as intake_app
from services.intake.settings import IntakeSettings
from services.notifier.app import create_app as notifier_app
from services.notifier.settings import NotifierSettings
from services.router.app import create_app as router_app
from services.router.settings import RouterSettings
from tests.tokens import Tokens

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]
# /readyz answers 503 by design when the broker is away (no broker in these tests).
SKIP = "/readyz"


def _loaded(app: Any) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(scope="module")
def intake_schema(tmp_path_factory: pytest.TempPathFactory, auth_settings: Any) -> Any:
    tmp = tmp_path_factory.mktemp("st-intake")
    app = intake_app(
        IntakeSettings(
            database_url=f"sqlite:///{tmp}/i.db",
            auth=auth_settings,
            submit_rate_limit="100000/minute",
        ),
        start_workers=False,
    )
    with TestClient(app):  # runs the lifespan: migrations
        yield _loaded(app)


@pytest.fixture(scope="module")
def cpias_schema(tmp_path_factory: pytest.TempPathFactory, auth_settings: Any) -> Any:
    tmp = tmp_path_factory.mktemp("st-cpias")
    app = cpias_app(
        CpiasSettings(database_url=f"sqlite:///{tmp}/c.db", auth=auth_settings), start_workers=False
    )
    with TestClient(app):
        yield _loaded(app)


@pytest.fixture(scope="module")
def router_schema(auth_settings: Any) -> Any:
    app = router_app(RouterSettings(auth=auth_settings), start_workers=False)
    with TestClient(app):
        yield _loaded(app)


@pytest.fixture(scope="module")
def notifier_schema(tmp_path_factory: pytest.TempPathFactory, auth_settings: Any) -> Any:
    tmp = tmp_path_factory.mktemp("st-notifier")
    app = notifier_app(
        NotifierSettings(database_url=f"sqlite:///{tmp}/n.db", auth=auth_settings),
        start_workers=False,
    )
    with TestClient(app):
        yield _loaded(app)


intake = schemathesis.pytest.from_fixture("intake_schema").exclude(path=SKIP)
cpias = schemathesis.pytest.from_fixture("cpias_schema").exclude(path=SKIP)
router = schemathesis.pytest.from_fixture("router_schema").exclude(path=SKIP)
notifier = schemathesis.pytest.from_fixture("notifier_schema").exclude(path=SKIP)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


def _admin(key_file: Path) -> dict[str, str]:
    return Tokens(key_file).headers("admin", subject="schemathesis")


@intake.parametrize()
@SETTINGS
def test_intake_contract(case: Any, auth_settings: Any) -> None:
    case.call_and_validate(headers=_admin(auth_settings.local_key_file), checks=CHECKS)


@cpias.parametrize()
@SETTINGS
def test_cpias_contract(case: Any, auth_settings: Any) -> None:
    case.call_and_validate(headers=_admin(auth_settings.local_key_file), checks=CHECKS)


@router.parametrize()
@SETTINGS
def test_router_contract(case: Any, auth_settings: Any) -> None:
    case.call_and_validate(headers=_admin(auth_settings.local_key_file), checks=CHECKS)


@notifier.parametrize()
@SETTINGS
def test_notifier_contract(case: Any, auth_settings: Any) -> None:
    case.call_and_validate(headers=_admin(auth_settings.local_key_file), checks=CHECKS)


@pytest.mark.parametrize(
    "schema_fixture", ["intake_schema", "cpias_schema", "router_schema", "notifier_schema"]
)
def test_every_error_is_documented_as_a_problem_report(
    schema_fixture: str, request: pytest.FixtureRequest
) -> None:
    """Each 4xx/5xx answer of the OpenAPI document is a ProblemReport in
    application/problem+json (RFC 9457), as the error handlers answer; FastAPI's own
    HTTPValidationError is gone."""
    document = request.getfixturevalue(schema_fixture).raw_schema
    errors = [
        (path, method, status, response.get("content", {}))
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if status.startswith(("4", "5")) and path != SKIP  # /readyz: its Readiness, by design
    ]
    assert errors
    for path, method, status, content in errors:
        assert content == {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemReport"}}
        }, (path, method, status)
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert "ProblemReport" in document["components"]["schemas"]
