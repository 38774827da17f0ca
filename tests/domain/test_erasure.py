"""Erasure everywhere, with a receipt: after it, a direct query of each of the five stores
finds nothing of the subject's, and other subjects' data is untouched."""

from __future__ import annotations

import pytest

from jarvis import local
from jarvis.stores import redis_keys as keys


@pytest.fixture
def synced(jarvis):
    jarvis.sync()
    yield jarvis
    jarvis.sync()


def a_user_with_a_life(jarvis, user: str, agent: str) -> dict:
    """Conversations in two sessions, preferences, a task, graph edges and vectors."""
    messages = [
        jarvis.append_message(
            session_id=f"{user}-s{s}", role="user", content=f"Hello {i} from {user}", user_id=user, agent_id=agent
        )["id"]
        for s in range(2)
        for i in range(2)
    ]
    preferences = [
        jarvis.add_user_preference(
            user_id=user, preference_type="agent", description=f"{user} likes short answers {i}"
        )["id"]
        for i in range(2)
    ]
    jarvis.user_prefers(user, agent)
    jarvis.create_task(name=f"{user}-task", type="chat", requested_by=user)
    return {"messages": messages, "preferences": preferences, "sessions": [f"{user}-s0", f"{user}-s1"]}


def what_is_left(jarvis, user: str, life: dict) -> dict[str, int]:
    """Each of the five stores, queried directly for anything of *user*'s."""
    with jarvis.stores.postgres.pool.connection() as conn:
        postgres = conn.execute(
            "SELECT (SELECT count(*) FROM conversations WHERE user_id = %(u)s)"
            " + (SELECT count(*) FROM user_preferences WHERE user_id = %(u)s)"
            " + (SELECT count(*) FROM users WHERE id = %(u)s)"
            " + (SELECT count(*) FROM graph_edges WHERE (src_label = 'User' AND src_id = %(u)s)"
            "    OR (dst_label = 'User' AND dst_id = %(u)s))",
            {"u": user},
        ).fetchone()[0]
    chroma = jarvis.stores.get("chroma")
    by_metadata = chroma._call("conversations", lambda c: c.get(where={"user_id": user}, include=[])["ids"])
    neo4j = (
        jarvis.stores.get("neo4j")
        .driver.execute_query(
            "OPTIONAL MATCH (u:User {id: $u}) OPTIONAL MATCH (u)-[r]-() RETURN count(DISTINCT u) + count(r) AS n",
            u=user,
        )
        .records[0]["n"]
    )
    return {
        "postgres": postgres,
        "chroma": len(chroma.present("conversations", life["messages"])) + len(by_metadata),
        "qdrant": len(jarvis.stores.get("qdrant").ids("user_preferences") & set(life["preferences"])),
        "neo4j": neo4j,
        "redis": jarvis.stores.redis.conn.exists(*(keys.session(s) for s in life["sessions"])),
    }


NOTHING = {"postgres": 0, "chroma": 0, "qdrant": 0, "neo4j": 0, "redis": 0}


def test_forget_user_leaves_nothing_of_theirs_in_any_store_and_others_keep_theirs(synced, name) -> None:
    jarvis = synced
    agent = jarvis.register_agent(name=f"{name}-helper", type="letta")["id"]
    forgotten, kept = f"{name}-ada", f"{name}-bob"
    life, other = a_user_with_a_life(jarvis, forgotten, agent), a_user_with_a_life(jarvis, kept, agent)
    assert all(what_is_left(jarvis, forgotten, life)[store] > 0 for store in NOTHING)  # not vacuous

    receipt = jarvis.forget_user(forgotten)
    assert receipt["complete"] and receipt["lagging"] == [] and receipt["remaining"] == NOTHING
    assert receipt["removed"]["postgres"]["conversations"] == 4 and receipt["removed"]["qdrant"] == {
        "user_preferences": 2
    }
    assert what_is_left(jarvis, forgotten, life) == NOTHING
    assert all(what_is_left(jarvis, kept, other)[store] > 0 for store in NOTHING)
    assert jarvis.erasure_receipt(receipt["id"])["complete"]


def test_an_erasure_with_chroma_down_lists_it_as_lagging_and_completes_when_it_returns(synced, settings, name) -> None:
    jarvis = synced
    user = f"{name}-cleo"
    life = a_user_with_a_life(jarvis, user, jarvis.register_agent(name=f"{name}-a", type="letta")["id"])
    local.down(settings, ["chroma"])
    try:
        receipt = jarvis.forget_user(user)
        assert not receipt["complete"] and "chroma" in receipt["lagging"]
        assert receipt["remaining"]["chroma"] is None and receipt["remaining"]["qdrant"] == 0
    finally:
        local.up(settings, ["chroma"])
    jarvis.sync()  # the projector, as the server's loop does on its own
    again = jarvis.erasure_receipt(receipt["id"])
    assert again["complete"] and again["remaining"] == NOTHING
    assert what_is_left(jarvis, user, life) == NOTHING


