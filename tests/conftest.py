"""Shared fixtures: real SQLite and PostgreSQL stores, the ASGI app, an API key.

PostgreSQL tests use ``TALLYBOOK_TEST_PG_URL`` (``make test`` starts a throwaway cluster
on 127.0.0.1). Without it they skip locally and FAIL when ``CI=true``. Each test gets
its own database cloned from a migrated template, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tallybook.adapters.store.db import normalize_url
from tallybook.adapters.store.migrate import upgrade
from tallybook.api.app import create_app
from tallybook.bootstrap import Container, build
from tallybook.config import Settings

REPO = Path(__file__).resolve().parents[1]
TEST_KEY = "tb_test_key_0123456789abcdef0123456789abcdef"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _stable_lambda_descriptions() -> None:
    """Work around CPython 3.11.7 raising ``SystemError: AST constructor recursion depth
    mismatch`` from ``ast.parse`` at some stack depths (fixed in later CPythons).

    Hypothesis parses lambda sources to describe and rewrite strategies; a description that
    fails once and succeeds on replay makes data generation "flaky" (seen in the schemathesis
    fuzz tests of full runs). Each lambda keeps its first answer, so generation is stable.
    """
    from hypothesis.internal import filtering, lambda_sources

    original = lambda_sources.lambda_description
    answers: dict[object, str] = {}

    def stable(f: object) -> str:
        if f not in answers:
            try:
                answers[f] = original(f)
            except SystemError:
                answers[f] = "lambda: <unknown>"
        return answers[f]

    lambda_sources.lambda_description = stable
    filtering.lambda_description = stable  # imported by name there


_stable_lambda_descriptions()

# CI runs from a clean clone: no example database, so every run generates the same way.
hypothesis_settings.register_profile("ci", database=None, print_blob=True)
if IN_CI:
    hypothesis_settings.load_profile("ci")


def _pg_admin_url() -> str | None:
    url = os.environ.get("TALLYBOOK_TEST_PG_URL")
    if not url:
        if IN_CI:
            pytest.fail("CI=true but TALLYBOOK_TEST_PG_URL is unset: PostgreSQL tests are required")
        pytest.skip("PostgreSQL not configured (set TALLYBOOK_TEST_PG_URL or run `make test`)")
    return normalize_url(url)


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    admin = _pg_admin_url()
    assert admin is not None
    name = f"tb_template_{uuid.uuid4().hex[:8]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL unreachable in CI: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    template_url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    migrated = create_engine(template_url)
    upgrade(migrated)
    migrated.dispose()
    yield name
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one test."""
    admin = _pg_admin_url()
    assert admin is not None
    name = f"tb_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"'))
    yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """chDB (the ClickHouse engine in-process) allows ONE data path per process: every
    test shares this one, each with a database of its own (``chdb_url``)."""
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture
def chdb_url(chdb_path: Path) -> str:
    """``TALLYBOOK_EVENTS_URL`` of a fresh chDB database for one test."""
    return f"chdb://{chdb_path}?database=t_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tallybook.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Parametrise a test over both real stores."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(
        database_url=db_url, api_key=TEST_KEY, log_json=False, scheduler_interval_seconds=0
    )


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    container = build(settings)
    container.tenants.bootstrap_default(TEST_KEY)
    yield container
    container.close()


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    app = create_app(container=container)
    with TestClient(app, headers={"Authorization": f"Bearer {TEST_KEY}"}) as test_client:
        yield test_client
