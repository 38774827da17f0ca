"""A fact that changes is superseded, not deleted: search and traversal see what is true now,
and ``as_of`` asks what was true then. Times are given, never waited for."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from jarvis import local
from jarvis.errors import InvalidInput

MOVED = datetime(2026, 1, 15, tzinfo=timezone.utc)


@pytest.fixture
def office(jarvis, name):
    """Ada's office was in Leeds; from MOVED on it is in York (the new fact supersedes the old)."""
    agent = jarvis.register_agent(name=f"{name}-registrar", type="letta")
    old = jarvis.add_knowledge(
        topic=f"{name}-office",
        content="Ada's office is in Leeds.",
        agent_id=agent["id"],
        valid_from=MOVED - timedelta(days=365),
    )
    new = jarvis.add_knowledge(
        topic=f"{name}-office",
        content="Ada's office is in York.",
        agent_id=agent["id"],
        valid_from=MOVED,
        supersedes=old["id"],
    )
    yield agent["id"], old, new
    for item in (new, old):
        jarvis.delete_knowledge(item["id"])
    jarvis.terminate_agent(agent["id"])


def _ids(found: dict) -> list[str]:
    return [hit["id"] for hit in found["results"]]


def test_superseding_closes_the_old_fact_instead_of_deleting_it(jarvis, office) -> None:
    agent, old, new = office
    assert new["supersedes"] == old["id"] and new["lagging"] == []
    for mode in ("hybrid", "vector", "keyword"):
        now = jarvis.search(query="where is Ada's office", scopes=["knowledge"], agent_id=agent, mode=mode)
        assert _ids(now) == [new["id"]], mode
        then = jarvis.search(
            query="where is Ada's office",
            scopes=["knowledge"],
            agent_id=agent,
            mode=mode,
            as_of=MOVED - timedelta(days=1),
        )
        assert _ids(then) == [old["id"]], mode
        at_the_move = jarvis.search(
            query="where is Ada's office", scopes=["knowledge"], agent_id=agent, mode=mode, as_of=MOVED
        )
        assert _ids(at_the_move) == [new["id"]], mode  # valid_to is exclusive, valid_from inclusive
    before_anything = jarvis.search(
        query="where is Ada's office", scopes=["knowledge"], agent_id=agent, as_of=MOVED - timedelta(days=400)
    )
    assert before_anything["results"] == []


def test_the_postgres_fallback_applies_validity_alike(jarvis, settings, office) -> None:
    agent, old, new = office
    local.down(settings, ["chroma"])
    try:
        now = jarvis.search(query="where is Ada's office", scopes=["knowledge"], agent_id=agent)
        then = jarvis.search(
            query="where is Ada's office", scopes=["knowledge"], agent_id=agent, as_of=MOVED - timedelta(days=1)
        )
    finally:
        local.up(settings, ["chroma"])
    assert now["degraded"] == ["chroma"] and _ids(now) == [new["id"]]
    assert _ids(then) == [old["id"]]


def test_traversal_follows_the_same_rule(jarvis, name, office) -> None:
    agent, old, new = office
    start = jarvis.add_knowledge(
        topic=f"{name}-ada", content="Ada is the team's statistician.", valid_from=MOVED - timedelta(days=730)
    )
    try:
        jarvis.relate_knowledge(start["id"], old["id"])
        jarvis.relate_knowledge(start["id"], new["id"])
        now = jarvis.traverse_knowledge(f"{name}-ada", max_hops=1)
        assert [r["id"] for r in now] == [new["id"]]
        then = jarvis.traverse_knowledge(f"{name}-ada", max_hops=1, as_of=MOVED - timedelta(days=1))
        assert [r["id"] for r in then] == [old["id"]]
    finally:
        jarvis.delete_knowledge(start["id"])


def test_the_api_supersedes_and_asks_as_of(api, make_key, name) -> None:
    headers = make_key("read", "write")
    first = api.post(
        "/api/v1/knowledge",
        headers=headers,
        json={
            "topic": f"{name}-rate",
            "content": f"The {name} base rate is 4 percent.",
            "valid_from": "2025-01-01T00:00:00Z",
        },
    )
    assert first.status_code == 201, first.text
    second = api.post(
        "/api/v1/knowledge",
        headers=headers,
        json={
            "topic": f"{name}-rate",
            "content": f"The {name} base rate is 5 percent.",
            "valid_from": "2025-06-01T00:00:00Z",
            "supersedes": first.json()["id"],
        },
    )
    assert second.status_code == 201, second.text
    try:
        ask = {"query": f"{name} base rate", "scopes": ["knowledge"], "mode": "keyword"}
        now = api.post("/api/v1/search", headers=headers, json=ask).json()
        assert [h["id"] for h in now["results"]] == [second.json()["id"]]
        then = api.post("/api/v1/search", headers=headers, json={**ask, "as_of": "2025-03-01T00:00:00Z"}).json()
        assert [h["id"] for h in then["results"]] == [first.json()["id"]]
        earlier = api.post(
            "/api/v1/knowledge",
            headers=headers,
            json={
                "topic": f"{name}-rate",
                "content": "x",
                "valid_from": "2024-01-01T00:00:00Z",
                "supersedes": second.json()["id"],
            },
        )
        assert earlier.status_code == 422 and "valid_from" in earlier.text
    finally:
        for item in (second, first):
            api.delete(f"/api/v1/knowledge/{item.json()['id']}", headers=make_key("read", "write"))


