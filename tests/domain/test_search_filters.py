"""Every search filter gives the same answer from the projection as from PostgreSQL with it stopped.

The filters are pushed down — a Chroma ``where``, a Qdrant filter, a SQL clause — so a store
never returns rows the caller did not ask for only to have them dropped after. Each case
asserts the expected ids exactly (never only "nothing else"), from both stores.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from jarvis import local
from jarvis.errors import InvalidInput

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
QUESTION = "where are we going on holiday this summer"


@pytest.fixture
def chats(jarvis, name):
    """Two users' turns about holidays, in two sessions, with an agent, dates and metadata."""
    agent = jarvis.register_agent(name=f"{name}-concierge", type="letta")
    ada, bob = f"{name}-ada", f"{name}-bob"
    turns = {
        "ada-1": dict(
            user_id=ada,
            session_id=f"{name}-s1",
            content="We fly to Lisbon for the summer holiday.",
            created_at=T0,
            metadata={"channel": "email", "n": 1},
        ),
        "ada-2": dict(
            user_id=ada,
            session_id=f"{name}-s1",
            content="The holiday flat in Lisbon has a balcony.",
            created_at=T0 + timedelta(days=1),
            metadata={"channel": "sms"},
            agent_id=agent["id"],
        ),
        "ada-3": dict(
            user_id=ada,
            session_id=f"{name}-s2",
            content="Next summer we might go hiking in Norway.",
            created_at=T0 + timedelta(days=30),
            metadata={"channel": "email", "n": 2},
        ),
        "bob-1": dict(
            user_id=bob,
            session_id=f"{name}-s3",
            content="Bob spends his summer holiday in Crete.",
            created_at=T0 + timedelta(days=2),
            metadata={"channel": "email", "n": 1},
        ),
    }
    ids = {}
    for key, turn in turns.items():
        ids[key] = jarvis.append_message(role="user", **turn)["id"]
    yield ids, ada, bob, agent["id"], name
    jarvis.forget_users([ada, bob])
    jarvis.terminate_agent(agent["id"])


def _cases(ada, bob, agent, name):
    """(filters, expected keys); every case is bounded to this test's users."""
    return [
        ({"user_id": ada}, {"ada-1", "ada-2", "ada-3"}),
        ({"user_id": bob}, {"bob-1"}),
        ({"user_id": ada, "session_id": f"{name}-s1"}, {"ada-1", "ada-2"}),
        ({"user_id": ada, "agent_id": agent}, {"ada-2"}),
        ({"user_id": ada, "created_after": T0 + timedelta(days=1)}, {"ada-2", "ada-3"}),  # inclusive
        ({"user_id": ada, "created_before": T0 + timedelta(days=1)}, {"ada-1"}),  # exclusive
        ({"user_id": ada, "created_after": T0, "created_before": T0 + timedelta(days=2)}, {"ada-1", "ada-2"}),
        ({"user_id": ada, "metadata": {"channel": "email"}}, {"ada-1", "ada-3"}),
        ({"user_id": ada, "metadata": {"channel": "email", "n": 2}}, {"ada-3"}),
        ({"session_id": f"{name}-s3"}, {"bob-1"}),
        ({"session_id": f"{name}-s3", "metadata": {"channel": "sms"}}, set()),
    ]


def _keys(found: dict, ids: dict) -> set[str]:
    by_id = {v: k for k, v in ids.items()}
    return {by_id.get(hit["id"], hit["id"]) for hit in found["results"]}


@pytest.mark.parametrize("mode", ["vector", "hybrid"])
def test_conversation_filters_agree_between_chroma_and_postgres(jarvis, settings, chats, mode) -> None:
    ids, ada, bob, agent, name = chats
    cases = _cases(ada, bob, agent, name)

    def ask():
        return [
            jarvis.search(query=QUESTION, scopes=["conversations"], limit=50, mode=mode, **filters)
            for filters, _ in cases
        ]

    from_chroma = ask()
    local.down(settings, ["chroma"])
    try:
        from_postgres = ask()
    finally:
        local.up(settings, ["chroma"])
    for (filters, expected), up, down in zip(cases, from_chroma, from_postgres):
        assert up["degraded"] == [] and down["degraded"] == ["chroma"]
        assert _keys(up, ids) == expected, filters
        assert _keys(down, ids) == expected, filters


def test_qdrant_filters_agree_with_postgres(jarvis, settings, name) -> None:
    ada, bob = f"{name}-ada", f"{name}-bob"
    jarvis.upsert_user(id=ada)
    jarvis.upsert_user(id=bob)
    mine = jarvis.add_user_preference(user_id=ada, preference_type="agent", description="Prefers terse answers")
    theirs = jarvis.add_user_preference(user_id=bob, preference_type="agent", description="Prefers terse replies")
    agent = jarvis.register_agent(
        name=f"{name}-writer",
        type="crewai",
        capabilities=[{"name": f"{name}-summaries", "description": "Summarise long reports in a few lines"}],
    )
    try:
        created = datetime.fromisoformat(mine["created_at"])
        cases = [
            ("preferences", {"user_id": ada}, {mine["id"]}),
            ("preferences", {"user_id": bob}, {theirs["id"]}),
            ("preferences", {"user_id": ada, "created_after": created}, {mine["id"]}),
            ("preferences", {"user_id": ada, "created_before": created}, set()),
            ("capabilities", {"agent_id": agent["id"]}, None),
        ]

        def ask():
            return [
                jarvis.search(query="short answers please", scopes=[scope], limit=50, **filters)
                for scope, filters, _ in cases
            ]

        from_qdrant = ask()
        local.down(settings, ["qdrant"])
        try:
            from_postgres = ask()
        finally:
            local.up(settings, ["qdrant"])
        for (scope, filters, expected), up, down in zip(cases, from_qdrant, from_postgres):
            assert up["degraded"] == [] and down["degraded"] == ["qdrant"]
            up_ids, down_ids = {h["id"] for h in up["results"]}, {h["id"] for h in down["results"]}
            if expected is None:  # the agent's one capability
                assert {h["item"]["agent_id"] for h in up["results"]} == {agent["id"]} and len(up_ids) == 1
            else:
                assert up_ids == expected, (scope, filters)
            assert down_ids == up_ids, (scope, filters)
    finally:
        jarvis.forget_users([ada, bob])
        jarvis.terminate_agent(agent["id"])


def test_bad_filters_are_refused_naming_the_field(jarvis) -> None:
    for filters, field in (
        ({"metadata": {"nested": {"a": 1}}}, "metadata"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"created_after": T0, "created_before": T0}, "created_before"),
        ({"session_id": "a|b"}, "session_id"),
    ):
        with pytest.raises(InvalidInput) as refused:
            jarvis.search(query="x", scopes=["conversations"], **filters)
        assert refused.value.field.startswith(field), filters
