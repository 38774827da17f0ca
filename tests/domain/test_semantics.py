"""Agents find things by meaning: paraphrases that share no content words still match."""

from __future__ import annotations


def test_knowledge_is_found_by_a_paraphrase_sharing_no_content_words(jarvis, name) -> None:
    wanted = jarvis.add_knowledge(
        topic=f"{name}-photosynthesis",
        category="biology",
        source="textbook",
        content="Plants convert sunlight, water and carbon dioxide into glucose and oxygen.",
    )
    other = jarvis.add_knowledge(topic=f"{name}-tides", content="The moon's gravity pulls the oceans, causing tides.")
    try:
        assert wanted["lagging"] == []
        found = jarvis.search(query="how do green leaves make food from light", scopes=["knowledge"], limit=5)
        assert found["degraded"] == []
        assert found["results"][0]["id"] == wanted["id"]
        assert found["results"][0]["item"]["topic"] == f"{name}-photosynthesis"
    finally:
        jarvis.delete_knowledge(wanted["id"])
        jarvis.delete_knowledge(other["id"])


def test_a_memory_is_recalled_by_meaning_within_its_agent_only(jarvis, name) -> None:
    agent = jarvis.register_agent(name=f"{name}-letta", type="letta")
    other = jarvis.register_agent(name=f"{name}-other", type="letta")
    jarvis.put_memory(agent_id=agent["id"], memory_type="core", key="drink", value="Ada always orders green tea.")
    jarvis.put_memory(agent_id=agent["id"], memory_type="recall", key="trip", value="Last summer she hiked in Norway.")
    jarvis.put_memory(agent_id=other["id"], memory_type="core", key="drink", value="Bob drinks espresso.")
    recalled = jarvis.recall(agent["id"], "which beverage does the customer like", limit=2)
    assert [m["key"] for m in recalled][0] == "drink"
    assert {m["agent_id"] for m in recalled} == {agent["id"]}
    scoped = jarvis.search(query="which beverage does the customer like", scopes=["memory"], agent_id=agent["id"])
    assert scoped["results"][0]["item"]["value"] == "Ada always orders green tea."


def test_best_agent_picks_the_capability_described_in_other_words(jarvis, name) -> None:
    translator = jarvis.register_agent(
        name=f"{name}-translator",
        type="crewai",
        performance_score=0.5,
        capabilities=[{"name": f"{name}-translation", "description": "Translate documents between French and English"}],
    )
    jarvis.register_agent(
        name=f"{name}-coder",
        type="autogpt",
        performance_score=0.9,
        capabilities=[{"name": f"{name}-coding", "description": "Write and debug Python programs"}],
    )
    jarvis.register_agent(
        name=f"{name}-chef",
        type="letta",
        performance_score=0.9,
        capabilities=[{"name": f"{name}-cooking", "description": "Plan weekly meals and grocery lists"}],
    )
    try:
        best = jarvis.best_agent("Render this letter from Paris into the language spoken in London", limit=50)
        # Other tests (and the demo) register translators too; among this test's agents:
        ours = [a for a in best["agents"] if a["name"].startswith(name)]
        assert ours[0]["agent_id"] == translator["id"]
        assert "transl" in best["agents"][0]["matched_capability"]
        with_capability = jarvis.best_agent("anything at all", capability=f"{name}-translation")
        assert [a["agent_id"] for a in with_capability["agents"]] == [translator["id"]]
    finally:
        for agent in jarvis.list_agents(limit=1000):
            if agent["name"].startswith(name):
                jarvis.terminate_agent(agent["id"])  # terminated agents are never candidates


def test_search_merges_scopes_and_hydrates_rows(jarvis, name) -> None:
    snippet = jarvis.add_code_snippet(
        language="python",
        purpose="reverse a linked list",
        content="def reverse(head):\n    prev = None\n    while head: head.next, prev, head = prev, head, head.next\n    return prev",
    )
    jarvis.add_task_pattern(
        pattern_type=f"{name}-etl",
        description="Extract rows, clean them, load into the warehouse",
        task_sequence=["extract", "transform", "load"],
        success_rate=0.9,
    )
    found = jarvis.search(query="invert the order of nodes in a singly linked chain", scopes=["code", "task_patterns"])
    assert found["results"][0]["scope"] == "code"
    assert found["results"][0]["item"]["content"] == snippet["content"]
    assert "embedding" not in found["results"][0]["item"]


def test_a_batch_of_knowledge_lands_in_every_store_at_once(jarvis, name) -> None:
    added = jarvis.add_knowledge_many(
        [{"topic": f"{name}-{i}", "content": f"Batch fact {i} about {name}."} for i in range(64)]
    )
    assert added["count"] == 64 and added["lagging"] == []
    assert set(added["ids"]) <= jarvis.stores.get("chroma").ids("knowledge_base")
    assert set(added["ids"]) <= jarvis.stores.get("neo4j").node_keys("Knowledge")
    for item_id in added["ids"]:
        jarvis.delete_knowledge(item_id)
