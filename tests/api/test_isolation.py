"""A key bound to user B never reads user A's conversations — PostgreSQL enforces it."""

from __future__ import annotations

import psycopg
import pytest


@pytest.fixture
def two_users(api, make_key, name):
    ada, bob = f"{name}-ada", f"{name}-bob"
    headers = {ada: make_key("read", "write", user=ada), bob: make_key("read", "write", user=bob)}
    for user, text in ((ada, "My bank PIN reminder: the blue door on Elm street."), (bob, "Bob likes jazz records.")):
        response = api.post(
            "/api/v1/conversations/messages",
            headers=headers[user],
            json={"session_id": f"{user}-s", "role": "user", "content": text},
        )
        assert response.status_code == 201, response.text
        assert response.json()["user_id"] == user
    return ada, bob, headers


def test_bob_cannot_list_read_or_search_adas_conversations(api, two_users) -> None:
    ada, bob, headers = two_users
    assert api.get(f"/api/v1/conversations/{ada}-s", headers=headers[bob]).json() == []
    assert len(api.get(f"/api/v1/conversations/{ada}-s", headers=headers[ada]).json()) == 1
    assert api.get("/api/v1/conversations/search", params={"q": "bank PIN"}, headers=headers[bob]).json() == []
    semantic = api.post(
        "/api/v1/search",
        headers=headers[bob],
        json={"query": "where is the door for my bank code", "scopes": ["conversations"]},
    ).json()
    assert all(hit["item"]["user_id"] == bob for hit in semantic["results"])
    asked_for_ada = api.post(
        "/api/v1/search", headers=headers[bob], json={"query": "bank", "scopes": ["conversations"], "user_id": ada}
    )
    assert asked_for_ada.status_code == 403


def test_bob_cannot_write_as_ada(api, two_users) -> None:
    ada, bob, headers = two_users
    response = api.post(
        "/api/v1/conversations/messages",
        headers=headers[bob],
        json={"session_id": "x", "role": "user", "content": "hi", "user_id": ada},
    )
    assert response.status_code == 403


def test_the_database_itself_hides_other_users_rows_from_the_api_role(settings, two_users) -> None:
    ada, bob, _ = two_users
    count = "SELECT count(*) FROM conversations WHERE session_id = %s"
    with psycopg.connect(settings.api_postgres_conninfo) as conn:
        conn.execute("SELECT set_config('app.current_user', %s, true)", (bob,))
        assert conn.execute(count, (f"{ada}-s",)).fetchone()[0] == 0  # no WHERE user_id needed: RLS
        assert conn.execute(count, (f"{bob}-s",)).fetchone()[0] == 1
        conn.rollback()
        assert conn.execute(count, (f"{ada}-s",)).fetchone()[0] == 0  # nobody set: nobody's rows
        conn.rollback()
        conn.execute("SELECT set_config('app.current_user', %s, true)", (ada,))
        assert conn.execute(count, (f"{ada}-s",)).fetchone()[0] == 1
        conn.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM conversations_default")  # partitions only through the parent
        conn.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO conversations (session_id, user_id, message_type, role, content) "
                "SELECT 's', %s, 'text', 'user', 'forged' WHERE set_config('app.current_user', %s, true) "
                "IS NOT NULL",
                (ada, bob),
            )
