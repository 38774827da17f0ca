"""Property-based fuzzing of every operation in the OpenAPI schema (schemathesis), bounded in
examples so CI stays short: no 5xx, and every response matches the schema, for an admin key,
a read-only key and a key bound to one user.

Every operation declares its response model (the shapes of :mod:`jarvis.shapes`), so
``response_schema_conformance`` checks each body against the real schema of its row, result
or error, not against "any object"."""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi import checks as openapi_checks

from jarvis.api import create_app
from jarvis.config import Settings

# The schema is read from the app at collection time without serving it (`from_asgi` would run
# the app's lifespan: connect to every store and load the embedder, seconds of the unit tier's
# collection, or connect timeouts with no stack); the app answers the calls, its facade attached
# per test below.
APP = create_app(Settings.from_env())
SCHEMA = schemathesis.openapi.from_dict(json.loads(json.dumps(APP.openapi())))
SCHEMA.app, SCHEMA.location = APP, "/openapi.json"


#: The keys the fuzzer calls with: an admin, a read-only key (every write must be refused
#: cleanly, 403, never a 5xx) and a key bound to one user (isolation paths, 403 for others' names).
KEYS = {
    "admin": {"scopes": ("read", "write", "admin")},
    "read-only": {"scopes": ("read",)},
    "user-bound": {"scopes": ("read", "write"), "user": "fuzz-user"},
}


#: The shared corpora the fuzzer writes into, and their outbox entity: other tests rank by
#: keywords over the whole of them (BM25's statistics are the corpus's), so what the fuzzer
#: wrote must not outlive this module.
SHARED = {"knowledge": "knowledge", "code_snippets": "code_snippet"}


@pytest.fixture(scope="module", autouse=True)
def fuzz_leaves_no_shared_rows(jarvis):
    """Delete, through the outbox, the knowledge and code the fuzzer wrote (about 2,000 rows:
    left in place, they made every word of another test's items rare)."""
    from jarvis.outbox import Event, record

    with jarvis.stores.postgres.pool.connection() as conn:
        since = conn.execute("SELECT clock_timestamp()").fetchone()[0]
    yield
    with jarvis.stores.postgres.pool.connection() as conn, conn.transaction():
        events = [
            Event(entity, row[0], "delete")
            for table, entity in SHARED.items()
            for row in conn.execute(f"DELETE FROM {table} WHERE created_at >= %s RETURNING id::text", (since,))
        ]
        event_ids = record(conn, events)
    for start in range(0, len(event_ids), 1000):
        jarvis.projector.apply(event_ids[start : start + 1000])


@pytest.fixture(scope="module", params=list(KEYS))
def fuzz_headers(request, api_jarvis, make_key):
    APP.state.jarvis = api_jarvis
    kind = KEYS[request.param]
    return make_key(*kind["scopes"], user=kind.get("user"), name=f"fuzz-{request.param}")


@SCHEMA.parametrize()
@settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_operation_answers_5xx_or_off_schema(case, fuzz_headers) -> None:
    # A request the schema allows can still be refused for reasons no schema states (an id that
    # does not exist, query and vector both given): a 4xx then is right, so positive-data
    # acceptance is not among the checks.
    case.call_and_validate(headers=fuzz_headers, checks=CHECKS)


CHECKS = [
    schemathesis.checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
]
