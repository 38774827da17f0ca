"""The steps every erasure is made of, shared by the facade's erasures and by retention.

A step runs inside the caller's PostgreSQL transaction (rows as dicts): it deletes (or detaches) rows and
returns an :class:`Erasure` — per store, how many items it removed (the receipt's
``removed``); per store, what to look for afterwards (ids, Redis keys, key patterns: the
receipt's ``erased``); the outbox events that make Neo4j, Chroma, Qdrant and Redis' caches
follow; what only the commit may trigger (recordings to unlink, API keys to revoke); and the
user the receipt belongs to.
After the commit, :func:`finish_redis` removes the Redis keys and :func:`left_in` queries a
store directly for anything of it that remains (and finishes Redis first, if Redis was down
at the commit). Whoever erases — ``forget_user``, ``delete_agent``, ``delete_session``,
``delete_preference`` or ``jarvis retention`` — erases through these same steps.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import psycopg

from jarvis.connections import Stores
from jarvis.domain.base import Base
from jarvis.errors import StoreError
from jarvis.outbox import Event
from jarvis.projection.entities import MEMORY_ENTITY
from jarvis.stores import redis_keys as keys
from jarvis.stores.base import CacheStore

#: store -> group (collection, label, or a Redis group below) -> ids, key names or patterns.
Erased = dict[str, dict[str, list[str]]]
#: The Redis groups of ``erased["redis"]``: exact key names; SCAN patterns; task ids taken out
#: of the queues; users whose ``session:*`` entries go (found by the user id they hold).
REDIS_KEYS, REDIS_PATTERNS, REDIS_QUEUED_TASKS, REDIS_SESSIONS_OF = "keys", "patterns", "queued_tasks", "sessions_of"
#: Ids per request when the final check asks a store by id (or Redis deletes by name).
CHECK_SLICE = 5000

DELETE_USER_CONVERSATIONS = (
    "DELETE FROM conversations WHERE user_id = %s RETURNING id::text, session_id, audio_file_path"
)
DELETE_SESSION = (
    "DELETE FROM conversations WHERE session_id = %s RETURNING id::text, session_id, audio_file_path, user_id"
)
DELETE_USER_PREFERENCES = "DELETE FROM user_preferences WHERE user_id = %s RETURNING id::text"
DELETE_PREFERENCE = (
    "DELETE FROM user_preferences WHERE id = %s AND (%s::text IS NULL OR user_id = %s) RETURNING id::text, user_id"
)
DELETE_USER_STORE_ITEMS = "DELETE FROM langgraph_items WHERE owner = %s RETURNING key"
OWNED_AGENTS = "SELECT id::text FROM agents WHERE owner_user_id = %s ORDER BY id FOR UPDATE"
#: The user's unfinished tasks: nobody works for a forgotten user (their queue entries go too).
CANCEL_REQUESTED_TASKS = """
UPDATE tasks SET status = 'cancelled', lease_token = NULL, lease_expires_at = NULL
WHERE requested_by = %s AND status IN ('pending', 'running') RETURNING id::text
"""
#: As a definer function (migration 029): row-level security would refuse a user-bound caller
#: the new row, whose requester is no longer its user.
FORGET_TASK_REQUESTER = "SELECT jarvis_forget_task_requester(%s)"
DELETE_USER = "DELETE FROM users WHERE id = %s RETURNING id"

#: The agent, locked, and its owner (the erasure receipt's owner).
LOCK_AGENT = "SELECT owner_user_id FROM agents WHERE id = %s FOR UPDATE"
DELETE_AGENT_CAPABILITIES = "DELETE FROM agent_capabilities WHERE agent_id = %s RETURNING id::text"
DELETE_AGENT_MEMORY = "DELETE FROM agent_memory WHERE agent_id = %s RETURNING agent_id::text, memory_type, key"
#: The array of participants has no foreign key: the agent leaves it here. Every row that names
#: the agent in a column (tasks, messages, knowledge, snippets, events, metrics, logs, a
#: collaboration's coordinator — every user's, whatever row-level security lets the caller see)
#: is detached by PostgreSQL when the agent row goes (migrations/019_erasure_foreign_keys.sql).
LEAVE_COLLABORATIONS = (
    "UPDATE agent_collaborations SET participant_agent_ids = array_remove(participant_agent_ids, %(id)s) "
    "WHERE %(id)s = ANY(participant_agent_ids)"
)
#: The outbox sequence before the agent's delete: the detached rows' events come after it. (Read
#: from the sequence, not as ``max(id)``: row-level security shows a user-bound key only its
#: own events, migration 023.)
LAST_EVENT = "SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS id FROM outbox_id_seq"
#: The outbox events PostgreSQL queued for the rows (every user's) the delete detached — 019's
#: unlinked turns, facts and snippets, 024's task patterns that listed the agent —, adopted by
#: the erasure: projected with its own events right after the commit, not 10 s later by the
#: background loop. They are service-only rows (migration 023): a user-bound key learns their
#: ids and nothing else, and the projector reads them acting for every user.
ADOPT_DETACHED = "SELECT jarvis_detached_events(%(agent)s::uuid, %(after)s) AS id"
DELETE_AGENT = "DELETE FROM agents WHERE id = %s RETURNING id::text"


@dataclass
class Erasure:
    """What one erasure removes, and what it leaves for after the commit."""

    removed: dict[str, dict[str, int]] = field(default_factory=dict)
    erased: Erased = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    #: ``audio_file_path`` of deleted voice messages: unlinked after the commit.
    recordings: list[str] = field(default_factory=list)
    #: Users whose API keys are revoked after the commit (the API's user role cannot see keys).
    revoke_keys_of: list[str] = field(default_factory=list)
    #: Ids of outbox events already queued (by PostgreSQL's triggers, for rows the erasure
    #: detached) that are projected with the erasure's own events after the commit.
    adopted: list[int] = field(default_factory=list)
    #: The user the receipt belongs to (``erasure_receipts.owner_user_id``); None: service keys
    #: only. Set by the step of the whole subject, never merged from a part (``+=``).
    owner: str | None = None

    def count(self, store: str, what: str, n: int) -> Erasure:
        if n:
            self.removed.setdefault(store, {})
            self.removed[store][what] = self.removed[store].get(what, 0) + n
        return self

    def expect_gone(self, store: str, group: str, items: Iterable[str]) -> Erasure:
        items = list(items)
        if items:
            self.erased.setdefault(store, {}).setdefault(group, []).extend(items)
        return self

    def __iadd__(self, other: Erasure) -> Erasure:
        for store, counts in other.removed.items():
            for what, n in counts.items():
                self.count(store, what, n)
        for store, groups in other.erased.items():
            for group, items in groups.items():
                self.expect_gone(store, group, items)
        self.events += other.events
        self.recordings += other.recordings
        self.revoke_keys_of += other.revoke_keys_of
        self.adopted += other.adopted
        return self


# -- steps over rows already deleted (retention's partitions) or deleted here -------------------
def messages(rows: list[dict]) -> Erasure:
    """Conversation rows (id, session_id, audio_file_path) gone from PostgreSQL: their Chroma
    documents follow through the outbox, their recordings after the commit."""
    ids = [r["id"] for r in rows]
    done = Erasure(
        events=[Event("conversation", i, "delete") for i in ids],
        recordings=[r["audio_file_path"] for r in rows if r["audio_file_path"]],
    )
    return (
        done.count("postgres", "conversations", len(ids))
        .count("chroma", "conversations", len(ids))
        .expect_gone("chroma", "conversations", ids)
    )


def sessions(session_ids: Iterable[str]) -> Erasure:
    """The Redis side of whole sessions: ``session:{id}`` and ``voice:buffer:{id}``."""
    wanted = sorted(set(session_ids))
    return (
        Erasure()
        .count("redis", "sessions", len(wanted))
        .expect_gone("redis", REDIS_KEYS, [k for s in wanted for k in (keys.session(s), keys.voice_buffer(s))])
    )


def memories(rows: list[dict]) -> Erasure:
    """Agent memory rows (agent_id, memory_type, key) gone: their Redis read cache follows."""
    triples = [(r["agent_id"], r["memory_type"], r["key"]) for r in rows]
    return (
        Erasure(events=[Event(MEMORY_ENTITY, "|".join(t), "delete") for t in triples])
        .count("postgres", "agent_memory", len(triples))
        .expect_gone("redis", REDIS_KEYS, [keys.memory_cache(*t) for t in triples])
    )


def preferences(ids: list[str]) -> Erasure:
    return (
        Erasure(events=[Event("user_preference", i, "delete") for i in ids])
        .count("postgres", "user_preferences", len(ids))
        .count("qdrant", "user_preferences", len(ids))
        .expect_gone("qdrant", "user_preferences", ids)
    )


def edges_of(conn: psycopg.Connection, label: str, node_id: str) -> Erasure:
    """Delete every edge row touching the node (each gets its own outbox event)."""
    events = Base._drop_edges_of(conn, label, node_id)
    return (
        Erasure(events=events)
        .count("postgres", "graph_edges", len(events))
        .count("neo4j", "relationships", len(events))
    )


# -- whole subjects -----------------------------------------------------------------------------
def session(conn: psycopg.Connection, session_id: str) -> Erasure:
    """One conversation session: its messages everywhere and its Redis keys (empty if none)."""
    rows = conn.execute(DELETE_SESSION, (session_id,)).fetchall()
    if not rows:
        return Erasure()
    done = messages(rows)
    done += sessions([session_id])
    owners = {r["user_id"] for r in rows}
    done.owner = owners.pop() if len(owners) == 1 else None  # several users' (or nobody's): services only
    return done


def preference(conn: psycopg.Connection, preference_id: str, *, user_id: str | None) -> Erasure:
    rows = conn.execute(DELETE_PREFERENCE, (preference_id, user_id, user_id)).fetchall()
    done = preferences([r["id"] for r in rows])
    done.owner = rows[0]["user_id"] if rows else None
    return done


def agent(conn: psycopg.Connection, agent_id: str) -> Erasure:
    """An agent: capabilities (Qdrant), memory (and its cache), graph node and edges, status,
    lock, messages to and from it, metrics it is the source of. Rows that outlive it
    (knowledge, snippets, messages, tasks) lose the link. Empty if there is no such agent."""
    locked = conn.execute(LOCK_AGENT, (agent_id,)).fetchone()
    if locked is None:
        return Erasure()
    done = edges_of(conn, "Agent", agent_id)
    done.owner = locked["owner_user_id"]  # None: a shared agent
    capabilities = [_first(r) for r in conn.execute(DELETE_AGENT_CAPABILITIES, (agent_id,)).fetchall()]
    done += memories(conn.execute(DELETE_AGENT_MEMORY, (agent_id,)).fetchall())
    conn.execute(LEAVE_COLLABORATIONS, {"id": agent_id})
    after = conn.execute(LAST_EVENT).fetchone()["id"]
    conn.execute(DELETE_AGENT, (agent_id,))
    done.adopted += [r["id"] for r in conn.execute(ADOPT_DETACHED, {"after": after, "agent": agent_id}).fetchall()]
    done.events += [
        *(Event("agent_capability", c, "delete") for c in capabilities),
        Event("agent", agent_id, "delete"),
    ]
    return (
        done.count("postgres", "agents", 1)
        .count("postgres", "agent_capabilities", len(capabilities))
        .count("qdrant", "agent_capabilities", len(capabilities))
        .count("neo4j", "nodes", 1)
        .expect_gone("qdrant", "agent_capabilities", capabilities)
        .expect_gone("neo4j", "Agent", [agent_id])
        .expect_gone("redis", REDIS_KEYS, [keys.agent_status(agent_id), keys.agent_lock(agent_id)])
        .expect_gone("redis", REDIS_PATTERNS, keys.keys_of_agent(agent_id))
    )


def user(conn: psycopg.Connection, user_id: str) -> Erasure:
    """A user: conversations (and recordings), preferences, store items, sessions, the User node
    and its edges, the agents they own (each as :func:`agent`), their unfinished tasks
    (cancelled, out of the queues; finished ones lose the requester), and — after the commit —
    their API keys and those keys' rate-limit counters. Empty if nothing of theirs exists."""
    rows = conn.execute(DELETE_USER_CONVERSATIONS, (user_id,)).fetchall()
    done = messages(rows)
    done += sessions(r["session_id"] for r in rows)
    done += preferences([_first(r) for r in conn.execute(DELETE_USER_PREFERENCES, (user_id,)).fetchall()])
    done.count("postgres", "store_items", len(conn.execute(DELETE_USER_STORE_ITEMS, (user_id,)).fetchall()))
    for owned in [_first(r) for r in conn.execute(OWNED_AGENTS, (user_id,)).fetchall()]:
        done += agent(conn, owned)
    done += edges_of(conn, "User", user_id)
    cancelled = [_first(r) for r in conn.execute(CANCEL_REQUESTED_TASKS, (user_id,)).fetchall()]
    done.events += [Event("task", t) for t in cancelled]
    done.count("postgres", "tasks_cancelled", len(cancelled)).expect_gone("redis", REDIS_QUEUED_TASKS, cancelled)
    conn.execute(FORGET_TASK_REQUESTER, (user_id,))
    if conn.execute(DELETE_USER, (user_id,)).fetchone() is not None:
        done.events.append(Event("user", user_id, "delete"))
        done.count("postgres", "users", 1).count("neo4j", "nodes", 1).expect_gone("neo4j", "User", [user_id])
    done.expect_gone("redis", REDIS_SESSIONS_OF, [user_id])
    done.revoke_keys_of.append(user_id)
    done.owner = user_id
    return done


