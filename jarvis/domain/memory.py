"""Agent memory, as in Letta: core, recall, archival and working memories keyed by (agent, type, key).

Reads go through a Redis cache that every write invalidates (through the outbox, so a write
whose invalidation failed is retried until the cache forgets). Every read counts as an
access in PostgreSQL: a read from PostgreSQL at once, a read from the cache a second later,
gathered with the others (:mod:`jarvis.access_counts`). Expired memories are never returned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jarvis.domain.base import Written, jsonable
from jarvis.domain.ownership import OwnershipMixin
from jarvis.errors import InvalidInput, NotFound, StoreError
from jarvis.memory_cipher import MemoryCipher
from jarvis.outbox import Event
from jarvis.projection.entities import MEMORY_ENTITY
from jarvis.schemas import MemoryIn, takes
from jarvis.vocabulary import MemoryType

UPSERT_MEMORY = """
INSERT INTO agent_memory (agent_id, memory_type, key, value, value_encrypted, embedding, importance, expires_at)
VALUES (%(agent_id)s, %(memory_type)s, %(key)s, %(value)s, %(value_encrypted)s, %(embedding)s, %(importance)s,
        %(expires_at)s)
ON CONFLICT ON CONSTRAINT agent_memory_agent_type_key DO UPDATE SET
    value = EXCLUDED.value, value_encrypted = EXCLUDED.value_encrypted, embedding = EXCLUDED.embedding,
    importance = EXCLUDED.importance, expires_at = EXCLUDED.expires_at
RETURNING id, agent_id, memory_type, key, value, value_encrypted, importance, access_count, created_at, updated_at,
          last_accessed, expires_at
"""
READ_MEMORY = """
UPDATE agent_memory SET access_count = access_count + 1, last_accessed = CURRENT_TIMESTAMP
WHERE agent_id = %s AND memory_type = %s AND key = %s
  AND (expires_at IS NULL OR expires_at > CURRENT_TIMESTAMP + make_interval(secs => %s))
RETURNING id, agent_id, memory_type, key, value, value_encrypted, importance, access_count, created_at, updated_at,
          last_accessed, expires_at
