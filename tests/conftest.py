"""The test session runs against the real local stack, started here if it is not up.

A store that cannot start fails the session (it is never skipped): CI has nothing else.
Stores this session started are stopped at its end; stores that were already up are left.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from jarvis import local
from jarvis.config import Settings
from jarvis.errors import JarvisError
from jarvis.migrate import migrate_all
from jarvis.paths import PROJECT_ROOT


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings.from_env()


@pytest.fixture(scope="session", autouse=True)
def stack(settings: Settings) -> Iterator[Settings]:
    try:
        outcomes = local.up(settings)
        migrate_all(settings)
    except JarvisError as exc:
        pytest.fail(f"the local stack did not come up, so no test can run:\n{exc}", pytrace=False)
    yield settings
    started = [outcome.store for outcome in outcomes if outcome.action == "started"]
    if started:
        local.down(settings, started)


@pytest.fixture
def fresh_database(settings: Settings) -> Iterator[str]:
    """An empty database of its own on the local Postgres; dropped afterwards. Yields its conninfo."""
    name = f"jarvis_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(settings.postgres_conninfo_for("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield settings.postgres_conninfo_for(name)
    finally:
        with psycopg.connect(settings.postgres_conninfo_for("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def run_jarvis(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The `jarvis` command as a user runs it, from this checkout."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "jarvis", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def jarvis_cli():
    return run_jarvis


def project_path(*parts: str) -> Path:
    return PROJECT_ROOT.joinpath(*parts)


@pytest.fixture(scope="session")
def jarvis(stack: Settings):
    """The facade, as an agent's process holds it: one per session (the model loads once)."""
    from jarvis.facade import Jarvis

    facade = Jarvis.from_settings(stack)
    yield facade
    facade.close()


@pytest.fixture
def name() -> str:
    """A name no other test uses, for agents, topics and sessions."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def api_jarvis(stack: Settings, jarvis):
    """The facade the API serves with: PostgreSQL as the API's role, so row-level security applies."""
    from jarvis.facade import Jarvis

    facade = Jarvis.from_settings(stack, embedder=jarvis.embedder, as_api=True)
    yield facade
    facade.close()


@pytest.fixture(scope="session")
def api(stack: Settings, api_jarvis):
    """An HTTP client for the API (in-process ASGI, real stores)."""
    from fastapi.testclient import TestClient

    from jarvis.api import create_app

    with TestClient(create_app(stack, jarvis=api_jarvis)) as client:
        yield client


@pytest.fixture(scope="session")
def make_key(jarvis):
    """Create API keys: ``make_key("read", "write", user="ada")`` -> headers for requests."""
    from jarvis import apikeys

    def make(*scopes: str, user: str | None = None, name: str = "test") -> dict[str, str]:
        key, _ = apikeys.create_key(jarvis.stores.postgres, name=name, scopes=list(scopes or ("read",)), user_id=user)
        return {"X-API-Key": key}

    return make
