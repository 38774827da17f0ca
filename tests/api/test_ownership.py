"""Ada and Bob each hold a key bound to themselves. Bob tries every way into Ada's data over a
real HTTP server — list, get by id, search (one scope and several), live events, the inbox,
memory — and every one is refused or empty, while the same calls DO return Bob's own data.
He cannot write anything in Ada's name either."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from websockets.sync.client import connect as websocket_connect

from jarvis import local
from jarvis.api.server import running_server
from jarvis.domain.search import SCOPES
from jarvis.errors import Forbidden
from jarvis.principal import acting_as
from jarvis.search_filters import SearchFilter


@pytest.fixture(scope="module")
def server(settings, api_jarvis):
    with running_server(settings, jarvis=api_jarvis, run_projector=False) as url:
        yield url


@dataclass
class Person:
    user: str
    client: httpx.Client
    agent: str = ""
    task: str = ""
    session: str = ""
    secret: str = ""


def _ok(response: httpx.Response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture(scope="module")
def people(server, make_key):
    """Ada and Bob, each with a user row, a preference, a conversation, an agent with a memory,
    a task, a message in the agent's inbox and a system event about the agent."""
    import uuid

    tag = f"own{uuid.uuid4().hex[:8]}"
    found: dict[str, Person] = {}
    details = {
        "ada": (
            "bank PIN hidden behind the blue door on Elm street",
            "prefers jasmine tea at dawn",
            "the vault code is 4471",
        ),
        "bob": ("Bob keeps his jazz records in the attic", "prefers loud trumpet music", "the bike lock is 9912"),
    }
    for short, (said, prefers, secret) in details.items():
        user = f"{tag}-{short}"
        client = httpx.Client(base_url=server, headers=make_key("read", "write", user=user), timeout=60)
        person = Person(user=user, client=client, session=f"{user}-s", secret=secret)
        _ok(client.put(f"/api/v1/users/{user}", json={"name": short.title()}))
        _ok(
            client.post(
                f"/api/v1/users/{user}/preferences", json={"preference_type": "interface", "description": prefers}
            ),
            201,
        )
        _ok(
            client.post(
                "/api/v1/conversations/messages", json={"session_id": person.session, "role": "user", "content": said}
            ),
            201,
        )
        agent = _ok(client.post("/api/v1/agents", json={"name": f"{user}-helper", "type": "letta"}), 201)
        assert agent["owner_user_id"] == user  # a bound key's agent is its user's
        person.agent = agent["id"]
        _ok(client.put(f"/api/v1/memory/{person.agent}/core/secret", json={"value": secret}))
        task = _ok(client.post("/api/v1/tasks", json={"name": f"{user}-errand", "type": "chat"}), 201)
        assert task["requested_by"] == user
        person.task = task["id"]
        _ok(client.post(f"/api/v1/messages/{person.agent}/{person.agent}", json={"note": f"for {short} only"}), 202)
        _ok(
            client.post(
                "/api/v1/events",
                json={"event_type": "note", "source": tag, "message": f"{short} event", "agent_id": person.agent},
            ),
            201,
        )
        found[short] = person
    yield found["ada"], found["bob"]
    for person in found.values():
        person.client.post(f"/api/v1/messages/{person.agent}/{person.agent}/receive")  # drain the inbox
        person.client.close()


def test_bob_cannot_create_a_task_requested_by_ada(people) -> None:
    ada, bob = people
    refused = bob.client.post("/api/v1/tasks", json={"name": "in ada's name", "type": "chat", "requested_by": ada.user})
    assert refused.status_code == 403 and refused.json()["error"]["field"] == "requested_by"
    own = _ok(bob.client.post("/api/v1/tasks", json={"name": "his own", "type": "chat", "requested_by": bob.user}), 201)
    assert own["requested_by"] == bob.user


