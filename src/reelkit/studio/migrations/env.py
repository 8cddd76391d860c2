"""Alembic environment: runs on the connection :func:`reelkit.studio.db.migrate` passes in, or on the
``sqlalchemy.url`` of an alembic.ini when run from Alembic's own command line."""

from alembic import context
from sqlalchemy import engine_from_config, pool

from reelkit.studio.db import Base

config = context.config
target_metadata = Base.metadata


def run_migrations(connection) -> None:
    # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    engine = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
                                poolclass=pool.NullPool)
    with engine.connect() as fresh:
        run_migrations(fresh)
