"""The Alembic migrations build exactly the tables the models describe, both ways."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from api.db.models import Base
from api.db.session import Store, alembic_config, make_engine, migrate


def test_migrations_match_the_models_and_downgrade_to_nothing(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'grants.db'}")
    migrate(engine)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    command.downgrade(alembic_config(engine), "base")
    assert inspect(engine).get_table_names() == ["alembic_version"]
    migrate(engine)
    assert set(inspect(engine).get_table_names()) == {*Base.metadata.tables, "alembic_version"}


def test_the_sqlite_store_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'grants.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_an_acknowledged_sqlite_commit_is_synced_to_disk(tmp_path: Path) -> None:
    """synchronous=FULL (2): in WAL mode NORMAL may lose the last commits on power loss."""
    engine = make_engine(f"sqlite:///{tmp_path / 'grants.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2


def test_the_migrated_store_matches_the_models_on_each_database(store: Store) -> None:
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
