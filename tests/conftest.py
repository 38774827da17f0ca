"""The test session runs against a real local stack of its own, started here if it is not up.

The test stack lives in ``.jarvis-test/<port base>/`` on ports of its own (``JARVIS_TEST_PORT_BASE``,
default 11000: PostgreSQL +0, Redis +1, Neo4j +2, Chroma +100), never the defaults, so
``scripts/test`` can run beside a user's ``jarvis up`` and leaves that stack's data alone.
The variables are set in this process's environment before anything reads settings, so the
``jarvis`` subprocesses and servers the tests start use the same stack.

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
from jarvis.clock import ManualClock
from jarvis.config import Settings
from jarvis.errors import JarvisError
from jarvis.migrate import migrate_all
from jarvis.paths import PROJECT_ROOT

#: The defaults a user's own stack runs on; the suite must never connect to them.
DEFAULT_PORTS = frozenset({10000, 10001, 10002, 10100, 10101, 8000})


def stack_environment(base: int) -> dict[str, str]:
    """The ``JARVIS_*`` variables that point every store at the test stack on *base*."""
    return {
        "JARVIS_DATA_DIR": str(PROJECT_ROOT / ".jarvis-test" / str(base)),
        "JARVIS_POSTGRES_HOST": "127.0.0.1",
        "JARVIS_POSTGRES_PORT": str(base),
        "JARVIS_REDIS_HOST": "127.0.0.1",
        "JARVIS_REDIS_PORT": str(base + 1),
        "JARVIS_NEO4J_URI": f"bolt://127.0.0.1:{base + 2}",
        "JARVIS_CHROMA_HOST": "127.0.0.1",
        "JARVIS_CHROMA_PORT": str(base + 100),
    }


def pytest_configure(config: pytest.Config) -> None:
    """Point the whole session (and its subprocesses) at the test stack, before any settings are read."""
    base = int(os.environ.get("JARVIS_TEST_PORT_BASE", "11000"))
    for variable in (
        "JARVIS_POSTGRES_DSN",
        "JARVIS_REDIS_URL",
        "JARVIS_QDRANT_URL",
        "JARVIS_POSTGRES_PASSWORD",
        "JARVIS_REDIS_PASSWORD",
        "JARVIS_NEO4J_PASSWORD",
        "JARVIS_API_DB_PASSWORD",
        "JARVIS_SERVICE_DB_PASSWORD",
    ):
        os.environ.pop(variable, None)
    os.environ.update(stack_environment(base))
    sys.addaudithook(_record_default_port_connections)


#: (host, port) of every connection this process opened to a default port on the loopback.
_DEFAULT_PORT_CONNECTIONS: list[tuple[str, int]] = []


def _record_default_port_connections(event: str, args: tuple) -> None:
    if event != "socket.connect" or len(args) < 2:
        return
    address = args[1]
    if isinstance(address, tuple) and len(address) >= 2 and address[1] in DEFAULT_PORTS:
        if str(address[0]) in ("127.0.0.1", "::1", "localhost"):
            _DEFAULT_PORT_CONNECTIONS.append((str(address[0]), int(address[1])))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if anything in it connected to a user's stack on the default ports."""
    if _DEFAULT_PORT_CONNECTIONS:
        print(
            f"\nthe test session connected to default ports {sorted(set(_DEFAULT_PORT_CONNECTIONS))}: "
            "tests must only use their own stack",
            file=sys.stderr,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that needs the stack ``stores``; the rest form the unit tier
    (``scripts/test --unit``: ``-m "not stores"``), which runs with no store at all."""
    for item in items:
        if "stack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.stores)


@pytest.fixture(scope="session")
def stack() -> Iterator[Settings]:
    """The test stack, started for the first test that needs a store (never for unit tests)."""
    settings = Settings.from_env()
    outcomes: list[local.Outcome] = []
    try:
        outcomes = local.up(settings, all_or_none=True)  # a store that cannot start: none is left running
        migrate_all(settings)
    except JarvisError as exc:
        _stop_started(settings, outcomes)
        pytest.fail(f"the local stack did not come up, so no test can run:\n{exc}", pytrace=False)
    yield settings
    _stop_started(settings, outcomes)


def _stop_started(settings: Settings, outcomes: list[local.Outcome]) -> None:
    """Stop the stores this session started, and only those (a stack it found running stays)."""
    started = [outcome.store for outcome in outcomes if outcome.action == "started"]
    if started:  # (no stores named would be every store)
        local.down(settings, started)


@pytest.fixture(scope="session")
def settings(stack: Settings) -> Settings:
    """The settings of the running test stack."""
    return stack


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
def jarvis_cli(stack: Settings):
    return run_jarvis


def project_path(*parts: str) -> Path:
    return PROJECT_ROOT.joinpath(*parts)


#: The session facades' clock: a test makes time pass with the ``clock`` fixture, never by sleeping.
SESSION_CLOCK = ManualClock()


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    """The clock of the ``jarvis`` and ``api_jarvis`` facades; back to real time after the test."""
    yield SESSION_CLOCK
    SESSION_CLOCK.reset()


def end_redis_ttl(conn, key: str, *, within: float) -> None:
    """Make a Redis TTL run out now instead of sleeping through it. Redis keeps that time on its
    own clock, which the ``clock`` fixture cannot move: check the key would expire within
    *within* seconds, then set its expiry in the past, which Redis applies as when the time passes."""
    remaining = conn.pttl(key)
    assert 0 < remaining <= within * 1000, f"{key} expires in {remaining} ms, not within {within} s"
    conn.pexpireat(key, 1)


@pytest.fixture(scope="session")
def jarvis(stack: Settings):
    """The facade, as an agent's process holds it: one per session (the model loads once)."""
    from jarvis.facade import Jarvis

    facade = Jarvis.from_settings(stack, clock=SESSION_CLOCK)
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

    facade = Jarvis.from_settings(stack, embedder=jarvis.embedder, as_api=True, clock=SESSION_CLOCK)
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
