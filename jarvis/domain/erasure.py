"""Erasure everywhere, with a receipt: a user, an agent, a conversation session, a preference.

An erasure is an ordinary write: one PostgreSQL transaction deletes the rows (graph edges
first, so each gets its outbox event) and records a delete event per projected item, and the
outbox removes them from Neo4j, Chroma and Qdrant; Redis keys go right after the commit. The
receipt lists, per store, what was removed and a final check that none of it remains; a store
that was down is listed as lagging, the projector completes it when it returns, and fetching
the receipt again (:meth:`ErasureMixin.erasure_receipt`) checks again. Retention deletes
through the same outbox path.
"""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from jarvis.domain.base import Written, as_uuid, jsonable
from jarvis.domain.ownership import OwnershipMixin
from jarvis.errors import InvalidInput, NotFound, StoreError
from jarvis.outbox import Event
from jarvis.projection.entities import MEMORY_ENTITY
from jarvis.stores import redis_keys as keys

DELETE_USER_CONVERSATIONS = "DELETE FROM conversations WHERE user_id = %s RETURNING id::text, session_id"
DELETE_USER_PREFERENCES = "DELETE FROM user_preferences WHERE user_id = %s RETURNING id::text"
FORGET_TASK_REQUESTER = "UPDATE tasks SET requested_by = NULL WHERE requested_by = %s"
DELETE_USER = "DELETE FROM users WHERE id = %s RETURNING id"

DELETE_SESSION = "DELETE FROM conversations WHERE session_id = %s RETURNING id::text, session_id"
DELETE_PREFERENCE = "DELETE FROM user_preferences WHERE id = %s AND (%s::text IS NULL OR user_id = %s) RETURNING id::text"

DELETE_AGENT_CAPABILITIES = "DELETE FROM agent_capabilities WHERE agent_id = %s RETURNING id::text"
DELETE_AGENT_MEMORY = "DELETE FROM agent_memory WHERE agent_id = %s RETURNING memory_type, key"
#: Rows that keep existing without the agent: their agent_id goes (and their projections follow).
DETACH_AGENT = {
    "knowledge": "UPDATE knowledge SET agent_id = NULL WHERE agent_id = %s RETURNING id::text",
    "code_snippet": "UPDATE code_snippets SET agent_id = NULL WHERE agent_id = %s RETURNING id::text",
    "conversation": "UPDATE conversations SET agent_id = NULL WHERE agent_id = %s RETURNING id::text",
}
DETACH_AGENT_UNPROJECTED = (
    "UPDATE tasks SET agent_id = NULL WHERE agent_id = %(id)s",
    "UPDATE agent_collaborations SET coordinator_agent_id = NULL WHERE coordinator_agent_id = %(id)s",
    "UPDATE agent_collaborations SET participant_agent_ids = array_remove(participant_agent_ids, %(id)s) "
    "WHERE %(id)s = ANY(participant_agent_ids)",
    "UPDATE system_events SET agent_id = NULL WHERE agent_id = %(id)s",
    "UPDATE performance_metrics SET agent_id = NULL WHERE agent_id = %(id)s",
    "UPDATE improvement_logs SET agent_id = NULL WHERE agent_id = %(id)s",
)
DELETE_AGENT = "DELETE FROM agents WHERE id = %s RETURNING id::text"

INSERT_RECEIPT = """
INSERT INTO erasure_receipts (subject_type, subject_id, removed, erased) VALUES (%s, %s, %s, %s)
RETURNING id::text, requested_at
"""
SELECT_RECEIPT = "SELECT id::text, subject_type, subject_id, removed, erased, requested_at FROM erasure_receipts WHERE id = %s"

#: What a receipt checks afterwards, per store: (collection or label) -> ids.
Erased = dict[str, dict[str, list[str]]]


