"""A key bound to Bob cannot tie what he writes to Ada's private agent or her task.

PostgreSQL's foreign keys (and the edge trigger) check that a referenced row exists as the
tables' owner, past row-level security. Before the facade asked, Bob's task, turn, fact, snippet,
metric, improvement, collaboration or event could name Ada's agent: Neo4j then tied his content
to her agent, her event list and live channel showed his forged event, and a 201 against a 422
told him which of her ids exist. Now each write names only agents and tasks its caller can see,
and the answer for Ada's id is the one for an id that does not exist.

Each case is asked three times: with Ada's id (refused), with an id nobody has (refused the same
way: no probing), and with Bob's own agent or task (accepted — the route works, so the refusal is
not a broken request)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from jarvis.principal import acting_as
from jarvis.stores.base import StoreName

Body = Callable[[str, str], dict[str, Any]]  # (agent id, task id) -> request body


@pytest.fixture(scope="module")
def people(jarvis, api_jarvis) -> Iterator[dict[str, Any]]:
    tag = f"ref{uuid.uuid4().hex[:8]}"
    ada, bob = f"{tag}-ada", f"{tag}-bob"
    ids: dict[str, Any] = {"ada": ada, "bob": bob}
    for user in (ada, bob):
        with acting_as(user):
            api_jarvis.upsert_user(id=user, name=user)
            ids[f"{user}-agent"] = api_jarvis.register_agent(name=f"{user}-agent", type="letta", owner_user_id=user)[
                "id"
            ]
            ids[f"{user}-task"] = api_jarvis.create_task(name=f"{user}-task", type="chat", requested_by=user)["id"]
    yield ids
    jarvis.forget_user(ada)
    jarvis.forget_user(bob)


def _other_agent(people: dict[str, Any]) -> str:
    return str(people[f"{people['bob']}-agent"])


#: (route, the field that names an agent or a task, its kind, the body given that id)
CASES: list[tuple[str, str, str, Body]] = [
    ("/api/v1/tasks", "agent_id", "agent", lambda a, t: {"name": "bob's job", "type": "chat", "agent_id": a}),
    (
        "/api/v1/tasks",
        "parent_task_id",
        "task",
        lambda a, t: {"name": "bob's job", "type": "chat", "parent_task_id": t},
    ),
    (
        "/api/v1/conversations/messages",
        "agent_id",
        "agent",
        lambda a, t: {"session_id": f"s-{uuid.uuid4().hex[:8]}", "role": "user", "content": "hello", "agent_id": a},
    ),
    (
        "/api/v1/conversations/messages",
        "task_id",
        "task",
        lambda a, t: {"session_id": f"s-{uuid.uuid4().hex[:8]}", "role": "user", "content": "hello", "task_id": t},
    ),
    ("/api/v1/knowledge", "agent_id", "agent", lambda a, t: {"topic": "bob", "content": "a fact", "agent_id": a}),
    (
        "/api/v1/code-snippets",
        "agent_id",
        "agent",
        lambda a, t: {"content": "x = 1", "language": "python", "agent_id": a},
    ),
    (
        "/api/v1/performance-metrics",
        "agent_id",
        "agent",
        lambda a, t: {"metric_type": "latency", "source": "bob", "value": 1.0, "agent_id": a},
    ),
    (
        "/api/v1/improvements",
        "agent_id",
        "agent",
        lambda a, t: {"improvement_type": "optimization", "target": "bob", "agent_id": a},
    ),
    (
        "/api/v1/events",
        "agent_id",
        "agent",
        lambda a, t: {
            "event_type": "alert",
            "source": "bob",
            "message": "your agent was compromised",
            "severity": "critical",
            "agent_id": a,
            "task_id": t,
        },
    ),
]


@pytest.mark.parametrize(("route", "field", "kind", "body"), CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_bob_cannot_name_adas_agent_or_task(api, make_key, people, route, field, kind, body) -> None:
    ada, bob = people["ada"], people["bob"]
    bobs = make_key("read", "write", user=bob)
    adas_agent, adas_task = str(people[f"{ada}-agent"]), str(people[f"{ada}-task"])
    bobs_agent, bobs_task = str(people[f"{bob}-agent"]), str(people[f"{bob}-task"])
    nobodys = str(uuid.uuid4())

    if kind == "agent":
        foreign, missing = body(adas_agent, bobs_task), body(nobodys, bobs_task)
    else:
        foreign, missing = body(bobs_agent, adas_task), body(bobs_agent, nobodys)
    refused = api.post(route, json=foreign, headers=bobs)
    unknown = api.post(route, json=missing, headers=bobs)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["field"] == field
    assert (unknown.status_code, unknown.json()) == (refused.status_code, refused.json())  # no probing for her ids

    accepted = api.post(route, json=body(bobs_agent, bobs_task), headers=bobs)
    assert accepted.status_code == 201, accepted.text  # the same request with his own ids works


def test_adas_events_do_not_show_bobs_forgery(api, make_key, people) -> None:
    """The event Bob tried to write about Ada's agent is not in her history."""
    ada = people["ada"]
    events = api.get("/api/v1/events", headers=make_key("read", user=ada))
    assert events.status_code == 200
    assert not [e for e in events.json() if e.get("source") == "bob"]


