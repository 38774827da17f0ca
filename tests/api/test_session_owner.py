"""A session's turns belong to one user, and PostgreSQL decides whose (migration 027), not the
Redis `session:{id}` entry, which goes to whoever wrote last and expires after an hour idle.

The attack a security review reproduced: once Ada's Redis entry had gone, Bob's key wrote into
her session, and from then on Ada got 403 on her own session, renewed by every message Bob
wrote. Each test uses its own users and session ids (UUIDs) and forgets the users afterwards."""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest

from jarvis.stores import redis_keys as keys

MESSAGES = "/api/v1/conversations/messages"
BATCH = "/api/v1/conversations/messages/batch"
INSERT_TURN = (
    "INSERT INTO conversations (session_id, user_id, message_type, role, content) VALUES (%s, %s, 'text', 'user', %s)"
)
AS_USER = "SELECT set_config('app.current_user', %s, true), set_config('app.all_users', 'off', true)"


@pytest.fixture
def people(api, make_key, jarvis, name):
    """Ada and Bob with a key bound to each (headers by user); both forgotten afterwards."""
    ada, bob = f"{name}-ada", f"{name}-bob"
    yield ada, bob, {ada: make_key("read", "write", user=ada), bob: make_key("read", "write", user=bob)}
    jarvis.forget_users([ada, bob])


def _session() -> str:
    return f"s-{uuid.uuid4()}"


def _turns(jarvis, session: str) -> list[str]:
    """The session's turns' users, counted as the tables' owner (every user's rows)."""
    with jarvis.stores.postgres.pool.connection() as conn:
        conn.execute("SELECT set_config('app.all_users', 'on', true)")
        rows = conn.execute(
            "SELECT user_id FROM conversations WHERE session_id = %s ORDER BY created_at", (session,)
        ).fetchall()
    return [r[0] for r in rows]


def _say(api, headers: dict, session: str, content: str):
    return api.post(MESSAGES, headers=headers, json={"session_id": session, "role": "user", "content": content})


def test_bob_cannot_take_adas_session_once_its_redis_entry_has_expired(api, jarvis, people) -> None:
    ada, bob, headers = people
    session = _session()
    assert _say(api, headers[ada], session, "my locker code is 5521").status_code == 201
    jarvis.stores.redis.conn.delete(keys.session(session))  # expired, or Redis restarted

    refused = _say(api, headers[bob], session, "this session is mine now")
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["field"] == "session_id"
    assert _turns(jarvis, session) == [ada]  # nothing of Bob's written
    assert jarvis.stores.redis.get_session(session) is None  # nor did his refusal touch the session

    again = _say(api, headers[ada], session, "and my bike is blue")
    assert again.status_code == 201, again.text  # Ada is not locked out of her own session
    assert _turns(jarvis, session) == [ada, ada]
    assert jarvis.get_session(session)["user_id"] == ada


def test_a_redis_entry_naming_another_user_no_longer_locks_the_owner_out(api, jarvis, people) -> None:
    ada, bob, headers = people
    session = _session()
    assert _say(api, headers[ada], session, "first").status_code == 201
    jarvis.stores.redis.touch_session(session, user_id=bob, agent_id=None)  # what Bob's writes used to leave
    assert _say(api, headers[ada], session, "second").status_code == 201
    assert _turns(jarvis, session) == [ada, ada]


def test_the_first_writer_of_a_new_session_keeps_it(api, jarvis, people) -> None:
    ada, bob, headers = people
    session = _session()
    assert _say(api, headers[bob], session, "I got here first").status_code == 201
    jarvis.stores.redis.conn.delete(keys.session(session))

    refused = _say(api, headers[ada], session, "I meant to use this id")
    assert refused.status_code == 403 and refused.json()["error"]["field"] == "session_id", refused.text
    assert _say(api, headers[bob], session, "still mine").status_code == 201  # Bob isn't locked out
    assert _turns(jarvis, session) == [bob, bob]


def test_a_batch_into_another_users_session_is_refused_naming_the_message(api, jarvis, people) -> None:
    ada, bob, headers = people
    adas, bobs = _session(), _session()
    assert _say(api, headers[ada], adas, "mine").status_code == 201
    jarvis.stores.redis.conn.delete(keys.session(adas))

    batch = [
        {"session_id": bobs, "role": "user", "content": "my own session"},
        {"session_id": bobs, "role": "assistant", "content": "noted"},
        {"session_id": adas, "role": "user", "content": "hers, taken"},
    ]
    refused = api.post(BATCH, headers=headers[bob], json={"messages": batch})
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["field"] == "messages[2].session_id"
    assert _turns(jarvis, adas) == [ada] and _turns(jarvis, bobs) == []  # nothing written, not even his own

    accepted = api.post(BATCH, headers=headers[bob], json={"messages": batch[:2]})
    assert accepted.status_code == 201, accepted.text
    assert _turns(jarvis, bobs) == [bob, bob]
    assert _say(api, headers[ada], adas, "still mine").status_code == 201


def test_a_service_key_may_write_two_users_turns_into_one_session(api, jarvis, make_key, people) -> None:
    ada, bob, headers = people
    session = _session()
    service = make_key("read", "write")
    for user in (ada, bob):
        response = api.post(
            MESSAGES, headers=service, json={"session_id": session, "role": "user", "content": "hi", "user_id": user}
        )
        assert response.status_code == 201, response.text
    batch = [{"session_id": session, "role": "user", "content": f"{u} again", "user_id": u} for u in (bob, ada)]
    assert api.post(BATCH, headers=service, json={"messages": batch}).status_code == 201
    assert _turns(jarvis, session) == [ada, bob, bob, ada]
    # a session of several users is written by services only
    assert _say(api, headers[ada], session, "mine?").status_code == 403


def test_two_users_starting_the_same_new_session_at_once_cannot_both_win(settings, people) -> None:
    """Straight to PostgreSQL as the API's user role: Ada's first turn is uncommitted when Bob's
    arrives; Bob's waits for it and is then refused (42501 naming session_id)."""
    ada, bob, _ = people
    session = _session()
    outcome: dict[str, object] = {}
    with psycopg.connect(settings.api_postgres_conninfo) as first:
        first.execute(AS_USER, (ada,))
        first.execute("INSERT INTO users (id) VALUES (%s) ON CONFLICT DO NOTHING", (ada,))  # to be forgotten
        first.execute(INSERT_TURN, (session, ada, "mine"))

        def second() -> None:
            with psycopg.connect(settings.api_postgres_conninfo) as conn:
                conn.execute("SET statement_timeout = '20s'")
                conn.execute(AS_USER, (bob,))
                try:
                    conn.execute(INSERT_TURN, (session, bob, "no, mine"))
                    conn.commit()
                    outcome["bob"] = "written"
                except psycopg.Error as exc:
                    outcome["bob"] = exc

        racer = threading.Thread(target=second)
        racer.start()
        racer.join(1.0)
        assert racer.is_alive(), "Bob's first turn did not wait for Ada's"
        first.commit()
    racer.join(30)
    refused = outcome["bob"]
    assert isinstance(refused, psycopg.errors.InsufficientPrivilege), refused
    assert refused.diag.column_name == "session_id"
    with psycopg.connect(settings.api_postgres_conninfo) as conn:
        conn.execute(AS_USER, (bob,))
        assert conn.execute("SELECT count(*) FROM conversations WHERE session_id = %s", (session,)).fetchone()[0] == 0
        conn.rollback()
        conn.execute(AS_USER, (ada,))
        assert conn.execute("SELECT count(*) FROM conversations WHERE session_id = %s", (session,)).fetchone()[0] == 1