def _first(row: dict) -> str:
    return next(iter(row.values()))


# -- after the commit ---------------------------------------------------------------------------
def left_in(stores: Stores, erased: Erased, *, finish: bool = True) -> dict[str, int | None]:
    """The final check, per store of *erased* but PostgreSQL: how many of the items are still
    there, asked of the store itself (with *finish*, Redis is finished first, in case it missed
    the commit's step); None for a store that is down now (the outbox completes it when it returns)."""
    remaining: dict[str, int | None] = {}
    for store, groups in erased.items():
        if store == "postgres" or not any(groups.values()):
            continue
        try:
            remaining[store] = _left_in(
                stores, store, {name: items for name, items in groups.items() if items}, finish=finish
            )
        except StoreError:
            remaining[store] = None
    return remaining


def _left_in(stores: Stores, store: str, groups: dict[str, list[str]], *, finish: bool) -> int:
    if store == "redis":
        if finish:
            finish_redis(stores.redis, groups)
        return left_in_redis(stores.redis, groups)
    # Neo4j by label and node key, Chroma and Qdrant by collection and id: each asked only for
    # the items in question, in slices (retention may check many thousands), never listing all.
    client = stores.get(store)
    left = 0
    for group, items in groups.items():
        wanted = list(dict.fromkeys(items))  # each item counted once, whichever slice it is in
        left += sum(len(client.present(group, wanted[i : i + CHECK_SLICE])) for i in range(0, len(wanted), CHECK_SLICE))
    return left