def test_a_collaboration_led_by_adas_agent_is_refused(jarvis, api, make_key, people) -> None:
    ada, bob = people["ada"], people["bob"]
    bobs = make_key("read", "write", user=bob)
    shared = str(jarvis.register_agent(name=f"{bob}-helper", type="crewai")["id"])  # nobody's: everyone sees it
    try:
        body = {"collaboration_type": "sequential", "workflow": {"steps": 1}, "participant_agent_ids": [shared]}
        refused = api.post(
            "/api/v1/collaborations", json={**body, "coordinator_agent_id": str(people[f"{ada}-agent"])}, headers=bobs
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["field"] == "coordinator_agent_id"
        accepted = api.post(
            "/api/v1/collaborations", json={**body, "coordinator_agent_id": _other_agent(people)}, headers=bobs
        )
        assert accepted.status_code == 201, accepted.text
    finally:
        jarvis.delete_agent(shared)


def test_a_batch_of_facts_naming_adas_agent_is_refused_whole(api_jarvis, jarvis, people) -> None:
    from jarvis.errors import InvalidInput

    ada, bob = people["ada"], people["bob"]
    topic = f"{bob}-batch"
    items = [
        {"topic": topic, "content": "his own", "agent_id": str(people[f"{bob}-agent"])},
        {"topic": topic, "content": "tied to hers", "agent_id": str(people[f"{ada}-agent"])},
    ]
    with acting_as(bob), pytest.raises(InvalidInput) as refused:
        api_jarvis.add_knowledge_many(items)
    assert refused.value.field == "items[1].agent_id"
    with jarvis.stores.postgres.pool.connection() as conn:
        assert conn.execute("SELECT count(*) FROM knowledge WHERE topic = %s", (topic,)).fetchone() == (0,)


def test_postgresql_refuses_bobs_event_about_adas_agent_without_the_facade(settings, people) -> None:
    """Migration 025: the policy, not only the facade, keeps the forged event out."""
    import psycopg

    ada, bob = people["ada"], people["bob"]
    insert = "INSERT INTO system_events (event_type, severity, source, agent_id, task_id, message) VALUES (%s, %s, %s, %s, %s, %s)"
    with psycopg.connect(settings.api_postgres_conninfo) as conn:
        conn.execute(
            "SELECT set_config('app.current_user', %s, true), set_config('app.all_users', 'off', true)", (bob,)
        )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(insert, ("alert", "critical", "bob", people[f"{ada}-agent"], people[f"{bob}-task"], "forged"))
    with psycopg.connect(settings.api_postgres_conninfo) as conn:  # his own agent and task: allowed
        conn.execute(
            "SELECT set_config('app.current_user', %s, true), set_config('app.all_users', 'off', true)", (bob,)
        )
        conn.execute(insert, ("alert", "info", "bob", people[f"{bob}-agent"], people[f"{bob}-task"], "his own"))
        conn.rollback()


def test_an_event_about_a_shared_agent_names_a_task_of_the_writer(jarvis, api, make_key, people) -> None:
    """Without a task, nobody bound to a user could read such an event back (row-level security
    shows a user events about its own agents or its tasks): refused naming task_id, not a 403."""
    bob = people["bob"]
    bobs = make_key("read", "write", user=bob)
    shared = str(jarvis.register_agent(name=f"{bob}-shared", type="crewai")["id"])
    try:
        event = {"event_type": "note", "source": "bob", "message": "about the shared agent", "agent_id": shared}
        refused = api.post("/api/v1/events", json=event, headers=bobs)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["field"] == "task_id"
        accepted = api.post("/api/v1/events", json={**event, "task_id": str(people[f"{bob}-task"])}, headers=bobs)
        assert accepted.status_code == 201, accepted.text
    finally:
        jarvis.delete_agent(shared)


def test_a_batch_naming_a_recording_outside_the_users_folder_is_refused_whole(api, make_key, people) -> None:
    bob = people["bob"]
    bobs = make_key("read", "write", user=bob)
    session = f"{bob}-voice-{uuid.uuid4().hex[:6]}"
    turn = {"session_id": session, "role": "user", "content": "x", "message_type": "voice"}
    refused = api.post(
        "/api/v1/conversations/messages/batch",
        json={"messages": [{**turn, "audio_file_path": f"{bob}/a.wav"}, {**turn, "audio_file_path": "ada/b.wav"}]},
        headers=bobs,
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["field"] == "messages[1].audio_file_path"
    assert api.get(f"/api/v1/conversations/{session}", headers=bobs).json() == []


def test_a_user_who_requested_tasks_can_forget_themselves(jarvis, api, api_jarvis, make_key) -> None:
    """The erasure detaches the tasks they requested (migration 029: as a definer function, which
    the API's user role could not do by an UPDATE its own policy refuses)."""
    carol = f"ref{uuid.uuid4().hex[:8]}-carol"
    key = make_key("read", "write", user=carol)
    with acting_as(carol):
        api_jarvis.upsert_user(id=carol, name=carol)
        task = api_jarvis.create_task(name=f"{carol}-task", type="chat", requested_by=carol)
    with jarvis.stores.postgres.pool.connection() as conn:  # done, so it stays (unassigned, nobody's)
        conn.execute("UPDATE tasks SET status = 'completed' WHERE id = %s", (task["id"],))
    forgotten = api.delete(f"/api/v1/users/{carol}", headers=key)
    assert forgotten.status_code == 200, forgotten.text
    with jarvis.stores.postgres.pool.connection() as conn:
        assert conn.execute("SELECT requested_by FROM tasks WHERE id = %s", (task["id"],)).fetchone() == (None,)
        assert conn.execute("SELECT count(*) FROM users WHERE id = %s", (carol,)).fetchone() == (0,)
        conn.execute("DELETE FROM tasks WHERE id = %s", (task["id"],))  # tasks are never deleted: by hand,
    jarvis.stores.get(StoreName.NEO4J).delete_nodes("Task", [str(task["id"])])  # in both stores
