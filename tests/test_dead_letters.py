"""A poisoned outbox event fails alone: the events batched with it are projected, it is
dead-lettered (visible in verify, status and /metrics) and retried once its row is fixed."""

from __future__ import annotations

import re

import pytest
from psycopg.types.json import Jsonb

from jarvis.projection.maintenance import DEAD_LETTERS, verify
from jarvis.outbox import Event, record

#: A conversation row written before inputs were checked: Chroma refuses nested metadata.
COPY_WITH_NESTED_SENTIMENT = """
INSERT INTO conversations (session_id, user_id, message_type, role, content, metadata, embedding)
SELECT session_id, user_id, message_type, role, 'a poisoned message', %(metadata)s, embedding
FROM conversations WHERE id = %(id)s
RETURNING id::text
"""


@pytest.fixture
def synced(jarvis):
    jarvis.sync()
    yield jarvis
    jarvis.sync()


@pytest.fixture
def session(jarvis, name):
    """The test's conversation session, erased afterwards with every message in it (the keyword
    ranking's statistics count every row another test leaves)."""
    yield name
    jarvis.delete_session(name)


def test_a_refused_event_among_fifty_good_ones_is_dead_lettered_and_retried_after_the_fix(
    synced, jarvis_cli, api, make_key, session
) -> None:
    jarvis = synced
    good = [
        jarvis.append_message(session_id=session, role="user", content=f"message {i} of {session}")["id"]
        for i in range(50)
    ]
    chroma = jarvis.stores.get("chroma")
    chroma.delete("conversations", good)  # the 50 wait in the outbox, batched with the poison
    with jarvis.stores.postgres.pool.connection() as conn:
        conn.execute(
            "UPDATE outbox SET pending_stores = '{chroma}', processed_at = NULL, "
            "next_attempt_at = CURRENT_TIMESTAMP WHERE entity = 'conversation' AND entity_id = ANY(%s)",
            (good,),
        )
        poison = conn.execute(
            COPY_WITH_NESTED_SENTIMENT, {"id": good[0], "metadata": Jsonb({"sentiment": {"score": 0.9}})}
        ).fetchone()[0]
        record(conn, [Event("conversation", poison)])
        conn.execute("UPDATE outbox SET next_attempt_at = CURRENT_TIMESTAMP WHERE entity_id = %s", (poison,))

    synced_out = jarvis_cli("sync")
    assert synced_out.returncode == 0, synced_out.stdout + synced_out.stderr
    assert re.search(r"0 still pending; 1 dead-lettered", synced_out.stdout), synced_out.stdout
    assert set(good) <= chroma.ids("conversations") and poison not in chroma.ids("conversations")
    with jarvis.stores.postgres.pool.connection() as conn:
        dead, error = conn.execute(
            "SELECT dead_stores, last_error ->> 'chroma' FROM outbox WHERE entity_id = %s", (poison,)
        ).fetchone()
    assert dead == ["chroma"] and error

    listed = [d for d in verify(jarvis.stores) if d.what == DEAD_LETTERS]
    assert len(listed) == 1 and listed[0].store == "chroma" and poison in listed[0].missing[0]
    verified = jarvis_cli("verify", "--store", "chroma")
    assert verified.returncode == 1 and poison in verified.stdout
    status = jarvis_cli("status")
    assert "1 dead-lettered events" in status.stdout
    metrics = api.get("/metrics", headers=make_key("read")).text
    assert re.search(r"^jarvis_outbox_dead_events 1\.0$", metrics, re.M)
    assert re.search(r"^jarvis_outbox_oldest_pending_seconds ", metrics, re.M)

    with jarvis.stores.postgres.pool.connection() as conn:  # the operator fixes the row
        conn.execute("UPDATE conversations SET metadata = %s WHERE id = %s", (Jsonb({"sentiment": 0.9}), poison))
    retried = jarvis_cli("sync", "--retry-dead")
    assert retried.returncode == 0 and "0 still pending; 0 dead-lettered" in retried.stdout, retried.stdout
    assert poison in chroma.ids("conversations")
    assert not [d for d in verify(jarvis.stores, ["chroma"]) if d.what == DEAD_LETTERS]


def test_a_nested_sentiment_is_refused_at_input_naming_the_field(api, make_key, name) -> None:
    response = api.post(
        "/api/v1/conversations/messages",
        headers=make_key("write"),
        json={"session_id": name, "role": "user", "content": "hi", "metadata": {"sentiment": {"score": 0.9}}},
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "metadata" and "sentiment" in error["message"]