def finish_redis(redis: CacheStore, groups: dict[str, list[str]]) -> int:
    """Remove from Redis everything *groups* names; returns how many keys or queue entries
    went. Idempotent: a receipt's check runs it again when Redis was down at the commit."""
    gone = redis.queues.forget(groups.get(REDIS_QUEUED_TASKS, []))
    named = list(groups.get(REDIS_KEYS, []))
    for pattern in groups.get(REDIS_PATTERNS, []):
        named += redis.keys_matching(pattern)
    named += redis.sessions_of(groups.get(REDIS_SESSIONS_OF, []))
    for i in range(0, len(named), CHECK_SLICE):
        gone += redis.delete_keys(*named[i : i + CHECK_SLICE])
    return gone


def left_in_redis(redis: CacheStore, groups: dict[str, list[str]]) -> int:
    """How many of the keys, pattern matches, sessions and queue entries *groups* names Redis
    still holds (asked directly: EXISTS, SCAN, and the queues' own contents)."""
    named = groups.get(REDIS_KEYS, [])
    left = sum(redis.count_keys(*named[i : i + CHECK_SLICE]) for i in range(0, len(named), CHECK_SLICE))
    left += sum(len(redis.keys_matching(pattern)) for pattern in groups.get(REDIS_PATTERNS, []))
    left += len(redis.sessions_of(groups.get(REDIS_SESSIONS_OF, [])))
    if groups.get(REDIS_QUEUED_TASKS):
        left += len(redis.queues.known_task_ids() & set(groups[REDIS_QUEUED_TASKS]))
    return left