class ErasureMixin(OwnershipMixin):
    def forget_user(self, user_id: str) -> dict:
        """Erase a user everywhere: conversations, preferences, sessions, the User node and its
        relationships, their vectors in Chroma and Qdrant, their Redis keys. Returns the receipt."""
        if not isinstance(user_id, str) or not user_id.strip():
            raise InvalidInput("user_id", "must be a non-empty string")
        self._own_user(user_id, field="user_id")  # a key bound to one user forgets only that user

        def work(conn):
            messages = conn.execute(DELETE_USER_CONVERSATIONS, (user_id,)).fetchall()
            preferences = conn.execute(DELETE_USER_PREFERENCES, (user_id,)).fetchall()
            edges = self._drop_edges_of(conn, "User", user_id)
            conn.execute(FORGET_TASK_REQUESTER, (user_id,))
            user = conn.execute(DELETE_USER, (user_id,)).fetchone()
            if user is None and not messages and not preferences:
                raise NotFound(f"user {user_id} does not exist")
            sessions = sorted({m["session_id"] for m in messages})
            erased: Erased = {
                "chroma": {"conversations": [m["id"] for m in messages]},
                "qdrant": {"user_preferences": [p["id"] for p in preferences]},
                "neo4j": {"User": [user_id] if user else []},
                "redis": {"keys": [k for s in sessions for k in (keys.session(s), keys.voice_buffer(s))]},
            }
            removed = {"postgres": {"conversations": len(messages), "user_preferences": len(preferences),
                                    "users": int(user is not None), "graph_edges": len(edges)},
                       "chroma": {"conversations": len(messages)}, "qdrant": {"user_preferences": len(preferences)},
                       "neo4j": {"nodes": int(user is not None), "relationships": len(edges)},
                       "redis": {"sessions": len(sessions)}}
            events = [*edges, *(Event("conversation", m["id"], "delete") for m in messages),
                      *(Event("user_preference", p["id"], "delete") for p in preferences)]
            if user:
                events.append(Event("user", user_id, "delete"))
            return self._receipt(conn, "user", user_id, removed, erased), events

        return self._erase(work)

    def delete_session(self, session_id: str) -> dict:
        """Erase one conversation session: its messages (and their Chroma documents) and its Redis keys."""
        if not isinstance(session_id, str) or not session_id.strip():
            raise InvalidInput("session_id", "must be a non-empty string")

        def work(conn):
            messages = conn.execute(DELETE_SESSION, (session_id,)).fetchall()
            if not messages:
                raise NotFound(f"session {session_id} has no messages")
            erased: Erased = {"chroma": {"conversations": [m["id"] for m in messages]},
                              "redis": {"keys": [keys.session(session_id), keys.voice_buffer(session_id)]}}
            removed = {"postgres": {"conversations": len(messages)}, "chroma": {"conversations": len(messages)},
                       "redis": {"sessions": 1}}
            return (self._receipt(conn, "session", session_id, removed, erased),
                    [Event("conversation", m["id"], "delete") for m in messages])

        return self._erase(work)

    def delete_preference(self, preference_id: Any, *, user_id: str | None = None) -> dict:
        """Erase one user preference (and its Qdrant point); with *user_id*, only if it is theirs."""
        key = str(as_uuid(preference_id, "preference_id"))

        def work(conn):
            if conn.execute(DELETE_PREFERENCE, (key, user_id, user_id)).fetchone() is None:
                raise NotFound(f"preference {key} does not exist")
            erased: Erased = {"qdrant": {"user_preferences": [key]}}
            removed = {"postgres": {"user_preferences": 1}, "qdrant": {"user_preferences": 1}}
            return (self._receipt(conn, "preference", key, removed, erased),
                    [Event("user_preference", key, "delete")])

        return self._erase(work)

    def delete_agent(self, agent_id: Any) -> dict:
        """Erase an agent: its capabilities (Qdrant points), memory (and its cache), graph node and
        edges, status cache and lock. Rows that outlive it (knowledge, tasks, messages) lose the link."""
        agent = self._require_own_agent(agent_id)  # a key bound to one user erases only its own agents

        def work(conn):
            if conn.execute("SELECT 1 FROM agents WHERE id = %s FOR UPDATE", (agent,)).fetchone() is None:
                raise NotFound(f"agent {agent} does not exist")
            edges = self._drop_edges_of(conn, "Agent", agent)
            capabilities = [r["id"] for r in conn.execute(DELETE_AGENT_CAPABILITIES, (agent,)).fetchall()]
            memories = conn.execute(DELETE_AGENT_MEMORY, (agent,)).fetchall()
            detached = {entity: [r["id"] for r in conn.execute(query, (agent,)).fetchall()]
                        for entity, query in DETACH_AGENT.items()}
            for query in DETACH_AGENT_UNPROJECTED:
                conn.execute(query, {"id": agent})
            conn.execute(DELETE_AGENT, (agent,))
            erased: Erased = {"qdrant": {"agent_capabilities": capabilities}, "neo4j": {"Agent": [agent]},
                              "redis": {"keys": [keys.agent_status(agent), keys.agent_lock(agent),
                                                 *(keys.memory_cache(agent, m["memory_type"], m["key"])
                                                   for m in memories)]}}
            removed = {"postgres": {"agents": 1, "agent_capabilities": len(capabilities),
                                    "agent_memory": len(memories), "graph_edges": len(edges)},
                       "qdrant": {"agent_capabilities": len(capabilities)},
                       "neo4j": {"nodes": 1, "relationships": len(edges)},
                       "redis": {"keys": 2 + len(memories)}}
            events = [*edges, *(Event("agent_capability", c, "delete") for c in capabilities),
                      *(Event(MEMORY_ENTITY, f"{agent}|{m['memory_type']}|{m['key']}", "delete") for m in memories),
                      *(Event(entity, key) for entity, ids in detached.items() for key in ids),
                      Event("agent", agent, "delete")]
            return self._receipt(conn, "agent", agent, removed, erased), events

        return self._erase(work)

    def erasure_receipt(self, receipt_id: Any) -> dict:
        """The receipt of an earlier erasure, checked again now (a lagging store may have caught up)."""
        key = as_uuid(receipt_id, "receipt_id")
        row = self._one(SELECT_RECEIPT, (key,), missing=f"erasure receipt {key} does not exist")
        return self._checked(row)

    # -- internals ----------------------------------------------------------------------------
    @staticmethod
    def _receipt(conn, subject_type: str, subject_id: str, removed: dict, erased: Erased) -> dict:
        row = conn.execute(INSERT_RECEIPT, (subject_type, subject_id, Jsonb(removed), Jsonb(erased))).fetchone()
        return {"id": row["id"], "subject_type": subject_type, "subject_id": subject_id, "removed": removed,
                "erased": erased, "requested_at": row["requested_at"]}

    def _erase(self, work) -> dict:
        written: Written = self._write(work)
        redis_keys = written["erased"].get("redis", {}).get("keys", [])
        if redis_keys:
            self._after_commit(written, lambda redis: redis.delete_keys(*redis_keys))
        return self._checked(written, lagging=written["lagging"])

    def _checked(self, receipt: dict, *, lagging: list[str] | None = None) -> dict:
        """The receipt with its final check: per store, how many erased items are still there."""
        erased: Erased = receipt["erased"]
        remaining: dict[str, int | None] = {"postgres": self._left_in_postgres(receipt)}
        for store, groups in erased.items():
            try:
                remaining[store] = self._left_in(store, groups)
            except StoreError:
                remaining[store] = None  # down: not checked now; the outbox completes it on return
        behind = sorted({*(lagging or []), *(store for store, left in remaining.items() if left != 0)})
        result = {key: receipt[key] for key in ("id", "subject_type", "subject_id", "removed", "requested_at")}
        result.update(remaining=remaining, lagging=behind, complete=not behind)
        return jsonable(result)

    def _left_in(self, store: str, groups: dict[str, list[str]]) -> int:
        ids = {name: wanted for name, wanted in groups.items() if wanted}
        if not ids:
            return 0
        if store == "redis":
            left = self.stores.redis.count_keys(*ids["keys"])
            if left:  # the commit's step failed (Redis was down): finish it now
                self.stores.redis.delete_keys(*ids["keys"])
            return int(left)
        client = self.stores.get(store)
        if store == "neo4j":
            return sum(len(client.node_keys(label) & set(wanted)) for label, wanted in ids.items())
        if store == "chroma":
            return sum(len(client.present(name, wanted)) for name, wanted in ids.items())
        return sum(len(client.ids(name) & set(wanted)) for name, wanted in ids.items())

    def _left_in_postgres(self, receipt: dict) -> int:
        subject, kind = receipt["subject_id"], receipt["subject_type"]
        query = {
            "user": "SELECT (SELECT count(*) FROM conversations WHERE user_id = %(s)s) "
                    "+ (SELECT count(*) FROM user_preferences WHERE user_id = %(s)s) "
                    "+ (SELECT count(*) FROM users WHERE id = %(s)s) AS n",
            "session": "SELECT count(*) AS n FROM conversations WHERE session_id = %(s)s",
            "preference": "SELECT count(*) AS n FROM user_preferences WHERE id::text = %(s)s",
            "agent": "SELECT (SELECT count(*) FROM agents WHERE id::text = %(s)s) "
                     "+ (SELECT count(*) FROM graph_edges WHERE (src_label = 'Agent' AND src_id = %(s)s) "
                     "OR (dst_label = 'Agent' AND dst_id = %(s)s)) AS n",
        }[kind]
        return int(self._one(query, {"s": subject})["n"])
