"""Dead-lettered outbox events: what a store kept refusing, kept visible until retried.

An event a store answered and refused ``outbox_max_attempts`` times (a row it cannot take)
leaves that store's ``pending_stores`` for ``dead_stores``: it no longer blocks or slows any
other event, ``jarvis verify``, ``jarvis status`` and ``/metrics`` report it, and after the
cause is fixed ``jarvis sync --retry-dead`` makes it pending again. A store that is down
refuses nothing, so an outage never dead-letters anything.

Each function reads the caller's transaction acting for every user: the outbox shows the
service role (and a non-superuser owner) every user's events only when a transaction says so
(``migrations/023_outbox_row_security.sql``); these figures are about all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg.rows import dict_row

from jarvis.principal import EVERY_USER, scope_transaction

SELECT_DEAD = """
SELECT id, entity, entity_id, dead_stores, last_error, refusals, created_at
FROM outbox WHERE cardinality(dead_stores) > 0 ORDER BY id LIMIT %(limit)s
"""
RETRY_DEAD = """
UPDATE outbox SET pending_stores = ARRAY(SELECT DISTINCT unnest(pending_stores || dead_stores)),
                  dead_stores = '{}', refusals = '{}', next_attempt_at = CURRENT_TIMESTAMP, processed_at = NULL
WHERE cardinality(dead_stores) > 0
RETURNING id
"""
#: The outbox at a glance, for /metrics and `jarvis status`.
OUTBOX_STATS = """
SELECT count(*) FILTER (WHERE cardinality(pending_stores) > 0) AS pending,
       count(*) FILTER (WHERE cardinality(dead_stores) > 0) AS dead,
       coalesce(extract(epoch FROM CURRENT_TIMESTAMP - min(created_at)
                        FILTER (WHERE cardinality(pending_stores) > 0)), 0)::float8 AS oldest_pending_seconds
FROM outbox WHERE cardinality(pending_stores) > 0 OR cardinality(dead_stores) > 0
"""
#: Projection lag per store: events each store has yet to apply, the oldest one's age, its dead letters.
OUTBOX_BY_STORE = """
SELECT store, count(*) FILTER (WHERE pending) AS pending, count(*) FILTER (WHERE NOT pending) AS dead,
       coalesce(extract(epoch FROM CURRENT_TIMESTAMP - min(created_at) FILTER (WHERE pending)), 0)::float8
           AS oldest_pending_seconds
FROM (SELECT unnest(pending_stores) AS store, true AS pending, created_at FROM outbox
      WHERE cardinality(pending_stores) > 0
      UNION ALL
      SELECT unnest(dead_stores), false, created_at FROM outbox WHERE cardinality(dead_stores) > 0) waiting
GROUP BY store ORDER BY store
"""


@dataclass(frozen=True, slots=True)
class OutboxStats:
    pending: int
    dead: int
    oldest_pending_seconds: float


def outbox_stats(conn: psycopg.Connection) -> OutboxStats:
    """Backlog, dead letters and the age of the oldest pending event (partial indexes keep it cheap)."""
    scope_transaction(conn, EVERY_USER)
    pending, dead, oldest = conn.execute(OUTBOX_STATS).fetchone()
    return OutboxStats(pending=int(pending), dead=int(dead), oldest_pending_seconds=float(oldest))


def dead_letters(conn: psycopg.Connection, *, limit: int = 100) -> list[dict]:
    """The dead-lettered events, oldest first, each with the stores that refused it and why."""
    scope_transaction(conn, EVERY_USER)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(SELECT_DEAD, {"limit": limit}).fetchall()


def retry_dead(conn: psycopg.Connection) -> int:
    """Make every dead-lettered event pending again (after its cause was fixed); return how many."""
    scope_transaction(conn, EVERY_USER)
    return len(conn.execute(RETRY_DEAD).fetchall())
