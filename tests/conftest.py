"""Fixtures: a real broker on a free port, SQLite files, and PostgreSQL databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from cli.broker import free_port, start_broker
from iaspipe.auth import AuthSettings
from iaspipe.kafka import ensure_topics
from tests.tokens import Tokens

PG_ADMIN = os.environ.get("IASPIPE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
IS_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


class Broker:
    def __init__(self) -> None:
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.proc = start_broker(self.port)
        ensure_topics([self.bootstrap], partitions=3)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)

    def restart(self) -> None:
        """Start again on the same port; memory storage, so topics are created anew."""
        self.proc = start_broker(self.port)
        ensure_topics([self.bootstrap], partitions=3)


@pytest.fixture(scope="session")
def session_broker() -> Iterator[Broker]:
    broker = Broker()
    yield broker
    broker.stop()


@pytest.fixture
def broker() -> Iterator[Broker]:
    """A broker of the test's own: nothing left by other tests."""
    b = Broker()
    yield b
    if b.proc.poll() is None:
        b.stop()


@pytest.fixture(scope="session")
def pg_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except psycopg.OperationalError as exc:
        if IS_CI:
            pytest.fail(f"PostgreSQL must run in CI (CI=true) but is unreachable: {exc}")
        return False


@pytest.fixture
def pg_url(pg_available: bool) -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards."""
    if not pg_available:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432 (it runs in CI)")
    name = f"iaspipe_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/test.db"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(scope="session")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> object:
    return tmp_path_factory.mktemp("issuer") / "local-issuer-key.pem"


@pytest.fixture(scope="session")
def tokens(key_file: object) -> Tokens:
    return Tokens(key_file)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def auth_settings(key_file: object) -> AuthSettings:
    return AuthSettings(local_key_file=key_file)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium driven by Playwright, for the portal's browser tests."""
    from tests.browser import launched

    with launched() as b:
        yield b


@pytest.fixture
def cpias_app(database_url: str, auth_settings: AuthSettings) -> object:
    """The CPias app on the test's database (SQLite or PostgreSQL), without workers."""
    from services.cpias.app import create_app
    from services.cpias.settings import CpiasSettings

    return create_app(
        CpiasSettings(database_url=database_url, auth=auth_settings), start_workers=False
    )


@pytest.fixture
def cpias_client(cpias_app: object, tokens: Tokens) -> Iterator[object]:
    """A client of cpias_app as an investigator of the CPias Auvergne-Rhône-Alpes."""
    from fastapi.testclient import TestClient

    with TestClient(cpias_app) as client:  # type: ignore[arg-type]
        client.headers.update(
            tokens.headers("cpias_investigator", cpias="cpias-ara", subject="inv.ara")
        )
        yield client
