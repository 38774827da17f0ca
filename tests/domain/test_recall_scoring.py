"""Recall scores a memory stream: relevance, recency and importance, with weights a call may change."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from jarvis.errors import InvalidInput


@pytest.fixture
def remembering(jarvis, name):
    agent = jarvis.register_agent(name=f"{name}-letta", type="letta")
    yield agent["id"]
    jarvis.terminate_agent(agent["id"])


def test_recall_weighs_relevance_recency_and_importance(jarvis, remembering) -> None:
    agent = remembering
    same = "The customer asked for the invoice to be sent by post."
    jarvis.put_memory(agent_id=agent, memory_type="recall", key="older", value=same, importance=0.9)
    jarvis.put_memory(agent_id=agent, memory_type="recall", key="newer", value=same, importance=0.1)
    jarvis.put_memory(
        agent_id=agent, memory_type="core", key="unrelated", value="Ada climbs on Sundays.", importance=1.0
    )
    by_default = jarvis.recall(agent, "how does the customer want the invoice", limit=3)
    assert [m["key"] for m in by_default][:2] == ["older", "newer"]  # equally relevant: importance decides
    assert {"relevance", "recency", "importance", "score"} <= set(by_default[0])
    assert by_default[0]["relevance"] > by_default[2]["relevance"]
    by_recency = jarvis.recall(
        agent, "how does the customer want the invoice", limit=2, weights={"importance": 0, "recency": 1}
    )
    assert [m["key"] for m in by_recency] == ["newer", "older"]
    later = datetime.now(timezone.utc) + timedelta(days=7)
    faded = jarvis.recall(agent, "how does the customer want the invoice", limit=1, now=later)[0]
    assert faded["recency"] == pytest.approx(0.5, abs=0.01)  # one half-life later (7 days by default)
    by_importance_alone = jarvis.recall(
        agent,
        "how does the customer want the invoice",
        limit=1,
        weights={"relevance": 0, "recency": 0, "importance": 1},
    )
    assert by_importance_alone[0]["key"] == "unrelated"


def test_recall_counts_each_returned_memory_as_read(jarvis, remembering) -> None:
    agent = remembering
    jarvis.put_memory(agent_id=agent, memory_type="core", key="tea", value="Ada drinks green tea.")
    jarvis.recall(agent, "what does Ada drink", limit=1)
    jarvis.access_counts.flush()
    assert jarvis.get_memory(agent, "core", "tea")["access_count"] == 2  # the recall, then this read


def test_bad_weights_are_refused_naming_the_field(jarvis, remembering) -> None:
    for weights, field in (
        ({"relevance": -1}, "weights.relevance"),
        ({"novelty": 1}, "weights.novelty"),
        ({"recency": "high"}, "weights.recency"),
    ):
        with pytest.raises(InvalidInput) as refused:
            jarvis.recall(remembering, "anything", weights=weights)
        assert refused.value.field == field
    with pytest.raises(InvalidInput) as refused:
        jarvis.recall(remembering, "anything", half_life_hours=0)
    assert refused.value.field == "half_life_hours"


def test_the_api_takes_recall_weights(api, make_key, jarvis, remembering) -> None:
    headers = make_key("read", "write")
    jarvis.put_memory(agent_id=remembering, memory_type="core", key="style", value="Prefers haiku over sonnets.")
    ok = api.post(
        f"/api/v1/memory/{remembering}/recall",
        headers=headers,
        json={"query": "what poems are liked", "weights": {"recency": 0.5}, "half_life_hours": 24},
    )
    assert ok.status_code == 200 and ok.json()[0]["key"] == "style"
    bad = api.post(
        f"/api/v1/memory/{remembering}/recall", headers=headers, json={"query": "x", "weights": {"recency": 11}}
    )
    assert bad.status_code == 422 and "recency" in bad.text
