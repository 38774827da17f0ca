"""Agents (with their capabilities) and models."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from jarvis.domain.base import Base, Written, as_uuid as _uuid, jsonable
from jarvis.errors import InvalidInput, NotFound, StoreError
from jarvis.json_bounds import check_json
from jarvis.outbox import Event
from jarvis.schemas import AgentIn, ModelIn, takes
from jarvis.vocabulary import REPORTED_AGENT_STATUSES, AgentStatus, Channel, RelationshipType

INSERT_AGENT = """
INSERT INTO agents (name, type, status, capabilities, configuration, resources, port, performance_score, owner_user_id,
                    last_heartbeat)
VALUES (%(name)s, %(type)s, %(status)s, %(capabilities)s, %(configuration)s, %(resources)s, %(port)s,
        %(performance_score)s, %(owner_user_id)s, CURRENT_TIMESTAMP)
RETURNING *
"""
UPSERT_CAPABILITY = """
INSERT INTO capabilities (name, category, description) VALUES (%s, %s, %s)
ON CONFLICT (name) DO UPDATE SET category = coalesce(EXCLUDED.category, capabilities.category),
                                 description = coalesce(capabilities.description, EXCLUDED.description)
"""
UPSERT_AGENT_CAPABILITY = """
INSERT INTO agent_capabilities (agent_id, capability, description, success_rate, avg_execution_time, embedding)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT ON CONSTRAINT agent_capabilities_agent_capability_key DO UPDATE SET
    description = EXCLUDED.description, success_rate = EXCLUDED.success_rate,
    avg_execution_time = EXCLUDED.avg_execution_time, embedding = EXCLUDED.embedding
