"""Alembic environment: migrations run against the URL given by `cargohold.metadata.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from cargohold.metadata.schema import metadata

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url, "sqlalchemy.url must be set"


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


given = config.attributes.get("connection")  # from cargohold.metadata.migrate (any dialect)
if context.is_offline_mode():
    context.configure(url=url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif given is not None:
    run_migrations(given)
else:
    engine = create_engine(url)
    with engine.connect() as connection:
        run_migrations(connection)
    engine.dispose()
