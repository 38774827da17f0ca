"""Importing a conversation history: many turns in one call, in order, all or none."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from jarvis.errors import InvalidInput


#: The sessions a test named after itself (``<name>-...``).
SESSIONS_OF_TEST = "SELECT DISTINCT session_id FROM conversations WHERE session_id LIKE %s"


@pytest.fixture(autouse=True)
def erase_the_tests_sessions(jarvis, name):
    """Every session a test wrote goes afterwards (the keyword ranking's statistics count every
    row another test leaves)."""
    yield
    with jarvis.stores.postgres.pool.connection() as conn:
        sessions = [row[0] for row in conn.execute(SESSIONS_OF_TEST, (f"{name}-%",))]
    for session in sessions:
        jarvis.delete_session(session)


def _turns(session: str, user: str, n: int, *, agent_id: str | None = None) -> list[dict]:
    return [
        {
            "session_id": session,
            "user_id": user,
            "role": "user" if i % 2 == 0 else "assistant",
            "agent_id": agent_id,
            "content": f"Turn {i}: we talked about the {['harbour', 'budget', 'flight'][i % 3]} plans for week {i}.",
        }
        for i in range(n)
    ]


def _count(jarvis, session: str) -> int:
    with jarvis.stores.postgres.pool.connection() as conn:
        return conn.execute("SELECT count(*) FROM conversations WHERE session_id = %s", (session,)).fetchone()[0]


def test_a_history_of_many_turns_is_imported_in_order_and_searchable(jarvis, name) -> None:
    agent = jarvis.register_agent(name=f"{name}-assistant", type="letta")
    session, user = f"{name}-history", f"{name}-ada"
    turns = _turns(session, user, 150, agent_id=agent["id"])
    turns[77]["content"] = "My flight to Lisbon got cancelled, can you rebook it for tomorrow morning?"
    imported = jarvis.append_messages(turns)
    assert imported["count"] == 150 and len(set(imported["ids"])) == 150 and imported["lagging"] == []
    history = jarvis.conversation_history(session, limit=1000)
    assert [m["content"] for m in history] == [t["content"] for t in turns]  # the order of the import
    assert [m["id"] for m in history] == imported["ids"]
    assert jarvis.get_session(session)["user_id"] == user
    meaning = jarvis.search(query="my plane trip was called off", scopes=["conversations"], user_id=user)
    assert meaning["results"][0]["item"]["content"].startswith("My flight to Lisbon")
    edges = (
        jarvis.stores.get("neo4j")
        .driver.execute_query(
            "MATCH (:User {id: $u})-[r:INTERACTED_WITH]->(:Agent {id: $a}) RETURN count(r) AS n", u=user, a=agent["id"]
        )
        .records
    )
    assert edges[0]["n"] == 1


def test_the_same_text_gets_the_same_vector_in_a_batch_as_alone(jarvis, name) -> None:
    session = f"{name}-same"
    alone = jarvis.embedder.embed("We agreed to meet at the harbour at noon.")
    jarvis.embedder.clear_cache()  # the batch embeds it afresh, beside a longer text
    jarvis.append_messages(
        [
            {"session_id": session, "role": "user", "content": "something else entirely"},
            {"session_id": session, "role": "user", "content": "We agreed to meet at the harbour at noon."},
        ]
    )
    with jarvis.stores.postgres.pool.connection() as conn:
        stored = conn.execute(
            "SELECT embedding::real[] FROM conversations WHERE session_id = %s AND content LIKE 'We agreed%%'",
            (session,),
        ).fetchone()[0]
    assert float(alone @ np.array(stored, dtype=np.float32)) > 0.9999


def test_each_turn_of_a_batch_gets_its_context_and_the_stored_last_turn_its_next(jarvis, name) -> None:
    session = f"{name}-context"
    jarvis.append_message(session_id=session, role="user", content="Did you feed the cat?")
    said = datetime(2023, 5, 8, 13, 56, tzinfo=timezone.utc)
    jarvis.append_messages(
        [
            {"session_id": session, "role": "assistant", "content": "Yes, last week!", "created_at": said},
            {
                "session_id": session,
                "role": "user",
                "content": "Great, thanks.",
                "created_at": said + timedelta(seconds=1),
            },
        ]
    )
    with jarvis.stores.postgres.pool.connection() as conn:
        context = dict(
            conn.execute("SELECT content, context FROM conversations WHERE session_id = %s", (session,)).fetchall()
        )
    assert "Yes, last week!" in context["Did you feed the cat?"]  # the stored turn learnt its next one
    assert context["Yes, last week!"].splitlines() == ["8 May 2023", "Did you feed the cat?", "Great, thanks."]
    assert context["Great, thanks."].splitlines() == ["8 May 2023", "Yes, last week!"]
    found = jarvis.search(query="feed cat last week", scopes=["conversations"], mode="keyword", session_id=session)
    assert "Yes, last week!" in [hit["item"]["content"] for hit in found["results"]]


@pytest.mark.parametrize(
    ("bad", "field", "message"),
    [
        ({"content": ""}, "messages[2].content", "at least 1 character"),
        ({"content": "   "}, "messages[2].content", "at least 1 character"),
        ({"role": "robot"}, "messages[2].role", "user"),
        ({"session_id": "a|b"}, "messages[2].session_id", "pattern"),
        ({"agent_id": str(uuid.uuid4())}, "messages[2].agent_id", "agent that does not exist"),
        ({"task_id": str(uuid.uuid4())}, "messages[2].task_id", "task that does not exist"),
        ({"surprise": 1}, "messages[2].surprise", "[Ee]xtra"),
    ],
)
def test_a_bad_message_is_refused_naming_its_index_before_anything_is_written(
    jarvis, name, bad, field, message
) -> None:
    session = f"{name}-bad"
    turns = _turns(session, f"{name}-bo", 100)
    turns[2] = {**turns[2], **bad}
    with pytest.raises(InvalidInput, match=message) as caught:
        jarvis.append_messages(turns)
    assert caught.value.field == field
    assert _count(jarvis, session) == 0
    jarvis.append_messages(turns[:2])  # the good ones alone go in
    assert _count(jarvis, session) == 2


def test_a_message_that_is_not_an_object_and_an_empty_list_are_refused(jarvis, name) -> None:
    with pytest.raises(InvalidInput) as caught:
        jarvis.append_messages([{"session_id": f"{name}-x", "role": "user", "content": "fine"}, "not a message"])
    assert caught.value.field == "messages[1]"
    with pytest.raises(InvalidInput) as caught:
        jarvis.append_messages([])
    assert caught.value.field == "messages"


def test_the_api_imports_a_batch_for_the_keys_user_and_refuses_a_bad_one_naming_it(api, make_key, name) -> None:
    ada, bob = f"{name}-ada", f"{name}-bob"
    headers = make_key("read", "write", user=ada)
    turns = [{"session_id": f"{name}-s", "role": "user", "content": f"Ada's note number {i}."} for i in range(5)]
    response = api.post("/api/v1/conversations/messages/batch", headers=headers, json={"messages": turns})
    assert response.status_code == 201, response.text
    assert response.json()["count"] == 5
    history = api.get(f"/api/v1/conversations/{name}-s", headers=headers).json()
    assert [m["content"] for m in history] == [t["content"] for t in turns]
    assert {m["user_id"] for m in history} == {ada}

    refused = api.post(
        "/api/v1/conversations/messages/batch",
        headers=headers,
        json={"messages": [*turns, {"session_id": f"{name}-s", "role": "user", "content": ""}]},
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "messages[5].content"
    as_bob = api.post(
        "/api/v1/conversations/messages/batch", headers=headers, json={"messages": [{**turns[0], "user_id": bob}]}
    )
    assert as_bob.status_code == 403 and "messages[0].user_id" in as_bob.json()["error"]["message"]
    assert len(api.get(f"/api/v1/conversations/{name}-s", headers=headers).json()) == 5
