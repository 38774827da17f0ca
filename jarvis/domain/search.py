"""Semantic search across scopes, and the best agent for a task described in any words.

The query is embedded once; each scope is asked concurrently of the store that projects it
(Chroma or Qdrant). If that store is down, the same rows are searched in PostgreSQL with
pgvector and the answer says it is degraded. Hits are hydrated from PostgreSQL, so a
projection that lags behind a delete never returns a ghost.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import cache
from dataclasses import dataclass
from typing import Any

import numpy as np

from jarvis.domain.base import Base, jsonable
from jarvis.embeddings import check_vector
from jarvis.errors import InvalidInput, StoreError
from jarvis.ownership import with_owner
from jarvis.principal import carried
from jarvis.schemas import SearchIn, parse


@dataclass(frozen=True)
class Scope:
    store: str            # "chroma", "qdrant" or "postgres"
    collection: str | None
    fallback: str         # pgvector query: %(vector)s, %(limit)s, %(user_id)s, %(agent_id)s
    hydrate: str          # rows by id: %(ids)s
    filter_field: str | None = None   # payload/metadata field restricted to the caller's user
    euclid: bool = False


def _nearest(table: str, *, where: str = "TRUE", op: str = "<=>") -> str:
    score = "1 - (embedding <=> %(vector)s)" if op == "<=>" else "1 - ((embedding <-> %(vector)s) ^ 2) / 2"
    return (f"SELECT id::text AS id, {score} AS score FROM {table} WHERE {where} "
            f"ORDER BY embedding {op} %(vector)s LIMIT %(limit)s")


_BY_USER = "(%(user_id)s::text IS NULL OR user_id = %(user_id)s)"


def _rows(table: str, columns: str) -> str:
    """Hydrate hits by id. The embedding is left out: the caller never shows it, and 384
    floats per row cost more to parse than the rest of the search."""
    return f"SELECT {columns} FROM {table} WHERE id = ANY(%(ids)s::uuid[])"

SCOPES: dict[str, Scope] = {
    "knowledge": Scope("chroma", "knowledge_base", _nearest("knowledge"),
                       _rows("knowledge", "id, topic, content, source, category, confidence, agent_id, created_at, updated_at")),
    "conversations": Scope("chroma", "conversations", _nearest("conversations", where=_BY_USER),
                           "SELECT * FROM conversations WHERE id = ANY(%(ids)s::uuid[])", filter_field="user_id"),
    "code": Scope("chroma", "code_snippets", _nearest("code_snippets"),
                  "SELECT * FROM code_snippets WHERE id = ANY(%(ids)s::uuid[])"),
    "capabilities": Scope("qdrant", "agent_capabilities", _nearest("agent_capabilities"),
                          "SELECT * FROM agent_capabilities WHERE id = ANY(%(ids)s::uuid[])"),
    "task_patterns": Scope("qdrant", "task_patterns", _nearest("task_patterns"),
                           "SELECT * FROM task_patterns WHERE id = ANY(%(ids)s::uuid[])"),
    "preferences": Scope("qdrant", "user_preferences", _nearest("user_preferences", where=_BY_USER, op="<->"),
                         "SELECT * FROM user_preferences WHERE id = ANY(%(ids)s::uuid[])", filter_field="user_id",
                         euclid=True),
    "memory": Scope("postgres", None, _nearest(
        "agent_memory", where="agent_id = %(agent_id)s AND (expires_at IS NULL OR expires_at > CURRENT_TIMESTAMP)"),
        "SELECT * FROM agent_memory WHERE id = ANY(%(ids)s::uuid[])"),
}

CAPABILITY_SIMILARITY = """
SELECT agent_id::text AS agent_id, capability, 1 - (embedding <=> %(vector)s) AS similarity, success_rate
FROM agent_capabilities WHERE agent_id = ANY(%(ids)s::uuid[])
"""
ACTIVE_AGENTS_WITH_LOAD = """
SELECT a.id::text AS id, a.name, a.type, a.performance_score,
       (SELECT count(*) FROM tasks t WHERE t.agent_id = a.id AND t.status = 'running') AS running_tasks
FROM agents a WHERE a.id = ANY(%(ids)s::uuid[]) AND a.status = 'active'
"""
NEAREST_CAPABLE_AGENTS = """
SELECT DISTINCT agent_id::text AS id FROM (
    SELECT agent_id FROM agent_capabilities ORDER BY embedding <=> %(vector)s LIMIT %(limit)s) nearest
