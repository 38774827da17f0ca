"""Erasing an agent, or the user who owns it, is never blocked by other users' rows that name the
agent, and never takes those rows with it: they lose the link (migration 019), and the
projections follow in the same erasure."""

from __future__ import annotations

import pytest

from jarvis.principal import acting_as
from jarvis.projection.maintenance import verify


@pytest.fixture
def synced(jarvis):
    jarvis.sync()
    yield jarvis
    jarvis.sync()


def rows(jarvis, query: str, *args) -> list[tuple]:
    """*query* as the tables' owner (no row-level security): what PostgreSQL really holds."""
    with jarvis.stores.postgres.pool.connection() as conn:
        return conn.execute(query, args).fetchall()


def chroma_agent_ids(jarvis, collection: str, ids: list[str]) -> dict[str, str | None]:
    """The ``agent_id`` each document of *ids* carries in Chroma's metadata."""
    found = jarvis.stores.get("chroma")._call(collection, lambda c: c.get(ids=ids, include=["metadatas"]))
    return {i: (m or {}).get("agent_id") for i, m in zip(found["ids"], found["metadatas"])}


def generated_by(jarvis, fact: str) -> list:
    """The GENERATED_BY relationships of a Knowledge node, and the node's agent_id, in Neo4j."""
    return (
        jarvis.stores.get("neo4j")
        .driver.execute_query(
            "MATCH (k:Knowledge {id: $id}) OPTIONAL MATCH (k)-[r:GENERATED_BY]->() RETURN k.agent_id AS agent, count(r) AS n",
            id=fact,
        )
        .records
    )


def bob_works_with_adas_agent(jarvis, name: str) -> dict:
    """Ada owns an agent; Bob talks to it and has a task assigned to it; the agent wrote a fact
    (written by a service, as the platform does for agents)."""
    ada, bob = f"{name}-ada", f"{name}-bob"
    agent = jarvis.register_agent(name=f"{name}-adas-helper", type="letta", owner_user_id=ada)["id"]
    jarvis.append_message(
        session_id=f"{ada}-s", role="user", content="Ada plans her garden", user_id=ada, agent_id=agent
    )
    turns = [
        jarvis.append_message(session_id=f"{bob}-s", role=role, content=content, user_id=bob, agent_id=agent)["id"]
        for role, content in (
            ("user", "Which wood is best for a violin's soundboard?"),
            ("assistant", "Spruce: light and stiff, it carries the strings' vibration."),
        )
    ]
    task = jarvis.create_task(name=f"{bob}-varnish", type="chat", requested_by=bob, agent_id=agent)["id"]
    fact = jarvis.add_knowledge(
        topic=f"{name}-luthiery", content="Violin soundboards are carved from spruce.", agent_id=agent
    )["id"]
    return {"ada": ada, "bob": bob, "agent": agent, "turns": turns, "task": task, "fact": fact}


def assert_bob_still_has_everything_but_the_link(jarvis, world: dict) -> None:
    agent, bob = world["agent"], world["bob"]
    assert rows(jarvis, "SELECT 1 FROM agents WHERE id = %s", agent) == []
    turns = rows(jarvis, "SELECT id::text, agent_id, content FROM conversations WHERE user_id = %s ORDER BY id", bob)
    assert sorted(t[0] for t in turns) == sorted(world["turns"]) and all(t[1] is None and t[2] for t in turns)
    assert rows(jarvis, "SELECT agent_id, requested_by FROM tasks WHERE id = %s", world["task"]) == [(None, bob)]
    assert rows(jarvis, "SELECT agent_id, content FROM knowledge WHERE id = %s", world["fact"]) == [
        (None, "Violin soundboards are carved from spruce.")
    ]
    # the projections followed, in the erasure itself
    assert chroma_agent_ids(jarvis, "conversations", world["turns"]) == dict.fromkeys(world["turns"])
    assert chroma_agent_ids(jarvis, "knowledge_base", [world["fact"]]) == {world["fact"]: None}
    assert [(r["agent"], r["n"]) for r in generated_by(jarvis, world["fact"])] == [(None, 0)]
    # the events PostgreSQL queued for the detached rows were applied with the erasure; they are
    # about Bob's rows, so they belong to no user (service-only, migration 023), not to the eraser
    detached = rows(
        jarvis,
        "SELECT owner_user_id, cardinality(pending_stores) FROM outbox WHERE payload ->> 'detached_from' = %s",
        agent,
    )
    assert len(detached) >= 3 and set(detached) == {(None, 0)}, detached  # Bob's two turns, the fact
    with acting_as(bob):
        found = jarvis.search(query="wood for a violin soundboard", scopes=["conversations"], limit=10)
    assert set(world["turns"]) <= {hit["id"] for hit in found["results"]}
    assert verify(jarvis.stores) == []


def test_ada_forgets_herself_and_bobs_turns_task_and_the_fact_stay_without_her_agent(synced, api_jarvis, name) -> None:
    """Ada's own key (the API's role: row-level security hides Bob's rows from her) forgets her;
    the agent she owned goes; Bob keeps his turns and his task, the fact stays, all unlinked."""
    jarvis = synced
    world = bob_works_with_adas_agent(jarvis, name)
    agent = world["agent"]
    # not vacuous: every row names the agent, in PostgreSQL and in the projections
    assert (
        len(rows(jarvis, "SELECT 1 FROM conversations WHERE user_id = %s AND agent_id = %s", world["bob"], agent)) == 2
    )
    assert rows(jarvis, "SELECT agent_id::text FROM tasks WHERE id = %s", world["task"]) == [(agent,)]
    assert chroma_agent_ids(jarvis, "conversations", world["turns"]) == dict.fromkeys(world["turns"], agent)
    assert [r["n"] for r in generated_by(jarvis, world["fact"])] == [1]
    with acting_as(world["ada"]):  # what she can see of Bob's: nothing
        assert api_jarvis._all("SELECT id FROM conversations WHERE user_id = %s", (world["bob"],)) == []

    try:
        with acting_as(world["ada"]):
            receipt = api_jarvis.forget_user(world["ada"])
        assert receipt["complete"], receipt
        assert receipt["removed"]["postgres"]["agents"] == 1 and receipt["removed"]["postgres"]["conversations"] == 1
        assert_bob_still_has_everything_but_the_link(jarvis, world)
    finally:
        jarvis.forget_user(world["bob"])


def test_bob_keeps_his_rows_when_ada_or_a_service_erases_the_agent(synced, api_jarvis, name) -> None:
    """The agent erased directly: by its owner's key, and by a service key."""
    jarvis = synced
    by_owner, by_service = bob_works_with_adas_agent(jarvis, name), bob_works_with_adas_agent(jarvis, f"{name}x")
    for world in (by_owner, by_service):  # not vacuous
        assert rows(jarvis, "SELECT count(*) FROM conversations WHERE agent_id = %s", world["agent"]) == [(3,)]
    try:
        with acting_as(by_owner["ada"]):
            assert api_jarvis.delete_agent(by_owner["agent"])["complete"]
        assert_bob_still_has_everything_but_the_link(jarvis, by_owner)
        assert jarvis.delete_agent(by_service["agent"])["complete"]
        assert_bob_still_has_everything_but_the_link(jarvis, by_service)
        assert rows(jarvis, "SELECT count(*) FROM conversations WHERE user_id = %s", by_owner["ada"]) == [(1,)]
    finally:
        for world in (by_owner, by_service):
            jarvis.forget_user(world["ada"])
            jarvis.forget_user(world["bob"])
