"""Alembic environment: migrations run on the connection phasegate hands over."""

from __future__ import annotations

from alembic import context

from phasegate import models  # noqa: F401  (registers every part's tables)
from phasegate.store import Base

target_metadata = Base.metadata
connection = context.config.attributes.get("connection")

if connection is None:
    from sqlalchemy import create_engine

    from phasegate.settings import get_settings

    url = context.config.get_main_option("sqlalchemy.url") or get_settings().store_url
    with create_engine(url).begin() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    context.run_migrations()