def test_bad_validity_is_refused_before_anything_is_written(jarvis, name) -> None:
    with pytest.raises(InvalidInput) as refused:
        jarvis.add_knowledge(topic=f"{name}-x", content="x", valid_from=MOVED, valid_to=MOVED)
    assert refused.value.field == "valid_to"
    with pytest.raises(InvalidInput) as refused:
        jarvis.add_knowledge(topic=f"{name}-x", content="x", supersedes="00000000-0000-0000-0000-000000000000")
    assert refused.value.field == "supersedes"


@pytest.mark.parametrize("lookahead", [10, 0])
def test_the_nearest_facts_superseded_do_not_crowd_out_the_valid_one(jarvis, name, monkeypatch, lookahead) -> None:
    """Chroma is asked without the validity condition for a few more neighbours than wanted; when
    too few of them are valid (none looked ahead: the nearest may be superseded), it is asked
    again with the condition."""
    from jarvis.domain import search

    monkeypatch.setattr(search, "VALIDITY_LOOKAHEAD", lookahead)
    agent = jarvis.register_agent(name=f"{name}-historian", type="letta")
    made = []
    try:
        for city in ("Leeds", "Hull", "Bath"):  # each move supersedes the last
            made.append(
                jarvis.add_knowledge(
                    topic=f"{name}-office",
                    content=f"Ada's office is in {city}.",
                    agent_id=agent["id"],
                    valid_from=MOVED + timedelta(days=len(made)),
                    supersedes=made[-1]["id"] if made else None,
                )
            )
        valid = made[-1]["id"]
        for limit in (1, 2, 5):
            found = jarvis.search(
                query="Ada's office", scopes=["knowledge"], agent_id=agent["id"], mode="vector", limit=limit
            )
            # if this fails, the message says whether a write's projection lagged (a store timed out)
            assert _ids(found) == [valid], (limit, found, [m["lagging"] for m in made])
        first = jarvis.search(
            query="Ada's office", scopes=["knowledge"], agent_id=agent["id"], mode="vector", limit=1, as_of=MOVED
        )
        assert _ids(first) == [made[0]["id"]]
    finally:
        for item in reversed(made):
            jarvis.delete_knowledge(item["id"])
        jarvis.terminate_agent(agent["id"])


def test_a_vector_search_checks_valid_now_at_hydration_and_asks_again_when_too_few_are(jarvis, name) -> None:
    """Chroma is asked without "valid now" (a filter it evaluates over every item) and expired
    facts are dropped here; when the nearest hits are all expired, it is asked again with the
    filter: never an expired fact, never too few."""
    from jarvis.domain.search import VALIDITY_LOOKAHEAD

    word = f"zorblax{name[-6:]}"
    expired = [
        jarvis.add_knowledge(
            topic=f"{name}-old-{i}",
            content=f"The {word} quokka slept in burrow {i}.",
            valid_from=datetime(2020, 1, 1, tzinfo=timezone.utc),
            valid_to=datetime(2021, 1, 1, tzinfo=timezone.utc),
        )
        for i in range(VALIDITY_LOOKAHEAD + 3)
    ]
    current = jarvis.add_knowledge(topic=f"{name}-now", content=f"These days the {word} quokka sleeps in a hollow log.")
    others = [
        jarvis.add_knowledge(topic=f"{name}-other-{i}", content=f"The {word} quokka {doing}.")
        for i, doing in enumerate(
            [
                "eats leaves at dusk",
                "drinks from the creek",
                "hops along the fence",
                "smiles at tourists",
                "hides from foxes",
            ]
        )
    ]
    try:
        found = jarvis.search(query=f"where does the {word} quokka sleep", scopes=["knowledge"], mode="vector", limit=1)
        assert _ids(found) == [current["id"]]
        found = jarvis.search(query=f"where does the {word} quokka sleep", scopes=["knowledge"], mode="vector", limit=5)
        assert set(_ids(found)) <= {current["id"], *(o["id"] for o in others)} and len(found["results"]) == 5
    finally:
        for item in (*expired, current, *others):
            jarvis.delete_knowledge(item["id"])


def test_ghosts_of_a_lagging_projection_are_looked_past_without_chroma_filter(jarvis, name, monkeypatch) -> None:
    """Chroma may still hold facts PostgreSQL no longer has (a delete not yet projected): they
    are never returned, and the search looks deeper past them rather than asking Chroma with its
    validity filter (which would return the same ghosts, a hundred times slower)."""
    import uuid

    from jarvis.domain import search

    word = f"wombat{name[-6:]}"
    question = f"where does the {word} sleep"
    kept = jarvis.add_knowledge(topic=f"{name}-now", content=f"These days the {word} sleeps under the shed.")
    chroma = jarvis.stores.get("chroma")
    ghosts = [str(uuid.uuid4()) for _ in range(search.VALIDITY_LOOKAHEAD + 3)]
    nearest = jarvis.embedder.embed(question).tolist()
    chroma.upsert(
        "knowledge_base",
        ids=ghosts,
        embeddings=[nearest] * len(ghosts),
        documents=[f"The {word} ghost {i}." for i in range(len(ghosts))],
        metadatas=[{"category": "ghost"}] * len(ghosts),
    )
    strict: list[object] = []
    monkeypatch.setattr(search.SearchMixin, "_strictly_nearest", lambda self, *asked: strict.append(asked) or [])
    try:
        found = jarvis.search(query=question, scopes=["knowledge"], mode="vector", limit=1)
        assert _ids(found) == [kept["id"]]
        assert strict == []
        found = jarvis.search(query=question, scopes=["knowledge"], limit=1)  # hybrid: the same
        assert _ids(found) == [kept["id"]]
    finally:
        chroma.delete("knowledge_base", ghosts)
        jarvis.delete_knowledge(kept["id"])