def test_bob_cannot_write_anything_in_adas_name(people) -> None:
    ada, bob = people
    attempts = [
        ("post", "/api/v1/agents", {"name": f"{ada.user}-fake", "type": "letta", "owner_user_id": ada.user}, 403),
        ("put", f"/api/v1/users/{ada.user}", {"name": "Mallory"}, 403),
        ("post", f"/api/v1/users/{ada.user}/preferences", {"preference_type": "agent", "description": "x"}, 403),
        ("put", f"/api/v1/users/{ada.user}/prefers/{bob.agent}", None, 403),
        (
            "post",
            "/api/v1/conversations/messages",
            {"session_id": "x", "role": "user", "content": "hi", "user_id": ada.user},
            403,
        ),
        ("post", "/api/v1/conversations/messages", {"session_id": ada.session, "role": "user", "content": "hi"}, 403),
        ("put", f"/api/v1/memory/{ada.agent}/core/secret", {"value": "overwritten"}, 404),
        ("delete", f"/api/v1/memory/{ada.agent}/core/secret", None, 404),
        ("post", f"/api/v1/messages/{ada.agent}/{bob.agent}", {"forged": True}, 403),
        ("post", f"/api/v1/agents/{ada.agent}/heartbeat", {"status": "error"}, 404),
        ("patch", f"/api/v1/agents/{ada.agent}/configuration", {"evil": True}, 404),
        ("delete", f"/api/v1/agents/{ada.agent}", None, 404),
        # her agent is one he cannot see: refused as an agent that does not exist (no probing)
        ("post", "/api/v1/events", {"event_type": "x", "source": "x", "message": "x", "agent_id": ada.agent}, 422),
        ("post", f"/api/v1/tasks/{ada.task}/cancel", None, 404),
        ("put", f"/api/v1/tasks/{ada.task}/agent/{bob.agent}", None, 404),
        ("post", "/api/v1/tasks/dequeue", {"worker": "bob-worker"}, 403),
    ]
    for method, path, body, status in attempts:
        response = bob.client.request(method, path, json=body)
        assert response.status_code == status, (method, path, response.text)
    # and nothing changed on Ada's side
    assert _ok(ada.client.get(f"/api/v1/memory/{ada.agent}/core/secret"))["value"] == ada.secret
    assert _ok(ada.client.get(f"/api/v1/agents/{ada.agent}"))["status"] == "active"
    assert _ok(ada.client.get(f"/api/v1/tasks/{ada.task}"))["status"] == "pending"
    assert [m["content"] for m in _ok(ada.client.get(f"/api/v1/conversations/{ada.session}"))] == [
        "bank PIN hidden behind the blue door on Elm street"
    ]


def test_bob_gets_nothing_of_adas_by_id_or_in_lists(people) -> None:
    ada, bob = people
    for path in (
        f"/api/v1/tasks/{ada.task}",
        f"/api/v1/agents/{ada.agent}",
        f"/api/v1/agents/{ada.agent}/collaborations",
    ):
        assert bob.client.get(path).status_code == 404, path
    assert _ok(bob.client.get(f"/api/v1/tasks/{bob.task}"))["requested_by"] == bob.user
    assert _ok(bob.client.get(f"/api/v1/agents/{bob.agent}"))["owner_user_id"] == bob.user
    agents = [a["id"] for a in _ok(bob.client.get("/api/v1/agents", params={"limit": 1000}))]
    assert bob.agent in agents and ada.agent not in agents
    assert _ok(bob.client.get(f"/api/v1/conversations/{ada.session}")) == []
    assert len(_ok(bob.client.get(f"/api/v1/conversations/{bob.session}"))) == 1
    assert _ok(bob.client.get("/api/v1/conversations/search", params={"q": "blue door Elm"})) == []
    assert len(_ok(ada.client.get("/api/v1/conversations/search", params={"q": "blue door Elm"}))) == 1
    events = _ok(bob.client.get("/api/v1/events", params={"limit": 1000}))
    assert {e["agent_id"] for e in events} == {bob.agent}  # his own event, none of Ada's
    assert ada.agent in {e["agent_id"] for e in _ok(ada.client.get("/api/v1/events", params={"limit": 1000}))}


def test_bob_cannot_read_adas_memory_even_when_it_is_cached(people) -> None:
    ada, bob = people
    path = f"/api/v1/memory/{ada.agent}/core/secret"
    assert _ok(ada.client.get(path))["value"] == ada.secret  # now in the Redis cache
    refused = bob.client.get(path)
    assert refused.status_code == 404 and ada.secret not in refused.text
    assert bob.client.post(f"/api/v1/memory/{ada.agent}/recall", json={"query": "vault code"}).status_code == 404
    assert _ok(bob.client.get(f"/api/v1/memory/{bob.agent}/core/secret"))["value"] == bob.secret
    recalled = _ok(bob.client.post(f"/api/v1/memory/{bob.agent}/recall", json={"query": "bike lock"}))
    assert [m["value"] for m in recalled] == [bob.secret]


