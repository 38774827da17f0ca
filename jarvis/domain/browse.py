"""What an operator browses: tasks by state, agents with their live state, an agent's memory
and events, and the graph around a node — reads the operator's console shows.

Every read runs under the caller's principal like every other read of the facade: PostgreSQL's
row-level security hides other users' tasks, private agents and memories; what Redis and Neo4j
return (live status, locks, graph nodes) is shown only for agents, tasks and users PostgreSQL
says the caller can see, since neither store knows owners.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jarvis.dead_letters import OUTBOX_BY_STORE
from jarvis.domain.base import jsonable
from jarvis.domain.memory import MEMORY_TYPES
from jarvis.domain.ownership import OwnershipMixin
from jarvis.errors import InvalidInput, StoreError
from jarvis.vocabulary import Severity, TaskStatus
from jarvis.stores.base import StoreName

TASK_STATUSES = tuple(TaskStatus)

LIST_TASKS = """
SELECT t.id, t.name, t.description, t.type, t.status, t.priority, t.agent_id, a.name AS agent_name, t.requested_by,
       t.attempts, t.max_attempts, t.run_after, t.lease_owner, t.lease_expires_at, t.created_at, t.started_at,
       t.completed_at, t.execution_time_ms, t.error_details
FROM tasks t LEFT JOIN agents a ON a.id = t.agent_id
WHERE (%(status)s::text IS NULL OR t.status = %(status)s)
  AND (%(agent_id)s::uuid IS NULL OR t.agent_id = %(agent_id)s)
ORDER BY t.created_at DESC, t.id LIMIT %(limit)s
"""
COUNT_TASKS_BY_STATUS = "SELECT status, count(*) AS n FROM tasks GROUP BY status"
LIST_AGENTS_BROWSED = """
SELECT id, name, type, status, capabilities, owner_user_id, performance_score, last_heartbeat,
       extract(epoch FROM CURRENT_TIMESTAMP - last_heartbeat)::float8 AS heartbeat_age_seconds, created_at
FROM agents ORDER BY name LIMIT %(limit)s
"""
AGENT_MEMORY = """
SELECT id, agent_id, memory_type, key, value, value_encrypted, importance, access_count, updated_at, expires_at
FROM agent_memory
WHERE agent_id = %(agent_id)s AND (expires_at IS NULL OR expires_at > CURRENT_TIMESTAMP)
ORDER BY memory_type, importance DESC, key LIMIT %(limit)s
"""
AGENT_EVENTS = """
SELECT id, event_type, severity, source, agent_id, task_id, message, details, created_at FROM system_events
WHERE agent_id = %(agent_id)s ORDER BY created_at DESC LIMIT %(limit)s
"""
SEVERITIES = tuple(Severity)  # in rising order
BROWSE_EVENTS = """
SELECT id, event_type, severity, source, agent_id, task_id, message, details, created_at FROM system_events
WHERE severity = ANY(%(severities)s)
  AND (%(since)s::timestamptz IS NULL OR created_at >= %(since)s)
  AND (%(until)s::timestamptz IS NULL OR created_at < %(until)s)
  AND (%(pattern)s::text IS NULL OR event_type ILIKE %(pattern)s OR source ILIKE %(pattern)s
       OR message ILIKE %(pattern)s OR details::text ILIKE %(pattern)s)
