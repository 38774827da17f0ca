"""An erasure receipt belongs to the user whose data it erased: Ada forgets herself, and Bob's
key gets 404 for her receipt — the answer for one that does not exist — because PostgreSQL
hides the row from him, while a key of Ada's and a service key read it. Only a key that may
write finishes what Redis missed when the receipt is fetched; a read-only key changes nothing."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from jarvis.stores import redis_keys as keys

SCOPED_TO = "SELECT set_config('app.current_user', %s, true), set_config('app.all_users', 'on', true)"
COUNT_RECEIPT = "SELECT count(*) FROM erasure_receipts WHERE id = %s"


@pytest.fixture
def erased_ada(api, make_key, jarvis, name):
    """Ada (with a conversation) forgets herself with her own key; Bob has a conversation and a
    key. Yields (ada, bob, the receipt); Bob is forgotten afterwards (Ada already is)."""
    ada, bob = f"{name}-ada", f"{name}-bob"
    for user in (ada, bob):
        jarvis.append_message(session_id=f"{user}-s", role="user", content=f"{user} was here", user_id=user)
    erased = api.delete(f"/api/v1/users/{ada}", headers=make_key("read", "write", user=ada))
    assert erased.status_code == 200 and erased.json()["complete"], erased.text
    yield ada, bob, erased.json()
    jarvis.forget_users([bob])


def test_another_users_key_gets_404_and_the_owner_and_a_service_key_read_it(api, make_key, erased_ada) -> None:
    ada, bob, receipt = erased_ada
    path = f"/api/v1/erasures/{receipt['id']}"
    for scopes in (("read",), ("read", "write"), ("admin",)):
        refused = api.get(path, headers=make_key(*scopes, user=bob))
        assert refused.status_code == 404, refused.text
        assert ada not in refused.text  # nothing of the receipt, not even whose it is
    missing = api.get(f"/api/v1/erasures/{uuid.uuid4()}", headers=make_key("read", user=bob))
    assert missing.status_code == 404
    assert refused.json()["error"]["code"] == missing.json()["error"]["code"]  # no way to tell the two apart

    # Her keys were revoked by the erasure; one made afterwards is hers and reads her receipt.
    for headers in (make_key("read", user=ada), make_key("read")):
        again = api.get(path, headers=headers)
        assert again.status_code == 200, again.text
        assert again.json()["subject_id"] == ada and again.json()["complete"]


def test_postgres_itself_hides_the_receipt_from_another_users_role(settings, jarvis, erased_ada) -> None:
    ada, bob, receipt = erased_ada
    with jarvis.stores.postgres.pool.connection() as conn:  # the tables' owner: the row is there
        row = conn.execute("SELECT owner_user_id FROM erasure_receipts WHERE id = %s", (receipt["id"],)).fetchone()
    assert row == (ada,)
    with psycopg.connect(settings.api_postgres_conninfo) as conn:
        conn.execute(SCOPED_TO, (bob,))
        assert conn.execute(COUNT_RECEIPT, (receipt["id"],)).fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM erasure_receipts WHERE owner_user_id = %s", (ada,)).fetchone()[0] == 0
        conn.rollback()
        conn.execute(SCOPED_TO, (ada,))
        assert conn.execute(COUNT_RECEIPT, (receipt["id"],)).fetchone()[0] == 1
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # a receipt is written once
            conn.execute("DELETE FROM erasure_receipts WHERE id = %s", (receipt["id"],))
        conn.rollback()
        conn.execute(SCOPED_TO, (bob,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # nor can Bob file one in her name
            conn.execute(
                "INSERT INTO erasure_receipts (subject_type, subject_id, removed, erased, owner_user_id)"
                " VALUES ('user', %s, '{}', '{}', %s)",
                (ada, ada),
            )
    with psycopg.connect(settings.service_postgres_conninfo) as conn:
        assert conn.execute(COUNT_RECEIPT, (receipt["id"],)).fetchone()[0] == 0  # fail closed: nobody named
        conn.rollback()
        conn.execute("SELECT set_config('app.all_users', 'on', true)")
        assert conn.execute(COUNT_RECEIPT, (receipt["id"],)).fetchone()[0] == 1


def test_only_a_key_that_may_write_finishes_what_redis_missed(api, make_key, jarvis, erased_ada) -> None:
    ada, _, receipt = erased_ada
    path, leftover = f"/api/v1/erasures/{receipt['id']}", keys.session(f"{ada}-s")
    jarvis.stores.redis.conn.set(leftover, "written back after the erasure")
    try:
        for headers in (make_key("read"), make_key("read", user=ada)):
            looked = api.get(path, headers=headers)
            assert looked.status_code == 200, looked.text
            assert looked.json()["remaining"]["redis"] == 1 and "redis" in looked.json()["lagging"]
            assert jarvis.stores.redis.conn.exists(leftover) == 1  # a reader changed nothing
        finished = api.get(path, headers=make_key("read", "write", user=ada))
        assert finished.status_code == 200 and finished.json()["complete"], finished.text
        assert jarvis.stores.redis.conn.exists(leftover) == 0
    finally:
        jarvis.stores.redis.conn.delete(leftover)
