"""The recorded kind of the stored vectors (``embedding_space``), and the check against it.

A process may only embed into a store whose vectors are of its embedder's family: fp32
(torch, ONNX) or int8 (ONNX quantised). A mismatch, or a re-embed still under way, is a
:class:`ConfigurationError` naming the command that resolves it — the two kinds are never
mixed, because a search compares a query's vector with stored ones.
"""

from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row

from jarvis.errors import ConfigurationError, StoreUnavailable

SELECT_SPACE = "SELECT family, reembed_to, progress, updated_at FROM embedding_space WHERE singleton"
START_REEMBED = """
UPDATE embedding_space SET reembed_to = %(to)s,
       progress = CASE WHEN reembed_to IS DISTINCT FROM %(to)s THEN '{}'::jsonb ELSE progress END,
       updated_at = CURRENT_TIMESTAMP
WHERE singleton RETURNING family, reembed_to, progress
"""
RECORD_PROGRESS = """
UPDATE embedding_space SET progress = jsonb_set(progress, ARRAY[%(table)s], %(state)s::jsonb),
       updated_at = CURRENT_TIMESTAMP
WHERE singleton AND reembed_to = %(to)s
"""
FINISH_REEMBED = """
UPDATE embedding_space SET family = reembed_to, reembed_to = NULL, progress = '{}', updated_at = CURRENT_TIMESTAMP
WHERE singleton AND reembed_to = %(to)s RETURNING family
"""


def read(conn: Any) -> dict:
    """The one row: ``family``, ``reembed_to``, ``progress``."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(SELECT_SPACE).fetchone()
    if row is None:  # the migration inserts it; a missing row is a damaged schema
        raise ConfigurationError("embedding_space has no row: run `jarvis migrate`")
    return row


def check(conn: Any, *, family: str, backend: str) -> None:
    """Raise ConfigurationError unless the stored vectors are of *family* and settled."""
    space = read(conn)
    if space["reembed_to"] is not None:
        raise ConfigurationError(
            f"a re-embed to {space['reembed_to']} vectors is under way; finish it with "
            f"`jarvis reembed --to {_backend_for(space['reembed_to'])}` before serving"
        )
    if space["family"] != family:
        raise ConfigurationError(
            f"the store holds {space['family']} vectors but JARVIS_EMBEDDER serves {backend} ({family}); "
            f"the two must not be mixed: run `jarvis reembed --to {backend}` (or serve with "
            f"JARVIS_EMBEDDER={_backend_for(space['family'])})"
        )


def check_if_reachable(postgres: Any, *, family: str, backend: str) -> bool:
    """:func:`check` through *postgres* (a PostgresStore); False, without raising, when
    PostgreSQL cannot be reached (nothing can be written then anyway)."""
    try:
        with postgres.transaction() as conn:
            check(conn, family=family, backend=backend)
    except StoreUnavailable:
        return False
    return True


def _backend_for(family: str) -> str:
    return "onnx-int8" if family == "int8" else "onnx"
