"""Search across scopes — by meaning, by words, or both fused — and the best agent for a task.

The query is embedded once; each scope is asked concurrently. In a text scope (knowledge,
conversations, code, memory) ``mode="hybrid"`` (the default) fuses the vector ranking of
the store that projects it (Chroma) with a BM25 keyword ranking from PostgreSQL full text;
``"vector"`` and ``"keyword"`` use one of them. The other scopes (Qdrant's) rank by vector.
If the projection is down, the vector ranking comes from pgvector over the same rows with
the same filter and the answer says it is degraded. Every hit is hydrated from PostgreSQL
with the filter applied again, so a projection that lags never returns a ghost.

Filters (user, session, agent, created_after/created_before, metadata equality, and for
knowledge the time its facts were valid, ``as_of``) are one :class:`SearchFilter`, pushed
down to Chroma's ``where``, Qdrant's filter and the SQL alike
(:mod:`jarvis.search_filters`). A scope without a field asked for (a session, metadata)
has no matching items; ``user_id`` restricts the scopes that have users (conversations,
preferences) and ``as_of`` the one whose items have validity (knowledge).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from functools import cache

import numpy as np

from jarvis.domain.base import Base, jsonable
from jarvis.domain import keyword
from jarvis.domain.hybrid import ALPHA, Mode, statement
from jarvis.embeddings import check_vector
from jarvis.errors import InvalidInput, StoreError
from jarvis.principal import carried
from jarvis.schemas import SearchIn, takes
from jarvis.search_filters import Filterable, SearchFilter
from jarvis.stores.base import StoreName

#: Candidates each ranking contributes to a fusion, at least (more when the limit is higher).
CANDIDATES = 50
#: Knowledge's nearest neighbours asked of Chroma beyond the depth wanted, so that facts no
#: longer valid can be dropped by PostgreSQL rather than by a filter in Chroma (see
#: ``SearchMixin._projection_query``).
VALIDITY_LOOKAHEAD = 10
#: When too few of those were kept, Chroma is asked this many times deeper, once, before it is
#: asked with the validity condition.
WIDEN = 4


@dataclass(frozen=True)
class Scope:
    store: StoreName  # the store whose vector ranking answers: Chroma, Qdrant, or PostgreSQL itself
    collection: str | None
    table: str
    columns: str  # hydrated columns (never the embedding nor the tsvector)
    able: Filterable  # what the scope can be filtered on
    text: bool = False  # has a search_tsv: ranks by keywords too
    always: str = "TRUE"  # a condition every search of the scope applies
    euclid: bool = False
    owner: str | None = None  # whose keyword statistics (migration 017): "user", "agent"; None: shared


SCOPES: dict[str, Scope] = {
    "knowledge": Scope(
        StoreName.CHROMA,
        "knowledge_base",
        "knowledge",
        "t.id, topic, content, source, category, confidence, agent_id, created_at, updated_at, "
        "valid_from, valid_to, supersedes",
        Filterable(agent="agent_id", created=True, validity=True),
        text=True,
    ),
    "conversations": Scope(
        StoreName.CHROMA,
        "conversations",
        "conversations",
        "t.id, session_id, user_id, message_type, role, content, audio_file_path, agent_id, "
        "task_id, metadata, context, created_at",
        Filterable(user="user_id", session="session_id", agent="agent_id", created=True, metadata=True),
        text=True,
        owner="user",
    ),
    "code": Scope(
        StoreName.CHROMA,
        "code_snippets",
        "code_snippets",
        "t.id, content, language, purpose, agent_id, performance_score, tested, created_at, updated_at",
        Filterable(agent="agent_id", created=True),
        text=True,
    ),
    "capabilities": Scope(
        StoreName.QDRANT,
        "agent_capabilities",
        "agent_capabilities",
        "t.id, agent_id, capability, description, success_rate, avg_execution_time, created_at",
        Filterable(agent="agent_id", created=True),
    ),
    "task_patterns": Scope(
        StoreName.QDRANT,
        "task_patterns",
        "task_patterns",
        "t.id, pattern_type, description, task_sequence, success_rate, optimal_agents, created_at",
        Filterable(created=True),
    ),
    "preferences": Scope(
        StoreName.QDRANT,
        "user_preferences",
        "user_preferences",
        "t.id, user_id, preference_type, description, value, confidence, created_at, updated_at",
        Filterable(user="user_id", created=True),
        euclid=True,
    ),
    "memory": Scope(
        StoreName.POSTGRES,
        None,
        "agent_memory",
        "t.id, agent_id, memory_type, key, value, value_encrypted, importance, access_count, created_at, "
        "updated_at, last_accessed, expires_at",
        Filterable(agent="agent_id", created=True),
        text=True,
        always="(expires_at IS NULL OR expires_at > CURRENT_TIMESTAMP)",
        owner="agent",
    ),
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


@cache
def _keyword_pool() -> ThreadPoolExecutor:
    """Keyword rankings run here while the query is embedded and the projections asked (a pool
    of their own: a scope's thread waits for its ranking, which must never wait for a thread)."""
    return ThreadPoolExecutor(max_workers=2 * len(SCOPES), thread_name_prefix="jarvis-keywords")


class SearchMixin(Base):
    @takes(SearchIn)
    def search(self, spec: SearchIn, /) -> dict:
        """Search *query* (or a *vector*) in *scopes*; hits merged best first with their rows, and
        ``degraded``. See the module's docstring for ``mode`` and the filters.

        Each hit has ``score`` (hybrid: the fused score, 0 to 1; vector: cosine; keyword: BM25)
        and, where known, ``vector_score`` (cosine) and ``keyword_score`` (BM25).
        Raises InvalidInput naming the field."""
        if "memory" in spec.scopes and spec.agent_id is None:
            raise InvalidInput("agent_id", "is required to search the memory scope")
        if spec.mode == "keyword" and spec.query is None:
            raise InvalidInput("mode", "keyword needs a query, not a vector")
        who = self._who()
        search_filter = SearchFilter(
            # a user-bound caller searches as its user, whatever it asked (Forbidden for another user)
            user_id=self._own_user(spec.user_id, field="user_id"),
            session_id=spec.session_id,
            agent_id=str(spec.agent_id) if spec.agent_id else None,
            created_after=spec.created_after,
            created_before=spec.created_before,
            metadata=spec.metadata or {},
            as_of=spec.as_of,
        ).owned_by(who.user_id if who.bound else None)
        ask = _Ask(
            query=spec.query,
            vector=None,
            mode=Mode(spec.mode),
            limit=spec.limit,
            filter=search_filter,
            now=datetime.now(timezone.utc),
        )
        if spec.mode != "keyword":
            ask = replace(
                ask,
                vector=check_vector(spec.vector) if spec.vector is not None else self._embed(spec.query, field="query"),
            )
        # the keyword rankings run while the projections are asked (each on a thread with the
        # caller's principal), not while the query is embedded: the embedding runs on every
        # core, and a ranking beside it slowed both (at 100,000 items on 2 cores: embedding
        # 3.2 -> 7.4 ms, ranking 5 -> 7.9 ms; docs/benchmark-notes.md)
        rankings = {
            name: _keyword_pool().submit(carried(self._keyword_ranking), name, ask)
            for name in spec.scopes
            if self._ranks_keywords(SCOPES[name], ask)
        }
        if len(spec.scopes) == 1:
            answers = [self._search_scope(spec.scopes[0], ask, rankings.get(spec.scopes[0]))]
        else:  # each scope's thread runs with the caller's principal (row-level security, owner filter)
            answers = list(
                _scope_pool().map(carried(lambda name: self._search_scope(name, ask, rankings.get(name))), spec.scopes)
            )
        results, degraded = [], set()
        for name, (hits, lagging_store) in zip(spec.scopes, answers):
            if lagging_store:
                degraded.add(lagging_store)
            results += [
                {"scope": name, "id": item["id"], "score": round(score, 6), **extra, "item": item}
                for item, score, extra in hits
            ]
        results.sort(key=lambda r: r["score"], reverse=True)
        return {"query": spec.query, "mode": spec.mode, "results": results[: spec.limit], "degraded": sorted(degraded)}

    @staticmethod
    def _ranks_keywords(scope: Scope, ask: "_Ask") -> bool:
        return (
            scope.text and ask.query is not None and ask.mode is not Mode.vector and not ask.filter.excludes(scope.able)
        )

    @staticmethod
    def _depth(scope: Scope, ask: "_Ask") -> int:
        """Candidates per ranking: fusing looks deeper than the limit into each ranking; one
        ranking alone needs only the limit."""
        fusing = scope.text and ask.query is not None and ask.mode is Mode.hybrid
        return max(CANDIDATES, ask.limit) if fusing else ask.limit

    def _keyword_ranking(self, name: str, ask: "_Ask") -> list[tuple[str, float]]:
        """BM25's best rows of scope *name* (:mod:`jarvis.domain.keyword`), filtered as the search."""
        scope = SCOPES[name]
        where, params = ask.filter.sql(scope.able, now=ask.now)
        owner = None
        if scope.owner == "user":
            owner = ask.filter.owner_id or ask.filter.user_id
        elif scope.owner == "agent":
            owner = ask.filter.agent_id
        with self._postgres() as conn:
            read = keyword.rank(
                conn,
                table=scope.table,
                where=f"{scope.always} AND {where}",
                params=params,
                query=ask.query,
                owner=owner,
                every_owner=scope.owner is not None and owner is None,
                depth=self._depth(scope, ask),
                timeout_ms=self.settings.search_statement_timeout_ms,
            )
        return read()  # answered with the COMMIT

    def _search_scope(
        self, name: str, ask: "_Ask", ranking: Future | None
    ) -> tuple[list[tuple[dict, float, dict]], str | None]:
        scope = SCOPES[name]
        if ask.filter.excludes(scope.able):
            return [], None
        where, params = ask.filter.sql(scope.able, now=ask.now)
        where = f"{scope.always} AND {where}"
        keyword = ranking is not None
        wants_vector = ask.vector is not None and (ask.mode is not Mode.keyword or not scope.text)
        depth = self._depth(scope, ask)
        params.update(limit=ask.limit, depth=depth, alpha=ALPHA)
        degraded, source, loose, hits = None, None, False, []
        if wants_vector:
            source = "postgres"
            if scope.store is not StoreName.POSTGRES:
                try:
                    hits, loose = self._projection_query(scope, ask, depth)
                    source = "projection"
                    params.update(hit_ids=[h for h, _ in hits], hit_scores=[s for _, s in hits])
                except StoreError:
                    degraded = scope.store
            if source == "postgres":
                params["vector"] = ask.vector
        if keyword:
            found = ranking.result()
            params.update(k_ids=[i for i, _ in found], k_scores=[s for _, s in found])
        if source is None and not keyword:
            return [], degraded

        def compose(vector: str | None) -> str:
            return statement(
                table=scope.table,
                columns=scope.columns,
                where=where,
                vector=vector,
                keyword=keyword,
                fuse=ask.mode is Mode.hybrid and ask.query is not None,
                euclid=scope.euclid,
            )

        query = compose(source)
        rows = self._all(query, params)
        asked = depth + VALIDITY_LOOKAHEAD
        while loose and len(hits) == asked and (rows[0]["vector_kept"] if rows else 0) < depth:
            # too few of the candidates asked without the validity condition were kept (no longer
            # valid, or deleted and not yet gone from the projection): look WIDEN times deeper
            # without it, then, if still too few, ask with it (Chroma's slow filter)
            try:
                if asked < WIDEN * (depth + VALIDITY_LOOKAHEAD):
                    asked *= WIDEN
                    hits, loose = self._loosely_nearest(scope, ask, asked), True
                else:
                    hits, loose = self._strictly_nearest(scope, ask, depth), False
                params.update(hit_ids=[h for h, _ in hits], hit_scores=[s for _, s in hits])
            except StoreError:  # went down between the questions: pgvector answers
                degraded, params["vector"], query, loose = scope.store, ask.vector, compose("postgres"), False
            rows = self._all(query, params)
        hits_out = []
        opened = self.memory_cipher.reveal if scope is SCOPES["memory"] else None
        for row in rows:
            if opened is not None:  # values encrypted at rest are opened only here, on the way out
                row = opened(row)
            score, vector_score, keyword_score = row.pop("score"), row.pop("vector_score"), row.pop("keyword_score")
            row.pop("vector_kept")
            extra = {
                k: round(v, 6)
                for k, v in (("vector_score", vector_score), ("keyword_score", keyword_score))
                if v is not None
            }
            hits_out.append((jsonable(row), float(score), extra))
        return hits_out, degraded

    def _projection_query(self, scope: Scope, ask: "_Ask", depth: int) -> tuple[list[tuple[str, float]], bool]:
        """The projection's nearest (id, similarity), and whether they were asked *loosely*: for
        knowledge, Chroma is asked without the validity condition, for ``VALIDITY_LOOKAHEAD``
        more neighbours than *depth*, with no metadata — Chroma evaluates a ``where`` over
        every item before its HNSW search (1.1 s against 50 ms at 100,000 knowledge items, and
        every knowledge search has that condition), and returning metadata costs it more than
        the search (20 neighbours: 4.8 ms with, 3.1 ms without, at 100,000). The statement's
        filter keeps the valid ones (:func:`~jarvis.domain.hybrid.statement`'s ``v``); when too
        few are, the caller looks ``WIDEN`` times deeper, then asks :meth:`_strictly_nearest`."""
        if scope.store is StoreName.CHROMA:
            if scope.able.validity:
                return self._loosely_nearest(scope, ask, depth + VALIDITY_LOOKAHEAD), True
            return self._strictly_nearest(scope, ask, depth), False
        conditions = ask.filter.qdrant_conditions(scope.able, now=ask.now)
        hits = self.stores.get(StoreName.QDRANT).query(scope.collection, ask.vector, limit=depth, conditions=conditions)
        if scope.euclid:  # Qdrant returns the distance; for unit vectors cos = 1 - d^2 / 2
            return [(i, 1 - (s * s) / 2) for i, s, _ in hits], False
        return [(i, s) for i, s, _ in hits], False

    def _loosely_nearest(self, scope: Scope, ask: "_Ask", limit: int) -> list[tuple[str, float]]:
        """Chroma's *limit* nearest with the filter but for the validity condition."""
        return self._chroma_nearest(scope, replace(scope.able, validity=False), ask, limit)

    def _strictly_nearest(self, scope: Scope, ask: "_Ask", depth: int) -> list[tuple[str, float]]:
        """Chroma's *depth* nearest with the whole filter in its ``where``."""
        return self._chroma_nearest(scope, scope.able, ask, depth)

    def _chroma_nearest(self, scope: Scope, able: Filterable, ask: "_Ask", limit: int) -> list[tuple[str, float]]:
        where = ask.filter.chroma_where(able, now=ask.now)
        return self.stores.get(StoreName.CHROMA).query(scope.collection, ask.vector.tolist(), limit=limit, where=where)

    def best_agent(self, task_description: str, *, capability: str | None = None, limit: int = 3) -> dict:
        """Rank active agents for a task: meaning of the task against their capabilities
        (``agent_capabilities``), then performance, success rate and current load (running
        tasks, ``lock:agent:{id}``). With *capability*, only agents that have it in the graph."""
        if not 1 <= limit <= 50:
            raise InvalidInput("limit", "must be between 1 and 50")
        vector = self._embed(task_description, field="task_description")
        degraded: set[str] = set()
        try:
            hits = self.stores.get(StoreName.QDRANT).query("agent_capabilities", vector, limit=50)
            candidates = {payload["agent_id"] for _, _, payload in hits}
        except StoreError:
            degraded.add("qdrant")
            candidates = {r["id"] for r in self._all(NEAREST_CAPABLE_AGENTS, {"vector": vector, "limit": 50})}
        if capability is not None:
            try:
                rows = self.stores.get(StoreName.NEO4J).run_named(
                    "best_agent_for_capability", capability=capability, limit=200
                )
            except StoreError:
                degraded.add("neo4j")
                rows = self._all(ACTIVE_WITH_CAPABILITY, {"capability": capability})
            candidates = {r["id"] for r in rows}
        ranked = self._rank(vector, sorted(candidates))
        return {
            "task_description": task_description,
            "capability": capability,
            "agents": ranked[:limit],
            "degraded": sorted(degraded),
        }

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
                locked = self.stores.redis.locks.holder(agent["id"]) is not None
            except StoreError:
                locked = False
            load = min(agent["running_tasks"], 5) / 5
            score = (
                0.6 * float(match["similarity"])
                + 0.2 * float(agent["performance_score"])
                + 0.1 * float(match["success_rate"])
                + 0.1 * (1 - load)
                - (0.1 if locked else 0.0)
            )
            ranked.append(
                {
                    "agent_id": agent["id"],
                    "name": agent["name"],
                    "type": agent["type"],
                    "score": round(score, 6),
                    "similarity": round(float(match["similarity"]), 6),
                    "matched_capability": match["capability"],
                    "performance_score": agent["performance_score"],
                    "running_tasks": agent["running_tasks"],
                    "locked": locked,
                }
            )
        ranked.sort(key=lambda r: r["score"], reverse=True)
        return ranked


@dataclass(frozen=True)
class _Ask:
    """One search as every scope asks it."""

    query: str | None
    vector: np.ndarray | None
    mode: Mode
    limit: int
    filter: SearchFilter
    now: datetime
