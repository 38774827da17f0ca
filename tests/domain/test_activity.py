"""Conversations, the knowledge graph, collaborations, models, events, metrics and improvements."""

from __future__ import annotations

import pytest

from jarvis.errors import NotFound


def test_a_conversation_is_kept_in_order_searchable_by_words_and_by_meaning(jarvis, name) -> None:
    agent = jarvis.register_agent(name=f"{name}-assistant", type="letta")
    session = f"{name}-session"
    jarvis.append_message(
        session_id=session,
        user_id=f"{name}-ada",
        role="user",
        agent_id=agent["id"],
        content="My flight to Lisbon got cancelled, can you rebook it?",
    )
    reply = jarvis.append_message(
        session_id=session,
        user_id=f"{name}-ada",
        role="assistant",
        agent_id=agent["id"],
        content="I found a seat on tomorrow's 9am departure.",
        metadata={"sentiment": "positive"},
    )
    assert reply["lagging"] == []
    assert [m["role"] for m in jarvis.conversation_history(session)] == ["user", "assistant"]
    assert jarvis.get_session(session)["user_id"] == f"{name}-ada"
    words = jarvis.search_conversations_text("cancelled flights", user_id=f"{name}-ada")
    assert [m["session_id"] for m in words] == [session]
    meaning = jarvis.search(query="my plane trip was called off", scopes=["conversations"], user_id=f"{name}-ada")
    assert meaning["results"][0]["item"]["content"].startswith("My flight to Lisbon")


def test_knowledge_is_traversed_from_a_topic_up_to_three_hops(jarvis, name) -> None:
    items = [jarvis.add_knowledge(topic=f"{name}-{i}", content=f"Fact number {i} about {name}.") for i in range(5)]
    for a, b in zip(items, items[1:]):
        jarvis.relate_knowledge(a["id"], b["id"])
    reached = jarvis.traverse_knowledge(f"{name}-0", max_hops=3)
    assert [(r["topic"], r["hops"]) for r in reached] == [(f"{name}-1", 1), (f"{name}-2", 2), (f"{name}-3", 3)]
    assert [r["topic"] for r in jarvis.traverse_knowledge(f"{name}-0", max_hops=1)] == [f"{name}-1"]


def test_collaboration_history_counts_each_collaboration(jarvis, name) -> None:
    lead, a, b = (jarvis.register_agent(name=f"{name}-{n}", type="crewai")["id"] for n in ("lead", "a", "b"))
    for _ in range(2):
        jarvis.start_collaboration(
            coordinator_agent_id=lead,
            participant_agent_ids=[a],
            collaboration_type="sequential",
            workflow={"steps": ["draft", "review"]},
        )
    jarvis.start_collaboration(
        coordinator_agent_id=lead,
        participant_agent_ids=[b],
        collaboration_type="parallel",
        workflow={"steps": ["split"]},
    )
    history = jarvis.collaboration_history(lead)
    assert [(h["name"], h["collaboration_count"]) for h in history] == [(f"{name}-a", 2), (f"{name}-b", 1)]


def test_models_count_their_use_and_agents_use_them(jarvis, name) -> None:
    model = jarvis.register_model(name=f"{name}-llama", type="llm", provider="ollama", size_mb=4000)
    agent = jarvis.register_agent(name=f"{name}-user", type="letta")
    jarvis.assign_model(agent["id"], model["id"])
    used = jarvis.record_model_use(model["name"], memory_usage_mb=3900)
    assert used["usage_count"] == 1 and used["last_used"]
    assert jarvis.stores.redis.get_model_cache(model["name"])["memory_usage_mb"] == 3900
    edges = (
        jarvis.stores.get("neo4j")
        .driver.execute_query(
            "MATCH (:Agent {id: $a})-[r:USES_MODEL]->(:Model {id: $m}) RETURN count(r) AS n",
            a=agent["id"],
            m=model["id"],
        )
        .records
    )
    assert edges[0]["n"] == 1


def test_agents_heartbeat_update_their_configuration_and_terminate(jarvis, name) -> None:
    agent = jarvis.register_agent(name=f"{name}-beat", type="autogpt", configuration={"temperature": 0.2})
    jarvis.heartbeat(agent["id"], status="active", current_task="t-1", resource_usage={"cpu": 0.3})
    assert jarvis.get_agent(agent["id"])["live_status"]["current_task"] == "t-1"
    updated = jarvis.update_agent_configuration(agent["id"], {"max_tokens": 512})
    assert updated["configuration"] == {"temperature": 0.2, "max_tokens": 512}
    assert agent["id"] in {a["id"] for a in jarvis.list_agents(type="autogpt", status="active", limit=1000)}
    assert jarvis.terminate_agent(agent["id"])["status"] == "terminated"
    assert jarvis.get_agent(agent["id"])["live_status"] is None


def test_events_metrics_and_improvements(jarvis, name) -> None:
    event = jarvis.log_event(event_type="agent_start", source=name, message="started", severity="warning")
    assert event["severity"] == "warning"
    metric = jarvis.record_metric(metric_type="latency", source=name, value=42.5, unit="ms")
    assert metric["value"] == 42.5 and jarvis.realtime_metric("latency", name)["value"] == 42.5
    improvement = jarvis.log_improvement(improvement_type="optimization", target=f"{name}.py", performance_gain=12.5)
    with pytest.raises(NotFound):
        jarvis.apply_improvement(improvement["id"])
    jarvis.approve_improvement(improvement["id"])
    assert jarvis.apply_improvement(improvement["id"])["applied"] is True


def test_memory_reads_count_use_honour_expiry_and_see_every_write(jarvis, name) -> None:
    from datetime import datetime, timedelta, timezone

    agent = jarvis.register_agent(name=f"{name}-mem", type="letta")["id"]
    jarvis.put_memory(agent_id=agent, memory_type="working", key="focus", value="drafting the report")
    assert jarvis.get_memory(agent, "working", "focus")["access_count"] == 1
    assert jarvis.get_memory(agent, "working", "focus")["access_count"] == 2  # served from the cache, still counted
    jarvis.put_memory(agent_id=agent, memory_type="working", key="focus", value="reviewing the budget")
    assert jarvis.get_memory(agent, "working", "focus")["value"] == "reviewing the budget"
    past = datetime.now(timezone.utc) - timedelta(seconds=1)
    jarvis.put_memory(agent_id=agent, memory_type="working", key="old", value="stale", expires_at=past)
    with pytest.raises(NotFound):
        jarvis.get_memory(agent, "working", "old")
    jarvis.delete_memory(agent, "working", "focus")
    with pytest.raises(NotFound):
        jarvis.get_memory(agent, "working", "focus")


def test_the_facade_reports_every_store_healthy_through_its_own_clients(jarvis) -> None:
    report = jarvis.health()
    assert [h.store for h in report] == ["postgres", "redis", "neo4j", "chroma", "qdrant"]
    assert all(h.up for h in report), report


def test_reading_a_memory_counts_an_access_without_changing_updated_at(jarvis, name) -> None:
    agent = jarvis.register_agent(name=f"{name}-reader", type="letta")["id"]
    written = jarvis.put_memory(agent_id=agent, memory_type="core", key="k", value="v1")
    read = jarvis.get_memory(agent, "core", "k")
    assert read["updated_at"] == written["updated_at"] and read["last_accessed"]
    rewritten = jarvis.put_memory(agent_id=agent, memory_type="core", key="k", value="v2")
    assert rewritten["updated_at"] > written["updated_at"]
