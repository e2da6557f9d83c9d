"""Fixtures giving tests real infrastructure (found or started by the tests), one section each."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from poms_shared.db.session import Database
from poms_shared.testing.db import DatabaseUnavailable, postgres_database, sqlite_database
from poms_shared.testing.rabbit import rabbit_vhost

# ---- RabbitMQ -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    """AMQP URL of a throw-away vhost for this test session."""
    with rabbit_vhost() as url:
        yield url


# ---- Databases (SQLite file, PostgreSQL schema) ---------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A freshly migrated, empty database: a SQLite file or a private PostgreSQL schema."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            yield stack.enter_context(sqlite_database(tmp_path))
            return
        try:
            db = stack.enter_context(postgres_database())
        except DatabaseUnavailable as exc:
            pytest.skip(f"PostgreSQL unavailable: {exc}")
        yield db


@pytest.fixture
def pg_database() -> Iterator[Database]:
    """A freshly migrated private PostgreSQL schema (skips when PostgreSQL cannot be had)."""
    try:
        with postgres_database() as db:
            yield db
    except DatabaseUnavailable as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")


@pytest.fixture
def private_amqp_url() -> Iterator[str]:
    """A vhost of its own for one test (no queues shared with other tests)."""
    with rabbit_vhost() as url:
        yield url
