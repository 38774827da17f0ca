"""An erased agent leaves every task pattern's ``optimal_agents`` (migration 024), in PostgreSQL
and in Qdrant's payload, in the same erasure; the other agents listed beside it stay."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress

import pytest

from jarvis.errors import NotFound
from jarvis.principal import acting_as
from jarvis.projection.maintenance import verify


@pytest.fixture
def synced(jarvis) -> Iterator:
    jarvis.sync()
    yield jarvis
    jarvis.sync()


def listed_in_postgres(jarvis, pattern: str) -> list:
    """The pattern's optimal_agents as PostgreSQL holds them (as the owner: no row security)."""
    with jarvis.stores.postgres.pool.connection() as conn:
        return conn.execute("SELECT optimal_agents FROM task_patterns WHERE id = %s", (pattern,)).fetchone()[0]


def listed_in_qdrant(jarvis, pattern: str) -> list:
    """The pattern's optimal_agents in its Qdrant point's payload."""
    found = [payload for key, _, payload in jarvis.stores.get("qdrant").points("task_patterns") if key == pattern]
    assert len(found) == 1, found
    return found[0]["optimal_agents"]


def pending_events_of(jarvis, pattern: str) -> int:
    with jarvis.stores.postgres.pool.connection() as conn:
        return conn.execute(
            "SELECT count(*) FROM outbox WHERE entity = 'task_pattern' AND entity_id = %s "
            "AND cardinality(pending_stores) > 0",
            (pattern,),
        ).fetchone()[0]


def patterns_naming(jarvis, name: str, *, owner: str) -> dict:
    """Ada's agent listed beside a shared agent (by id) and a name, in two patterns: one by its
    id as PostgreSQL writes it, one in capitals."""
    erased = jarvis.register_agent(name=f"{name}-planner", type="letta", owner_user_id=owner)["id"]
    kept = jarvis.register_agent(name=f"{name}-coder", type="letta")["id"]
    patterns = [
        jarvis.add_task_pattern(
            pattern_type=f"{name}-deploy",
            description="build, test, deploy",
            optimal_agents=[spelled, kept, "reviewer"],
        )["id"]
        for spelled in (erased, erased.upper())
    ]
    for pattern, spelled in zip(patterns, (erased, erased.upper())):  # not vacuous: listed everywhere
        assert listed_in_postgres(jarvis, pattern) == [spelled, kept, "reviewer"]
        assert listed_in_qdrant(jarvis, pattern) == [spelled, kept, "reviewer"]
    return {"erased": erased, "kept": kept, "patterns": patterns, "owner": owner}


def cleanup(jarvis, world: dict) -> None:
    for agent in (world["kept"], world["erased"]):  # the erased one too, if the test failed first
        with suppress(NotFound):
            jarvis.delete_agent(agent)


def assert_only_the_erased_agent_left(jarvis, world: dict) -> None:
    for pattern in world["patterns"]:
        assert listed_in_postgres(jarvis, pattern) == [world["kept"], "reviewer"]
        assert listed_in_qdrant(jarvis, pattern) == [world["kept"], "reviewer"]
        assert pending_events_of(jarvis, pattern) == 0


@pytest.mark.parametrize("by", ["owner's key", "service"])
def test_an_erased_agent_leaves_every_task_pattern_the_others_stay(synced, api_jarvis, name, by) -> None:
    jarvis = synced
    world = patterns_naming(jarvis, name, owner=f"{name}-ada")
    try:
        if by == "service":
            receipt = jarvis.delete_agent(world["erased"])
        else:  # the API's user role: row-level security applies to everything it does
            with acting_as(world["owner"]):
                receipt = api_jarvis.delete_agent(world["erased"])
        assert receipt["complete"] and receipt["remaining"]["postgres"] == 0, receipt
        assert_only_the_erased_agent_left(jarvis, world)  # projected by the erasure itself
        assert verify(jarvis.stores) == []
    finally:
        cleanup(jarvis, world)


def test_an_agent_deleted_in_plain_sql_leaves_the_patterns_and_the_outbox_projects_them(synced, name) -> None:
    jarvis = synced
    world = patterns_naming(jarvis, name, owner=f"{name}-ada")
    try:
        with jarvis.stores.postgres.pool.connection() as conn:  # the agent's own event, as a writer records it
            conn.execute("DELETE FROM agents WHERE id = %s", (world["erased"],))
            conn.execute(
                "INSERT INTO outbox (entity, entity_id, operation, pending_stores) VALUES ('agent', %s, 'delete', '{neo4j}')",
                (world["erased"],),
            )
        for pattern in world["patterns"]:
            assert listed_in_postgres(jarvis, pattern) == [world["kept"], "reviewer"]
            assert pending_events_of(jarvis, pattern) == 1  # the background loop's, 10 s later
        jarvis.sync()  # what that loop does
        assert_only_the_erased_agent_left(jarvis, world)
        assert verify(jarvis.stores) == []
    finally:
        cleanup(jarvis, world)