"""
DELETE_MEMORY = "DELETE FROM agent_memory WHERE agent_id = %s AND memory_type = %s AND key = %s RETURNING id"
#: Memory-stream scoring (Park et al., "Generative Agents", 2023): the nearest memories by
#: meaning (pgvector HNSW), re-ranked by relevance (cosine), recency (halving every
#: ``half_life_hours`` since the memory was last read or changed) and importance, weighted.
RECALL = """
SELECT *, %(w_relevance)s * relevance + %(w_recency)s * recency + %(w_importance)s * importance::float8 AS score
FROM (
    SELECT id, agent_id, memory_type, key, value, value_encrypted, importance, access_count, created_at, updated_at, last_accessed,
           expires_at, relevance,
           power(0.5, greatest(extract(epoch FROM %(now)s - greatest(last_accessed, updated_at)), 0)
                      / 3600.0 / %(half_life_hours)s)::float8 AS recency
    FROM (SELECT *, 1 - (embedding <=> %(vector)s) AS relevance FROM agent_memory
          WHERE agent_id = %(agent_id)s
            AND (expires_at IS NULL OR expires_at > CURRENT_TIMESTAMP + make_interval(secs => %(ahead)s))
            AND (%(memory_type)s::text IS NULL OR memory_type = %(memory_type)s)
          ORDER BY embedding <=> %(vector)s LIMIT %(candidates)s) nearest
) scored
ORDER BY score DESC, id
LIMIT %(limit)s
"""
#: Recall's default weights and recency half-life; every call may override them.
RECALL_WEIGHTS = {"relevance": 1.0, "recency": 0.25, "importance": 0.25}
RECALL_HALF_LIFE_HOURS = 7 * 24.0
#: Memories considered per recall, at least: the nearest by meaning, then re-ranked.
RECALL_CANDIDATES = 50
MEMORY_TYPES = tuple(MemoryType)


def memory_key(agent_id: Any, memory_type: str, key: str) -> str:
    return f"{agent_id}|{memory_type}|{key}"


class MemoryMixin(OwnershipMixin):
    @takes(MemoryIn)
    def put_memory(self, spec: MemoryIn, /) -> Written:
        """Create or replace one memory (embedded once, here) and invalidate its cached copy.
        A user-bound caller writes only the memory of an agent its user owns."""
        self._require_own_agent(spec.agent_id)
        vector = self._embed(spec.value, field="value")
        stored, sealed = self.memory_cipher.seal(
            spec.value, agent_id=spec.agent_id, memory_type=spec.memory_type, key=spec.key
        )

        def work(conn):
            row = conn.execute(
                UPSERT_MEMORY, {**spec.model_dump(), "value": stored, "value_encrypted": sealed, "embedding": vector}
            ).fetchone()
            row = {**jsonable(row), "value": spec.value}  # the caller gets back what it wrote, not ciphertext
            row.pop("value_encrypted", None)
            return row, [Event(MEMORY_ENTITY, memory_key(spec.agent_id, spec.memory_type, spec.key))]

        return self._write(work)

    def get_memory(self, agent_id: Any, memory_type: str, key: str) -> dict:
        """One memory; counts the access. Raises NotFound if it does not exist or has expired,
        or (for a user-bound caller) if its agent is not one the user owns — checked before the
        Redis cache is asked, which knows nothing of owners."""
        if memory_type not in MEMORY_TYPES:
            raise InvalidInput("memory_type", f"must be one of {', '.join(MEMORY_TYPES)}")
        agent_id = self._require_own_agent(agent_id)
        cached = self._cached_memory(agent_id, memory_type, key)
        if cached is not None:
            return self.served_from_cache(cached)
        row = self._one(
            READ_MEMORY,
            (agent_id, memory_type, key, self.stores.clock.ahead),
            missing=f"memory {memory_type}/{key} of agent {agent_id} does not exist",
        )
        memory = jsonable(row)
        try:
            # the cached copy is as stored: sealed when encrypted
            self.stores.redis.cache_memory(agent_id, memory_type, key, memory)
        except StoreError:
            pass  # reads still work from Postgres
        return self.memory_cipher.reveal(dict(memory))

    def delete_memory(self, agent_id: Any, memory_type: str, key: str) -> Written:
        agent_id = self._require_own_agent(agent_id)

        def work(conn):
            if conn.execute(DELETE_MEMORY, (agent_id, memory_type, key)).fetchone() is None:
                raise NotFound(f"memory {memory_type}/{key} of agent {agent_id} does not exist")
            return {"agent_id": agent_id, "memory_type": memory_type, "key": key, "deleted": True}, [
                Event(MEMORY_ENTITY, memory_key(agent_id, memory_type, key), "delete")
            ]

        return self._write(work)

    def recall(
        self,
        agent_id: Any,
        query: str,
        *,
        limit: int = 5,
        memory_type: str | None = None,
        weights: dict[str, float] | None = None,
        half_life_hours: float = RECALL_HALF_LIFE_HOURS,
        now: datetime | None = None,
    ) -> list[dict]:
        """One agent's memories for *query*, scored as a memory stream:
        ``relevance`` (cosine) × w + ``recency`` (0.5 per *half_life_hours* since last read or
        change, at *now*) × w + ``importance`` × w, weights :data:`RECALL_WEIGHTS` unless
        *weights* overrides some of them. Each memory comes with its three parts and ``score``;
        returning it counts as an access (as :meth:`get_memory` does, gathered)."""
        if not 1 <= limit <= 100:
            raise InvalidInput("limit", "must be between 1 and 100")
        if memory_type is not None and memory_type not in MEMORY_TYPES:
            raise InvalidInput("memory_type", f"must be one of {', '.join(MEMORY_TYPES)}")
        chosen = {**RECALL_WEIGHTS, **_weights(weights)}
        if not isinstance(half_life_hours, (int, float)) or not 0 < half_life_hours <= 1e6:
            raise InvalidInput("half_life_hours", "must be a positive number of hours")
        agent_id = self._require_own_agent(agent_id)
        vector = self._embed(query, field="query")
        rows = self._all(
            RECALL,
            {
                "vector": vector,
                "agent_id": agent_id,
                "memory_type": memory_type,
                "limit": limit,
                "candidates": max(RECALL_CANDIDATES, limit),
                "half_life_hours": float(half_life_hours),
                "now": now or self.stores.clock.now(),
                "ahead": self.stores.clock.ahead,
                **{f"w_{k}": v for k, v in chosen.items()},
            },
        )
        for row in rows:
            self.access_counts.count(str(row["id"]))
        cipher = self.memory_cipher
        return [cipher.reveal(jsonable(r)) for r in rows]

    @property
    def memory_cipher(self) -> MemoryCipher:
        """Seals memory values at rest when ``JARVIS_MEMORY_ENCRYPTION_KEY`` is set (built once
        per key: deriving it costs more than opening a value)."""
        secret = self.stores.settings.memory_encryption_key
        cached = getattr(self, "_memory_cipher", None)
        if cached is None or cached[0] is not secret:
            cached = self._memory_cipher = (secret, MemoryCipher(secret))
        return cached[1]

    def served_from_cache(self, cached: dict) -> dict:
        """*cached* (a fresh copy from the Redis cache, see :func:`fresh`) as a read returns it:
        the access is counted, gathered with others into one UPDATE a second later."""
        self.access_counts.count(cached["id"])
        cached["access_count"] += 1
        return self.memory_cipher.reveal(cached)

    def _cached_memory(self, agent_id: str, memory_type: str, key: str) -> dict | None:
        try:
            return fresh(self.stores.redis.get_cached_memory(agent_id, memory_type, key), now=self.stores.clock.now())
        except StoreError:
            return None


def fresh(cached: dict | None, *, now: datetime) -> dict | None:
    """A cached memory unless it has expired by *now* (the clock's, :mod:`jarvis.clock`) since it
    was cached (the cache's TTL is not the memory's): expired memories are never returned."""
    if cached and cached.get("expires_at"):
        if datetime.fromisoformat(cached["expires_at"]) <= now:
            return None
    return cached


def _weights(weights: dict[str, float] | None) -> dict[str, float]:
    """Per-call recall weights, checked: known names, finite numbers from 0 to 10."""
    if weights is None:
        return {}
    if not isinstance(weights, dict):
        raise InvalidInput("weights", "must be an object of relevance, recency, importance")
    for name, value in weights.items():
        if name not in RECALL_WEIGHTS:
            raise InvalidInput(f"weights.{name}", f"must be one of {', '.join(RECALL_WEIGHTS)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 10:
            raise InvalidInput(f"weights.{name}", "must be a number from 0 to 10")
    return {name: float(value) for name, value in weights.items()}