def test_delete_agent_removes_its_capabilities_memory_node_edges_and_caches(synced, name) -> None:
    jarvis = synced
    agent = jarvis.register_agent(
        name=f"{name}-gone",
        type="letta",
        capabilities=[{"name": f"{name}-cap", "description": "Summarise long reports"}],
    )["id"]
    other = jarvis.register_agent(name=f"{name}-stays", type="letta")["id"]
    jarvis.put_memory(agent_id=agent, memory_type="core", key="k", value="something to forget")
    jarvis.get_memory(agent, "core", "k")  # cached in Redis
    fact = jarvis.add_knowledge(topic=f"{name}-t", content="Knowledge outlives its author.", agent_id=agent)
    jarvis.start_collaboration(
        coordinator_agent_id=agent, participant_agent_ids=[other], collaboration_type="parallel", workflow={}
    )
    capability_points = {p for p in jarvis.stores.get("qdrant").ids("agent_capabilities")}

    receipt = jarvis.delete_agent(agent)
    assert receipt["complete"], receipt
    graph = (
        jarvis.stores.get("neo4j")
        .driver.execute_query("OPTIONAL MATCH (a:Agent {id: $id}) RETURN count(a) AS n", id=agent)
        .records[0]["n"]
    )
    assert graph == 0
    with jarvis.stores.postgres.pool.connection() as conn:
        assert conn.execute("SELECT count(*) FROM agent_capabilities WHERE agent_id = %s", (agent,)).fetchone()[0] == 0
        assert conn.execute("SELECT agent_id FROM knowledge WHERE id = %s", (fact["id"],)).fetchone()[0] is None
    assert len(capability_points - jarvis.stores.get("qdrant").ids("agent_capabilities")) == 1
    assert jarvis.stores.redis.conn.exists(keys.agent_status(agent), keys.memory_cache(agent, "core", "k")) == 0
    assert jarvis.get_agent(other)["name"] == f"{name}-stays"


def test_delete_a_session_and_a_preference(synced, name) -> None:
    jarvis = synced
    user = f"{name}-dan"
    life = a_user_with_a_life(jarvis, user, jarvis.register_agent(name=f"{name}-a", type="letta")["id"])
    session = jarvis.delete_session(life["sessions"][0])
    assert session["complete"] and session["removed"]["postgres"] == {"conversations": 2}
    assert len(jarvis.conversation_history(life["sessions"][1])) == 2
    preference = jarvis.delete_preference(life["preferences"][0], user_id=user)
    assert preference["complete"]
    assert life["preferences"][0] not in jarvis.stores.get("qdrant").ids("user_preferences")
    assert life["preferences"][1] in jarvis.stores.get("qdrant").ids("user_preferences")


def test_the_final_check_counts_what_comes_back_under_an_erased_id(synced, name) -> None:
    """The check asks Neo4j, Chroma and Qdrant for the erased ids themselves: a node, a document
    or a point written back under one of them is counted, and the receipt is not complete."""
    jarvis = synced
    user = f"{name}-eve"
    life = a_user_with_a_life(jarvis, user, jarvis.register_agent(name=f"{name}-a", type="letta")["id"])
    receipt = jarvis.forget_user(user)
    assert receipt["complete"] and receipt["remaining"] == NOTHING
    graph, chroma, qdrant = (jarvis.stores.get(store) for store in ("neo4j", "chroma", "qdrant"))
    message, preference = life["messages"][0], life["preferences"][0]
    graph.upsert_nodes("User", [{"key": user, "props": {}}])
    chroma.upsert(
        "conversations", ids=[message], embeddings=[[0.1] * 384], documents=["back"], metadatas=[{"user_id": user}]
    )
    qdrant.upsert("user_preferences", [(preference, [0.1] * 384, {})])
    try:
        again = jarvis.erasure_receipt(receipt["id"], finish=False)
        assert again["remaining"] == {**NOTHING, "neo4j": 1, "chroma": 1, "qdrant": 1}, again
        assert again["lagging"] == ["chroma", "neo4j", "qdrant"] and not again["complete"]
    finally:
        graph.delete_nodes("User", [user])
        chroma.delete("conversations", [message])
        qdrant.delete("user_preferences", [preference])
    assert jarvis.erasure_receipt(receipt["id"])["complete"]


def key_id(jarvis, headers: dict[str, str]) -> str:
    prefix = headers["X-API-Key"].split("_")[1]
    with jarvis.stores.postgres.pool.connection() as conn:
        return conn.execute("SELECT id::text FROM api_keys WHERE prefix = %s", (prefix,)).fetchone()[0]


def test_a_service_key_erases_a_user_only_with_the_admin_scope(api, make_key, jarvis, name) -> None:
    user = f"{name}-gil"
    jarvis.append_message(session_id=f"{user}-s", role="user", content="hi", user_id=user)
    users_admin_key = make_key("read", "write", "admin", user=user)
    refused = api.delete(f"/api/v1/users/{user}", headers=make_key("read", "write"))
    assert refused.status_code == 403 and "admin" in refused.json()["error"]["message"]
    assert api.get(f"/api/v1/conversations/{user}-s", headers=users_admin_key).status_code == 200  # nothing erased
    erased = api.delete(f"/api/v1/users/{user}", headers=make_key("admin"))
    assert erased.status_code == 200, erased.text
    assert key_id(jarvis, users_admin_key) in erased.json()["revoked_keys"]
    assert api.get(f"/api/v1/conversations/{user}-s", headers=users_admin_key).status_code == 401  # revoked