ORDER BY created_at DESC, id LIMIT %(limit)s
"""
#: Labels whose nodes belong to users (shown only when PostgreSQL shows their rows).
OWNED_LABELS = {"Agent": "agents", "Task": "tasks", "User": "users"}
MAX_GRAPH_NODES = 200


class BrowseMixin(OwnershipMixin):
    def list_tasks(self, *, status: str | None = None, agent_id: Any = None, limit: int = 100) -> dict:
        """The newest tasks (optionally of one status or agent), and how many there are per status."""
        if status is not None and status not in TASK_STATUSES:
            raise InvalidInput("status", f"must be one of {', '.join(TASK_STATUSES)}")
        if not 1 <= limit <= 500:
            raise InvalidInput("limit", "must be between 1 and 500")
        agent = self._require_visible_agent(agent_id) if agent_id is not None else None
        with self._postgres() as conn:
            rows = conn.execute(LIST_TASKS, {"status": status, "agent_id": agent, "limit": limit}).fetchall()
            counts = {r["status"]: r["n"] for r in conn.execute(COUNT_TASKS_BY_STATUS).fetchall()}
        return {"tasks": [jsonable(r) for r in rows], "counts": {s: counts.get(s, 0) for s in TASK_STATUSES}}

    def projection_lag(self) -> dict[str, dict]:
        """Per projection store, the outbox events still ``pending`` (and how old the oldest is)
        and ``dead``, among those the caller may see: a key bound to a user sees only the events
        of its own writes (migration 023's row-level security), so it learns how far behind its
        writes are and nothing of other users' activity; a service key sees every event."""
        return {row.pop("store"): row for row in self._all(OUTBOX_BY_STORE)}

    def browse_agents(self, *, limit: int = 200) -> dict:
        """Agents with heartbeat age, and from Redis their live status, whether their lock is
        held and by which worker (``degraded`` names Redis when it cannot say).

        The lock's value is ``worker:<token>`` and the token alone releases or extends the
        lock, so only the worker name before ``:`` is shown, never the token. A user-bound
        caller is not shown the status's ``current_task``: the task may be another user's.
        """
        if not 1 <= limit <= 1000:
            raise InvalidInput("limit", "must be between 1 and 1000")
        agents = [jsonable(r) for r in self._all(LIST_AGENTS_BROWSED, {"limit": limit})]
        bound = self._who().bound
        degraded = []
        try:
            for agent in agents:  # only agents PostgreSQL showed this caller
                status = self.stores.redis.get_agent_status(agent["id"])
                if status is not None and bound:
                    status = {k: v for k, v in status.items() if k != "current_task"}
                agent["live_status"] = status
                holder = self.stores.redis.locks.holder(agent["id"])
                agent["locked"] = holder is not None
                agent["lock_worker"] = None if holder is None else holder.split(":", 1)[0]
        except StoreError:
            degraded = ["redis"]
        return {"agents": agents, "degraded": degraded}

    def agent_memory(self, agent_id: Any, *, limit: int = 200) -> dict[str, list[dict]]:
        """An agent's unexpired memories grouped by type (values opened if sealed); reading
        them here counts no access."""
        agent = self._require_visible_agent(agent_id)
        rows = self._all(AGENT_MEMORY, {"agent_id": agent, "limit": limit})
        grouped: dict[str, list[dict]] = {t: [] for t in MEMORY_TYPES}
        for row in rows:
            memory = self.memory_cipher.reveal(jsonable(row))
            grouped[memory["memory_type"]].append(memory)
        return grouped

    def agent_events(self, agent_id: Any, *, limit: int = 50) -> list[dict]:
        """The agent's newest system events."""
        agent = self._require_visible_agent(agent_id)
        return [jsonable(r) for r in self._all(AGENT_EVENTS, {"agent_id": agent, "limit": limit})]

    def browse_events(
        self,
        *,
        min_severity: str = "debug",
        since: datetime | None = None,
        until: datetime | None = None,
        text: str | None = None,
        limit: int = 200,
    ) -> list[dict]:
        """System events at *min_severity* or worse, in [*since*, *until*), whose type, source or
        details contain *text* (case-insensitive), newest first."""
        if min_severity not in SEVERITIES:
            raise InvalidInput("min_severity", f"must be one of {', '.join(SEVERITIES)}")
        if not 1 <= limit <= 1000:
            raise InvalidInput("limit", "must be between 1 and 1000")
        pattern = None
        if text:
            escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = f"%{escaped}%"
        rows = self._all(
            BROWSE_EVENTS,
            {
                "severities": list(SEVERITIES[SEVERITIES.index(min_severity) :]),
                "since": since,
                "until": until,
                "pattern": pattern,
                "limit": limit,
            },
        )
        return [jsonable(r) for r in rows]

    def graph_neighbourhood(
        self, *, topic: str | None = None, node: str | None = None, hops: int = 1, limit: int = 60
    ) -> dict:
        """Nodes and relationships within *hops* (1-3) of a Knowledge *topic* or of a node id
        (an agent's, a task's, ...), at most *limit* new neighbours per hop. Nodes of agents,
        tasks and users the caller cannot see are left out, and never passed through."""
        if not 1 <= hops <= 3:
            raise InvalidInput("hops", "must be 1, 2 or 3")
        if (topic is None) == (node is None):
            raise InvalidInput("topic", "give either topic or node")
        if not 1 <= limit <= MAX_GRAPH_NODES:
            raise InvalidInput("limit", f"must be between 1 and {MAX_GRAPH_NODES}")
        graph = self.stores.get(StoreName.NEO4J)
        start = graph.run_named("console_start", topic=topic, key=node)
        nodes = {row["key"]: row for row in self._visible(start)}
        if not nodes:
            return {"nodes": [], "edges": [], "start": None}
        edges: dict[tuple, dict] = {}
        frontier = list(nodes)
        for _ in range(hops):
            rows = graph.run_named("console_neighbours", keys=frontier, limit=limit) if frontier else []
            found = {row["key"]: row for row in self._visible([_far_end(r) for r in rows])}
            frontier = [key for key in found if key not in nodes][: max(0, MAX_GRAPH_NODES - len(nodes))]
            nodes.update({key: found[key] for key in frontier})
            for row in rows:
                if row["src"] in nodes and row["dst"] in nodes:
                    edges[(row["rel"], row["src"], row["dst"])] = {
                        "type": row["rel"],
                        "source": row["src"],
                        "target": row["dst"],
                    }
        return {"nodes": list(nodes.values()), "edges": list(edges.values()), "start": next(iter(nodes))}

    def _visible(self, rows: list[dict]) -> list[dict]:
        """*rows* (graph nodes) less the agents, tasks and users the caller cannot see."""
        if not self._who().bound:
            return rows
        asked: dict[str, list[str]] = {table: [] for table in OWNED_LABELS.values()}
        for row in rows:
            if row["label"] in OWNED_LABELS:
                asked[OWNED_LABELS[row["label"]]].append(str(row["key"]))
        shown = self._visible_ids(asked) if any(asked.values()) else set()
        return [row for row in rows if row["label"] not in OWNED_LABELS or str(row["key"]) in shown]


def _far_end(row: dict) -> dict:
    return {
        "key": row["other"],
        "label": row["other_label"],
        "caption": row["other_caption"],
        "kind": row["other_kind"],
    }