def test_bob_cannot_empty_or_read_adas_inbox(people) -> None:
    ada, bob = people
    assert bob.client.post(f"/api/v1/messages/{ada.agent}/{ada.agent}/receive").status_code == 404
    mine = _ok(bob.client.post(f"/api/v1/messages/{bob.agent}/{bob.agent}/receive"))
    assert [m["message"] for m in mine] == [{"note": "for bob only"}]
    hers = _ok(ada.client.post(f"/api/v1/messages/{ada.agent}/{ada.agent}/receive"))
    assert [m["message"] for m in hers] == [{"note": "for ada only"}]  # still there after Bob's try
    _ok(ada.client.post(f"/api/v1/messages/{ada.agent}/{ada.agent}", json={"note": "for ada only"}), 202)


@pytest.mark.parametrize(
    "scopes", [["conversations"], ["preferences"], ["memory"], ["conversations", "preferences", "memory", "knowledge"]]
)
def test_bobs_searches_find_his_data_and_never_adas(people, scopes) -> None:
    ada, bob = people
    query = "door bank vault code tea jazz trumpet bike lock"

    def found(person: Person, agent: str) -> list[dict]:
        # agent_id filters every scope with agents (and the memory scope needs one): named only for memory
        ask = {"query": query, "scopes": scopes, "limit": 100, **({"agent_id": agent} if "memory" in scopes else {})}
        body = _ok(person.client.post("/api/v1/search", json=ask))
        return [hit for hit in body["results"] if hit["scope"] in ("conversations", "preferences", "memory")]

    bobs = found(bob, bob.agent)
    assert bobs, "Bob must find his own data"
    for hit in bobs:
        owner = hit["item"].get("user_id") or hit["item"].get("agent_id")
        assert owner in (bob.user, bob.agent), hit
    theirs = found(bob, ada.agent)  # Bob names Ada's agent for the memory scope
    assert not [
        hit for hit in theirs if hit["item"].get("user_id") == ada.user or hit["item"].get("agent_id") == ada.agent
    ]
    assert any(
        hit["item"].get("user_id") == ada.user or hit["item"].get("agent_id") == ada.agent
        for hit in found(ada, ada.agent)
    )
    asked_for_ada = bob.client.post(
        "/api/v1/search", json={"query": query, "scopes": scopes, "user_id": ada.user, "agent_id": bob.agent}
    )
    assert asked_for_ada.status_code == 403


def test_with_chroma_and_qdrant_down_the_pgvector_fallback_keeps_each_to_their_own(people, settings) -> None:
    ada, bob = people
    local.down(settings, ["chroma", "qdrant"])
    try:
        for person in (bob, ada):
            body = _ok(
                person.client.post(
                    "/api/v1/search",
                    json={
                        "query": "door bank tea jazz trumpet",
                        "scopes": ["conversations", "preferences"],
                        "limit": 100,
                    },
                )
            )
            assert body["degraded"] == ["chroma", "qdrant"]
            assert {hit["item"]["user_id"] for hit in body["results"]} == {person.user}
            assert {hit["scope"] for hit in body["results"]} == {"conversations", "preferences"}
    finally:
        local.up(settings, ["chroma", "qdrant"])


def test_the_vector_stores_themselves_are_asked_for_the_owners_points_only(people, api_jarvis, jarvis) -> None:
    ada, bob = people
    vector = api_jarvis.embedder.embed("bank door jazz records", field="query")
    for who in (bob, ada):
        where = SearchFilter().owned_by(who.user).chroma_where(SCOPES["conversations"].able, now=datetime.now(UTC))
        ids = [
            hit_id
            for hit_id, _ in api_jarvis.stores.get("chroma").query(
                "conversations", vector.tolist(), limit=50, where=where
            )
        ]
        assert ids, "the owner's own conversation is found"
        with jarvis.stores.postgres.pool.connection() as conn:  # as the owner: every user's rows
            owners = {
                row[0] for row in conn.execute("SELECT user_id FROM conversations WHERE id = ANY(%s::uuid[])", (ids,))
            }
        assert owners == {who.user}
    owned = SearchFilter().owned_by(bob.user).qdrant_conditions(SCOPES["preferences"].able, now=datetime.now(UTC))
    points = api_jarvis.stores.get("qdrant").query("user_preferences", vector, limit=50, conditions=owned)
    assert points and {payload["user_id"] for _, _, payload in points} == {bob.user}


def test_the_facade_enforces_the_same_rules_without_http(people, api_jarvis) -> None:
    ada, bob = people
    with acting_as(bob.user):
        with pytest.raises(Forbidden) as refused:
            api_jarvis.create_task(name="x", type="chat", requested_by=ada.user)
        assert refused.value.field == "requested_by"
        assert api_jarvis.get_session(ada.session) is None
        assert api_jarvis.get_session(bob.session)["user_id"] == bob.user
        assert api_jarvis.owned(agent_ids=[ada.agent, bob.agent], task_ids=[ada.task, bob.task]) == {
            bob.agent,
            bob.task,
        }
    with acting_as(ada.user):
        assert api_jarvis.get_session(ada.session)["user_id"] == ada.user