def test_forget_user_over_http_and_from_the_command_line(synced, api, make_key, jarvis_cli, name) -> None:
    """The user's own key forgets them; the receipt names the keys it revoked, which then answer
    401, and their rate-limit counters are gone from Redis."""
    jarvis = synced
    user, other = f"{name}-eve", f"{name}-fay"
    jarvis.append_message(session_id=f"{user}-s", role="user", content="hi", user_id=user)
    jarvis.append_message(session_id=f"{other}-s", role="user", content="hi", user_id=other)
    own_key, second_key, admin = make_key("read", "write", user=user), make_key("read", user=user), make_key("admin")
    assert api.get(f"/api/v1/conversations/{user}-s", headers=second_key).status_code == 200  # counted in Redis
    assert api.delete(f"/api/v1/users/{other}", headers=own_key).status_code == 403
    erased = api.delete(f"/api/v1/users/{user}", headers=own_key)
    assert erased.status_code == 200 and erased.json()["complete"], erased.text
    assert sorted(erased.json()["revoked_keys"]) == sorted([key_id(jarvis, own_key), key_id(jarvis, second_key)])
    assert api.get(f"/api/v1/conversations/{user}-s", headers=own_key).status_code == 401
    assert api.get(f"/api/v1/conversations/{user}-s", headers=second_key).status_code == 401
    for revoked in erased.json()["revoked_keys"]:
        assert list(jarvis.stores.redis.conn.scan_iter(match=keys.rate_limit(revoked, "*"))) == []
    again = api.get(f"/api/v1/erasures/{erased.json()['id']}", headers=admin)
    assert again.status_code == 200 and again.json()["complete"] and again.json()["remaining"]["postgres"] == 0
    result = jarvis_cli("erase", "user", other)
    assert result.returncode == 0 and "erased everywhere" in result.stdout, result.stdout + result.stderr
    assert "api keys  revoked 0" in result.stdout


def test_a_key_bound_to_one_user_erases_only_that_users_data(api_jarvis, name) -> None:
    """Bob cannot forget Ada nor erase her agent; Ada's data is still there afterwards."""
    from jarvis.errors import Forbidden, NotFound
    from jarvis.principal import acting_as

    ada, bob = f"{name}-ada", f"{name}-bob"
    with acting_as(ada):
        api_jarvis.append_message(session_id=f"{ada}-s", role="user", content="Ada's secret plan", user_id=ada)
        agent = api_jarvis.register_agent(name=f"{ada}-helper", type="letta")
    try:
        with acting_as(bob):
            with pytest.raises(Forbidden) as refused:
                api_jarvis.forget_user(ada)
            assert refused.value.field == "user_id"
            with pytest.raises(NotFound):
                api_jarvis.delete_agent(agent["id"])
        with acting_as(ada):
            assert [m["content"] for m in api_jarvis.conversation_history(f"{ada}-s")] == ["Ada's secret plan"]
            assert api_jarvis.get_agent(agent["id"])["id"] == agent["id"]
    finally:
        with acting_as(ada):
            receipt = api_jarvis.forget_user(ada)  # her own agents go with her
            with pytest.raises(NotFound):
                api_jarvis.get_agent(agent["id"])
            assert api_jarvis.erasure_receipt(receipt["id"])["subject_id"] == ada
        with acting_as(bob), pytest.raises(NotFound):  # her receipt is hers alone
            api_jarvis.erasure_receipt(receipt["id"])


def test_each_receipt_belongs_to_the_user_whose_data_it_erased(synced, name) -> None:
    """The user forgotten, the owner of the agent, the user of the session or the preference;
    a shared agent's receipt belongs to nobody (service keys only)."""
    jarvis = synced
    user = f"{name}-hal"
    shared = jarvis.register_agent(name=f"{name}-shared", type="letta")["id"]
    life = a_user_with_a_life(jarvis, user, shared)
    owned = jarvis.register_agent(name=f"{name}-owned", type="letta", owner_user_id=user)["id"]
    receipts = {
        "session": jarvis.delete_session(life["sessions"][0]),
        "preference": jarvis.delete_preference(life["preferences"][0]),
        "owned agent": jarvis.delete_agent(owned),
        "shared agent": jarvis.delete_agent(shared),
        "user": jarvis.forget_user(user),
    }
    with jarvis.stores.postgres.pool.connection() as conn:
        owners = {
            what: conn.execute("SELECT owner_user_id FROM erasure_receipts WHERE id = %s", (r["id"],)).fetchone()[0]
            for what, r in receipts.items()
        }
    assert owners == {"session": user, "preference": user, "owned agent": user, "shared agent": None, "user": user}
