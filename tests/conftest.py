"""Shared fixtures: a fresh store on SQLite and on PostgreSQL, an app over it, users with tokens."""

from __future__ import annotations

import os
import shutil
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from phasegate.app import create_app
from phasegate.identity import service as identity_service
from phasegate.identity.service import local_operator
from phasegate.settings import Settings, get_settings
from phasegate.store import Base, Store, upgrade

POSTGRES_URL = os.environ.get("PHASEGATE_TEST_POSTGRES_URL")
NO_POSTGRES = (
    "PHASEGATE_TEST_POSTGRES_URL is not set: no PostgreSQL server for this run "
    "(`make test` starts one through scripts/with-postgres.sh)"
)
DATA = Path(__file__).parent / "data"


# The installed command, as a newcomer runs it.
PHASEGATE = str(Path(sys.executable).with_name("phasegate"))


def free_port() -> int:
    """A loopback port nothing listens on now, for a server a test starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test instead of migrating again."""
    path = tmp_path_factory.mktemp("template") / "phasegate.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_database(worker_id: str) -> str:
    """A migrated database of this test worker's own on the run's PostgreSQL server."""
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    name = f"phasegate_test_{worker_id}".replace("-", "_")
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    upgrade(url)
    return url


def _empty_postgres(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """An empty, migrated store: every store-backed test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "phasegate.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_database")
    _empty_postgres(url)
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store(store_url)
    yield store
    store.dispose()


@pytest.fixture
def settings(tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings pointing the CLI and app at this test's store and home folder."""
    monkeypatch.setenv("PHASEGATE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PHASEGATE_DATABASE_URL", store_url)
    monkeypatch.delenv("PHASEGATE_URL", raising=False)
    monkeypatch.delenv("PHASEGATE_TOKEN", raising=False)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture
def app_client(store: Store, settings: Settings) -> Iterator[TestClient]:
    """The whole application (API and web) over the test store, without credentials."""
    with TestClient(create_app(settings, store=store)) as client:
        yield client


class Users:
    """Registers users with a role and hands out their API tokens."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def token(self, name: str, role: str, usecase: str | None = None, password: str | None = None) -> str:
        operator = local_operator("test")
        with self.store.transaction() as session:
            identity_service.add_user(
                session,
                actor=operator,
                name=name,
                role=role,
                usecase_id=usecase,
                password=password or "correct horse battery",
            )
            return identity_service.create_token(session, actor=operator, name=name)

    def headers(self, name: str, role: str, usecase: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(name, role, usecase)}"}


@pytest.fixture
def users(store: Store) -> Users:
    return Users(store)


@pytest.fixture
def admin(users: Users) -> dict[str, str]:
    """Authorization headers of an admin."""
    return users.headers("root", "admin")


@pytest.fixture
def cli(settings: Settings) -> CliRunner:
    """Runs `phasegate` in-process against this test's store."""
    return CliRunner()


@pytest.fixture
def shared_example() -> Path:
    return DATA / "usecase-invoice-extraction.yaml"