def _listen(
    url: str,
    key: str,
    *,
    subscribed: threading.Event,
    until: str,
    count: int,
    received: list[dict],
    seconds: float = 30.0,
) -> None:
    """Collect what the socket delivers until *count* events naming agent *until* arrived."""
    with websocket_connect(url, additional_headers={"X-API-Key": key}, open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10)) == {"subscribed": ["status_update"]}
        subscribed.set()
        deadline = time.monotonic() + seconds
        while sum(e["data"].get("agent_id") == until for e in received) < count:
            received.append(json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic()))))


def test_the_live_socket_delivers_a_bound_key_only_its_users_events(people, server, make_key) -> None:
    ada, bob = people
    url = server.replace("http://", "ws://") + "/api/v1/live?channels=status_update"
    listeners = {
        "bob": (bob.client.headers["X-API-Key"], bob.agent),
        "ada": (ada.client.headers["X-API-Key"], ada.agent),
        "service": (make_key("read")["X-API-Key"], bob.agent),
    }
    received: dict[str, list[dict]] = {who: [] for who in listeners}
    ready = {who: threading.Event() for who in listeners}
    threads = [
        threading.Thread(
            target=_listen,
            args=(url, key),
            kwargs={"subscribed": ready[who], "until": until, "count": 2, "received": received[who]},
        )
        for who, (key, until) in listeners.items()
    ]
    for thread in threads:
        thread.start()
    assert all(event.wait(timeout=20) for event in ready.values())  # pub/sub has no history: subscribe first
    for person in (ada, bob, ada, bob):  # each socket's own events arrive after the other user's
        _ok(person.client.post(f"/api/v1/agents/{person.agent}/heartbeat", json={"status": "active"}))
    for thread in threads:
        thread.join(timeout=40)
    named = {who: [e["data"].get("agent_id") for e in events] for who, events in received.items()}
    assert named["bob"].count(bob.agent) == 2 and ada.agent not in named["bob"]
    assert named["ada"].count(ada.agent) == 2 and bob.agent not in named["ada"]
    assert named["service"].count(ada.agent) == 2 and named["service"].count(bob.agent) == 2  # a service key: all


def test_bob_browsing_agents_sees_no_lock_token_and_no_running_task(people, api_jarvis, jarvis) -> None:
    ada, bob = people
    token = "worker-7:5f1c0ffee5f1c0ffee"
    assert jarvis.stores.redis.locks.acquire(bob.agent, token)
    try:
        jarvis.heartbeat(bob.agent, status="active", current_task=ada.task)
        with acting_as(bob.user):
            board = api_jarvis.browse_agents(limit=1000)
        mine = next(a for a in board["agents"] if a["id"] == bob.agent)
        assert mine["locked"] is True and mine["lock_worker"] == "worker-7"
        assert mine["live_status"]["status"] == "active" and "current_task" not in mine["live_status"]
        assert token.split(":")[1] not in json.dumps(board) and ada.task not in json.dumps(board)
        service = next(a for a in jarvis.browse_agents(limit=1000)["agents"] if a["id"] == bob.agent)
        assert service["live_status"]["current_task"] == ada.task and "lock_holder" not in service
    finally:
        jarvis.stores.redis.locks.release(bob.agent, token)


def test_a_shared_agents_partners_leave_out_other_users_private_agents(people, server, api_jarvis, jarvis) -> None:
    ada, bob = people
    shared = jarvis.register_agent(name=f"{bob.user}-shared-lead", type="crewai")
    assert shared["owner_user_id"] is None
    jarvis.start_collaboration(
        coordinator_agent_id=shared["id"],
        participant_agent_ids=[ada.agent, bob.agent],
        collaboration_type="parallel",
        workflow={"steps": ["split"]},
    )
    with acting_as(bob.user):
        assert [p["id"] for p in api_jarvis.collaboration_history(shared["id"])] == [bob.agent]
    with acting_as(ada.user):
        assert [p["id"] for p in api_jarvis.collaboration_history(shared["id"])] == [ada.agent]
    assert {p["id"] for p in jarvis.collaboration_history(shared["id"])} == {ada.agent, bob.agent}
    over_http = _ok(bob.client.get(f"/api/v1/agents/{shared['id']}/collaborations"))
    assert ada.agent not in json.dumps(over_http) and bob.agent in json.dumps(over_http)