RETURNING id
"""
SELECT_AGENT = "SELECT * FROM agents WHERE id = %s"
SELECT_AGENT_CAPABILITIES = (
    "SELECT capability, description, success_rate, avg_execution_time FROM agent_capabilities "
    "WHERE agent_id = %s ORDER BY capability"
)
LIST_AGENTS = """
SELECT * FROM agents
WHERE (%(type)s::text IS NULL OR type = %(type)s) AND (%(status)s::text IS NULL OR status = %(status)s)
ORDER BY name LIMIT %(limit)s OFFSET %(offset)s
"""
UPDATE_CONFIGURATION = "UPDATE agents SET configuration = configuration || %s WHERE id = %s RETURNING *"
HEARTBEAT = "UPDATE agents SET last_heartbeat = CURRENT_TIMESTAMP, status = %s WHERE id = %s RETURNING *"
TERMINATE = "UPDATE agents SET status = %s, port = NULL WHERE id = %s RETURNING *"

INSERT_MODEL = """
INSERT INTO models (name, type, provider, size_mb, parameters, path) VALUES
(%(name)s, %(type)s, %(provider)s, %(size_mb)s, %(parameters)s, %(path)s) RETURNING *
"""
RECORD_MODEL_USE = (
    "UPDATE models SET usage_count = usage_count + 1, last_used = CURRENT_TIMESTAMP WHERE name = %s RETURNING *"
)


class AgentsMixin(Base):
    @takes(AgentIn)
    def register_agent(self, spec: AgentIn, /) -> Written:
        """Register an agent with its capabilities: Agent node, Capability nodes, HAS_CAPABILITY
        edges and one ``agent_capabilities`` point per capability (embedded from its description).
        A user-bound caller's agent is owned by its user (Forbidden if it names another owner)."""
        spec = spec.model_copy(update={"owner_user_id": self._own_user(spec.owner_user_id, field="owner_user_id")})
        texts = [cap.description or cap.name for cap in spec.capabilities]
        vectors = self.embedder.embed_many(texts, field="capabilities") if texts else []

        def work(conn):
            agent = conn.execute(
                INSERT_AGENT,
                {
                    **spec.model_dump(exclude={"capabilities"}),
                    "capabilities": Jsonb([cap.name for cap in spec.capabilities]),
                    "configuration": Jsonb(spec.configuration),
                    "resources": Jsonb(spec.resources),
                },
            ).fetchone()
            events = [Event("agent", str(agent["id"]))]
            for cap, vector in zip(spec.capabilities, vectors):
                conn.execute(UPSERT_CAPABILITY, (cap.name, cap.category, cap.description))
                point = conn.execute(
                    UPSERT_AGENT_CAPABILITY,
                    (
                        agent["id"],
                        cap.name,
                        cap.description or cap.name,
                        cap.success_rate,
                        cap.avg_execution_time,
                        vector,
                    ),
                ).fetchone()
                events += [
                    Event("capability", cap.name),
                    Event("agent_capability", str(point["id"])),
                    self._edge(conn, RelationshipType.HAS_CAPABILITY, "Agent", agent["id"], "Capability", cap.name),
                ]
            return jsonable(agent), events

        written = self._write(work)
        self._cache_status(written["id"], written["status"])
        return written

    def get_agent(self, agent_id: Any) -> dict:
        agent_id = _uuid(agent_id, "agent_id")
        agent = self._one(SELECT_AGENT, (agent_id,), missing=f"agent {agent_id} does not exist")
        result = jsonable(agent)
        result["capability_details"] = [jsonable(r) for r in self._all(SELECT_AGENT_CAPABILITIES, (agent_id,))]
        # Only the live status needs Redis: without it the agent is still answered, with the
        # live field empty and Redis named in ``degraded``.
        result["live_status"], result["degraded"] = None, []
        try:
            result["live_status"] = self.stores.redis.get_agent_status(str(agent_id))
        except StoreError:
            result["degraded"] = ["redis"]
        return result

    def list_agents(
        self, *, type: str | None = None, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[dict]:
        if not 1 <= limit <= 1000:
            raise InvalidInput("limit", "must be between 1 and 1000")
        if offset < 0:
            raise InvalidInput("offset", "must not be negative")
        rows = self._all(LIST_AGENTS, {"type": type, "status": status, "limit": limit, "offset": offset})
        return [jsonable(r) for r in rows]

    def update_agent_configuration(self, agent_id: Any, configuration: dict) -> Written:
        agent_id = _uuid(agent_id, "agent_id")
        if not isinstance(configuration, dict):
            raise InvalidInput("configuration", "must be an object")
        check_json(configuration, field="configuration")
        return self._agent_update(UPDATE_CONFIGURATION, (Jsonb(configuration), agent_id), agent_id)

    def heartbeat(
        self,
        agent_id: Any,
        *,
        status: str = AgentStatus.active,
        current_task: str | None = None,
        resource_usage: dict | None = None,
    ) -> Written:
        """Record a heartbeat: ``last_heartbeat`` in Postgres, ``agent:status:{id}`` (30 s) in Redis."""
        agent_id = _uuid(agent_id, "agent_id")
        if status not in REPORTED_AGENT_STATUSES:
            raise InvalidInput("status", f"must be one of {', '.join(REPORTED_AGENT_STATUSES)}")
        if resource_usage is not None:
            check_json(resource_usage, field="resource_usage")
        written = self._agent_update(HEARTBEAT, (status, agent_id), agent_id)
        if not self._cache_status(agent_id, status, current_task=current_task, resource_usage=resource_usage):
            written["lagging"] = sorted({*written["lagging"], "redis"})
        return written

    def terminate_agent(self, agent_id: Any) -> Written:
        agent_id = _uuid(agent_id, "agent_id")
        written = self._agent_update(TERMINATE, (AgentStatus.terminated, agent_id), agent_id)
        self._after_commit(written, lambda redis: redis.forget_agent_status(str(agent_id)))  # else its TTL ends it
        return written

    def _agent_update(self, query: str, params: tuple, agent_id: UUID) -> Written:
        def work(conn):
            row = conn.execute(query, params).fetchone()
            if row is None:
                raise NotFound(f"agent {agent_id} does not exist")
            return jsonable(row), [Event("agent", str(agent_id))]

        return self._write(work)

    def _cache_status(self, agent_id: Any, status: str, **extra: Any) -> bool:
        """False if Redis missed it (the cache is optional; PostgreSQL has the truth)."""
        try:
            self.stores.redis.set_agent_status(str(agent_id), status=status, **extra)
            self.stores.redis.publish(Channel.status_update, {"agent_id": str(agent_id), "status": status})
        except Exception:  # noqa: BLE001 - the cache is optional; Postgres has the truth
            return False
        return True

    # -- models ------------------------------------------------------------------------------
    @takes(ModelIn)
    def register_model(self, spec: ModelIn, /) -> Written:

        def work(conn):
            row = conn.execute(INSERT_MODEL, {**spec.model_dump(), "parameters": Jsonb(spec.parameters)}).fetchone()
            return jsonable(row), [Event("model", str(row["id"]))]

        return self._write(work)

    def record_model_use(self, model_name: str, *, memory_usage_mb: float | None = None) -> Written:
        """Count one use (``usage_count``, ``last_used``) and refresh ``model:cache:{name}`` (600 s)."""

        def work(conn):
            row = conn.execute(RECORD_MODEL_USE, (model_name,)).fetchone()
            if row is None:
                raise NotFound(f"model {model_name!r} does not exist")
            return jsonable(row), []

        written = self._write(work)
        self._after_commit(
            written, lambda redis: redis.set_model_cache(model_name, loaded=True, memory_usage_mb=memory_usage_mb)
        )
        return written

    def assign_model(self, agent_id: Any, model_id: Any) -> Written:
        """``(Agent)-[:USES_MODEL]->(Model)``."""
        agent_id, model_id = _uuid(agent_id, "agent_id"), _uuid(model_id, "model_id")
        return self._link(
            RelationshipType.USES_MODEL,
            ("Agent", "agents", agent_id, "agent_id"),
            ("Model", "models", model_id, "model_id"),
        )
