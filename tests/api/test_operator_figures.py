"""Figures that count every user's activity are for operators: a key bound to Ada reads how far
behind her own writes are, never how busy Bob is.

``/console/api/outbox`` answers through row-level security (migration 023), so Ada's key counts
only the events of her writes; ``/metrics`` (every user's requests, events and tasks) refuses a
user-bound key. Each test first checks, as the tables' owner, that Bob's events exist and are
pending, so "Ada does not see them" cannot pass on an empty outbox."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

#: Events parked an hour ahead: the background projector (due events only) leaves them pending.
PARK = """
INSERT INTO outbox (entity, entity_id, operation, pending_stores, next_attempt_at, owner_user_id)
SELECT 'conversation', gen_random_uuid()::text, 'upsert', '{chroma}', CURRENT_TIMESTAMP + interval '1 hour', %s
FROM generate_series(1, %s) RETURNING id
"""


@pytest.fixture
def parked(jarvis) -> Iterator[dict]:
    """Ada's 2 and Bob's 3 pending events, and 1 that PostgreSQL's own triggers would have
    queued (no owner: the service's)."""
    tag = uuid.uuid4().hex[:8]
    ada, bob = f"ops{tag}-ada", f"ops{tag}-bob"
    ids: list[int] = []
    with jarvis.stores.postgres.pool.connection() as conn:  # the owner: no row-level security
        for owner, count in ((ada, 2), (bob, 3), (None, 1)):
            ids += [row[0] for row in conn.execute(PARK, (owner, count)).fetchall()]
        pending = conn.execute(
            "SELECT owner_user_id, count(*) FROM outbox WHERE id = ANY(%s) AND pending_stores = '{chroma}' "
            "GROUP BY owner_user_id",
            (ids,),
        ).fetchall()
    assert dict(pending) == {ada: 2, bob: 3, None: 1}  # not vacuous: Bob's events are there
    yield {"ada": ada, "bob": bob}
    with jarvis.stores.postgres.pool.connection() as conn:
        conn.execute("DELETE FROM outbox WHERE id = ANY(%s)", (ids,))


def test_adas_key_counts_only_her_own_writes_pending(api, make_key, parked) -> None:
    answer = api.get("/console/api/outbox", headers=make_key("read", user=parked["ada"]))
    assert answer.status_code == 200, answer.text
    chroma = answer.json()["stores"]["chroma"]
    assert chroma["pending"] == 2  # hers; not Bob's 3, not the service's 1
    assert chroma["oldest_pending_seconds"] >= 0
    assert chroma["dead"] == 0


def test_bobs_key_sees_his_own_and_nothing_of_adas(api, make_key, parked) -> None:
    answer = api.get("/console/api/outbox", headers=make_key("read", user=parked["bob"]))
    assert answer.json()["stores"]["chroma"]["pending"] == 3


def test_a_service_key_counts_every_users_events(api, make_key, parked) -> None:
    answer = api.get("/console/api/outbox", headers=make_key("read"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["stores"]["chroma"]["pending"] >= 6  # Ada's, Bob's, the service's (and any other)


def test_metrics_refuse_a_key_bound_to_a_user(api, make_key, parked) -> None:
    refused = api.get("/metrics", headers=make_key("read", user=parked["ada"]))
    assert refused.status_code == 403
    assert "jarvis_outbox_pending_events" not in refused.text
    assert "bound to a user" in refused.text
    served = api.get("/metrics", headers=make_key("read"))
    assert served.status_code == 200
    assert "jarvis_outbox_pending_events" in served.text