"""
ACTIVE_WITH_CAPABILITY = """
SELECT a.id::text AS id FROM agents a JOIN agent_capabilities c ON c.agent_id = a.id
WHERE c.capability = %(capability)s AND a.status = 'active'
"""


@cache
def _scope_pool() -> ThreadPoolExecutor:
    """Scopes are asked concurrently, on threads shared by every search of the process."""
    return ThreadPoolExecutor(max_workers=len(SCOPES), thread_name_prefix="jarvis-search")


class SearchMixin(Base):
    def search(self, **fields: Any) -> dict:
        """Search *query* in *scopes*; hits merged best first with their rows, and ``degraded``."""
        spec = parse(SearchIn, fields)
        if "memory" in spec.scopes and spec.agent_id is None:
            raise InvalidInput("agent_id", "is required to search the memory scope")
        vector = check_vector(spec.vector) if spec.vector is not None else self._embed(spec.query, field="query")
        # a user-bound caller searches as its user, whatever it asked (Forbidden for another user)
        params = {"limit": spec.limit, "user_id": self._own_user(spec.user_id, field="user_id"),
                  "agent_id": str(spec.agent_id) if spec.agent_id else None}
        if len(spec.scopes) == 1:
            answers = [self._search_scope(spec.scopes[0], vector, params)]
        else:  # each scope's thread runs with the caller's principal (row-level security, owner filter)
            answers = list(_scope_pool().map(carried(lambda name: self._search_scope(name, vector, params)),
                                             spec.scopes))
        results, degraded = [], set()
        for name, (hits, lagging_store) in zip(spec.scopes, answers):
            if lagging_store:
                degraded.add(lagging_store)
            results += [{"scope": name, "id": hit_id, "score": round(score, 6), "item": item}
                        for hit_id, score, item in hits]
        results.sort(key=lambda r: r["score"], reverse=True)
        return {"query": spec.query, "results": results[: spec.limit], "degraded": sorted(degraded)}

    def _search_scope(self, name: str, vector: np.ndarray, params: dict) -> tuple[list, str | None]:
        scope = SCOPES[name]
        degraded = None
        hits: list[tuple[str, float]] | None = None
        if scope.store != "postgres":
            try:
                hits = self._projection_query(scope, vector, params)
            except StoreError:
                degraded = scope.store
        if hits is None:
            hits = [(r["id"], float(r["score"])) for r in self._all(scope.fallback, {**params, "vector": vector})]
        rows = {str(r["id"]): jsonable(r) for r in self._all(scope.hydrate, {"ids": [h for h, _ in hits]})}
        if name == "memory":  # values encrypted at rest are opened only here, on the way out
            cipher = self.memory_cipher
            rows = {i: cipher.reveal(row) for i, row in rows.items()}
        return [(hit_id, score, rows[hit_id]) for hit_id, score in hits if hit_id in rows], degraded

    def _projection_query(self, scope: Scope, vector: np.ndarray, params: dict) -> list[tuple[str, float]]:
        user = params.get("user_id")
        condition = {scope.filter_field: user} if scope.filter_field and user else None
        condition = with_owner(condition, scope.collection, self._who())  # always, for a user-bound caller
        if scope.store == "chroma":
            return self.stores.get("chroma").query(scope.collection, vector.tolist(), limit=params["limit"],
                                                   where=condition)
        hits = self.stores.get("qdrant").query(scope.collection, vector, limit=params["limit"], must=condition)
        if scope.euclid:  # Qdrant returns the distance; for unit vectors cos = 1 - d^2 / 2
            return [(i, 1 - (s * s) / 2) for i, s, _ in hits]
        return [(i, s) for i, s, _ in hits]

    def best_agent(self, task_description: str, *, capability: str | None = None, limit: int = 3) -> dict:
        """Rank active agents for a task: meaning of the task against their capabilities
        (``agent_capabilities``), then performance, success rate and current load (running
        tasks, ``lock:agent:{id}``). With *capability*, only agents that have it in the graph."""
        if not 1 <= limit <= 50:
            raise InvalidInput("limit", "must be between 1 and 50")
        vector = self._embed(task_description, field="task_description")
        degraded: set[str] = set()
        try:
            hits = self.stores.get("qdrant").query("agent_capabilities", vector, limit=50)
            candidates = {payload["agent_id"] for _, _, payload in hits}
        except StoreError:
            degraded.add("qdrant")
            candidates = {r["id"] for r in self._all(NEAREST_CAPABLE_AGENTS, {"vector": vector, "limit": 50})}
        if capability is not None:
            try:
                rows = self.stores.get("neo4j").run_named("best_agent_for_capability", capability=capability, limit=200)
            except StoreError:
                degraded.add("neo4j")
                rows = self._all(ACTIVE_WITH_CAPABILITY, {"capability": capability})
            candidates = {r["id"] for r in rows}
        ranked = self._rank(vector, sorted(candidates))
        return {"task_description": task_description, "capability": capability,
                "agents": ranked[:limit], "degraded": sorted(degraded)}

    def _rank(self, vector: np.ndarray, agent_ids: list[str]) -> list[dict]:
        if not agent_ids:
            return []
        best: dict[str, dict] = {}
        for row in self._all(CAPABILITY_SIMILARITY, {"vector": vector, "ids": agent_ids}):
            if row["agent_id"] not in best or row["similarity"] > best[row["agent_id"]]["similarity"]:
                best[row["agent_id"]] = row
        ranked = []
        for agent in self._all(ACTIVE_AGENTS_WITH_LOAD, {"ids": agent_ids}):
            match = best.get(agent["id"], {"similarity": 0.0, "success_rate": 0, "capability": None})
            try:
                with self.stores.redis.unavailable():
                    locked = self.stores.redis.locks.holder(agent["id"]) is not None
            except StoreError:
                locked = False
            load = min(agent["running_tasks"], 5) / 5
            score = (0.6 * float(match["similarity"]) + 0.2 * float(agent["performance_score"])
                     + 0.1 * float(match["success_rate"]) + 0.1 * (1 - load) - (0.1 if locked else 0.0))
            ranked.append({"agent_id": agent["id"], "name": agent["name"], "type": agent["type"],
                           "score": round(score, 6), "similarity": round(float(match["similarity"]), 6),
                           "matched_capability": match["capability"], "performance_score": agent["performance_score"],
                           "running_tasks": agent["running_tasks"], "locked": locked})
        ranked.sort(key=lambda r: r["score"], reverse=True)
        return ranked

