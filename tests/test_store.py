"""The store: migrations create exactly the tables the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from phasegate import models  # noqa: F401  (every part's tables)
from phasegate.store import Base, Store, upgrade


def test_the_migrations_match_the_tables_in_the_code(store: Store) -> None:
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == [], f"a table changed without a migration: {differences}"


def test_upgrading_twice_changes_nothing(store_url: str) -> None:
    upgrade(store_url)
    upgrade(store_url)
