"""``JarvisStore``: LangGraph's long-term memory interface (``BaseStore``) over PostgreSQL.

Items are JSON documents under ``(namespace, key)`` in ``langgraph_items`` (migration 014),
each with an embedding of its indexed fields (the whole document by default), so ``search``
with a ``query`` ranks by meaning with the platform's own model; without a query, the most
recently updated come first. Filters follow LangGraph's semantics (exact match, nested
objects as subsets, ``$eq $ne $gt $gte $lt $lte``); exact matches are pushed into SQL as
JSON containment, the rest is checked here.

Isolation is PostgreSQL's: the store runs under :func:`jarvis.principal.current`, so in a
request of a user-bound key (or inside ``acting_as(user)``) it reads and writes that user's
items only, enforced by row-level security; a principal acting for every user has a space of
its own (owner ``''``). A batch runs in one transaction: its reads see the state before its
writes, and of two writes to one item the last wins (as LangGraph's ``InMemoryStore``).

Unlike ``InMemoryStore``, several indexed fields are embedded together as one text (not one
vector each), and TTLs are not supported (``supports_ttl`` is false).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

from langgraph.store.base import (
    BaseStore,
    GetOp,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    get_text_at_path,
    tokenize_path,
    validate_op_namespace,
)
from psycopg.types.json import Jsonb

from jarvis.embeddings import MAX_TEXT_CHARS
from jarvis.errors import InvalidInput
from jarvis.facade import Jarvis
from jarvis.json_bounds import check_json

GET_ITEMS = """
SELECT namespace, key, value, created_at, updated_at FROM langgraph_items
WHERE owner = %(owner)s AND namespace = %(namespace)s AND key = ANY(%(keys)s)
"""
SEARCH_ITEMS = """
SELECT namespace, key, value, created_at, updated_at,
       CASE WHEN %(vector)s::vector IS NULL OR embedding IS NULL THEN NULL
            ELSE 1 - (embedding <=> %(vector)s::vector) END AS score
FROM langgraph_items
WHERE owner = %(owner)s
  AND (%(depth)s = 0 OR namespace[1:%(depth)s] = %(prefix)s::text[])
  AND value @> %(contains)s
ORDER BY score DESC NULLS LAST, updated_at DESC, namespace, key
LIMIT %(limit)s OFFSET %(offset)s
"""
NAMESPACES = "SELECT DISTINCT namespace FROM langgraph_items WHERE owner = %(owner)s"
UPSERT_ITEM = """
INSERT INTO langgraph_items (owner, namespace, key, value, embedding)
VALUES (%(owner)s, %(namespace)s, %(key)s, %(value)s, %(embedding)s)
ON CONFLICT ON CONSTRAINT langgraph_items_pkey DO UPDATE
SET value = EXCLUDED.value, embedding = EXCLUDED.embedding, updated_at = CURRENT_TIMESTAMP
"""
DELETE_ITEM = "DELETE FROM langgraph_items WHERE owner = %(owner)s AND namespace = %(namespace)s AND key = %(key)s"
OPERATORS = frozenset({"$eq", "$ne", "$gt", "$gte", "$lt", "$lte"})


class JarvisStore(BaseStore):
    """A LangGraph store in JARVIS Memory's PostgreSQL, searchable by meaning.

    ``index``: the JSON paths whose text is embedded (LangGraph's path syntax; ``["$"]``, the
    whole document, by default), or ``False`` to embed nothing (``query`` is then ignored).
    """

    supports_ttl = False

    def __init__(self, jarvis: Jarvis, *, index: list[str] | bool = True) -> None:
        self.jarvis = jarvis
        paths = ["$"] if index is True else (index or [])
        self._paths = [(path, tokenize_path(path)) for path in paths]

    # -- the contract --------------------------------------------------------------------------
    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run *ops* in one transaction; results in the same order (None for puts)."""
        ops = list(ops)
        for op in ops:
            validate_op_namespace(op)
        owner = self.jarvis._who().user_id or ""  # the principal of this call (unnamed: the pool's default)
        writes: dict[tuple[tuple[str, ...], str], PutOp] = {}
        for op in ops:
            if isinstance(op, PutOp):
                writes[(tuple(op.namespace), op.key)] = op
            elif not isinstance(op, (GetOp, SearchOp, ListNamespacesOp)):
                raise ValueError(f"Unknown operation type: {type(op)}")
        queries = {op.query for op in ops if isinstance(op, SearchOp) and op.query and self._paths}
        vectors = dict(zip(queries, self.jarvis.embedder.embed_many(list(queries), field="query"))) if queries else {}
        rows = [self._put_params(owner, op) for op in writes.values()]
        with self.jarvis._postgres() as conn:
            results: list[Result] = []
            for op in ops:
                if isinstance(op, GetOp):
                    results.append(_get(conn, owner, op))
                elif isinstance(op, SearchOp):
                    results.append(_search(conn, owner, op, vectors.get(op.query)))
                elif isinstance(op, ListNamespacesOp):
                    results.append(_namespaces(conn, owner, op))
                else:
                    results.append(None)
            for params in rows:
                conn.execute(UPSERT_ITEM if params["value"] is not None else DELETE_ITEM, params)
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """:meth:`batch` on a worker thread (the principal goes along: threads copy the context)."""
        return await asyncio.to_thread(self.batch, list(ops))

    # -- writes ---------------------------------------------------------------------------------
    def _put_params(self, owner: str, op: PutOp) -> dict[str, Any]:
        params: dict[str, Any] = {
            "owner": owner,
            "namespace": list(op.namespace),
            "key": op.key,
            "value": None,
            "embedding": None,
        }
        if op.value is None:
            return params
        check_json(op.value, field="value")  # depth and size, as every JSON field: readable back
        try:
            params["value"] = Jsonb(json.loads(json.dumps(op.value)))
        except (TypeError, ValueError) as exc:
            raise InvalidInput("value", f"must be a JSON object: {exc}") from None
        paths = self._paths if op.index is None else [(p, tokenize_path(p)) for p in (op.index or [])]
        if self._paths and paths:
            texts = [text for _, tokens in paths for text in get_text_at_path(op.value, tokens)]
            if texts:
                params["embedding"] = self.jarvis.embedder.embed("\n".join(texts)[:MAX_TEXT_CHARS], field="value")
        return params


def _item(row: dict) -> Item:
    return Item(
        value=row["value"],
        key=row["key"],
        namespace=tuple(row["namespace"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _get(conn, owner: str, op: GetOp) -> Item | None:
    row = conn.execute(GET_ITEMS, {"owner": owner, "namespace": list(op.namespace), "keys": [op.key]}).fetchone()
    return _item(row) if row else None


def _search(conn, owner: str, op: SearchOp, vector: Any) -> list[SearchItem]:
    contains, exact = _containment(op.filter or {})
    params = {
        "owner": owner,
        "depth": len(op.namespace_prefix),
        "prefix": list(op.namespace_prefix),
        "contains": Jsonb(contains),
        "vector": vector,
        # Everything that SQL cannot check is checked below, so paging then happens here.
        "limit": op.limit if exact else None,
        "offset": op.offset if exact else 0,
    }
    rows = conn.execute(SEARCH_ITEMS, params).fetchall()
    if not exact:
        rows = [row for row in rows if _matches(row["value"], op.filter or {})][op.offset : op.offset + op.limit]
    return [
        SearchItem(
            namespace=tuple(r["namespace"]),
            key=r["key"],
            value=r["value"],
            created_at=r["created_at"],
            updated_at=r["updated_at"],
            score=None if r["score"] is None else float(r["score"]),
        )
        for r in rows
    ]


def _namespaces(conn, owner: str, op: ListNamespacesOp) -> list[tuple[str, ...]]:
    found = [tuple(row["namespace"]) for row in conn.execute(NAMESPACES, {"owner": owner}).fetchall()]
    if op.match_conditions:
        found = [ns for ns in found if all(_namespace_matches(c, ns) for c in op.match_conditions)]
    if op.max_depth is not None:
        found = list({ns[: op.max_depth] for ns in found})
    return sorted(found)[op.offset : op.offset + op.limit]


# -- LangGraph's filter and namespace-matching semantics ---------------------------------------
def _containment(filter: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The part of *filter* PostgreSQL can check as ``value @> …``, and whether that is all of it."""
    contains: dict[str, Any] = {}
    for key, wanted in filter.items():
        if isinstance(wanted, (str, bool, int, float)):  # not None: a missing key matches None here
            contains[key] = wanted
        elif isinstance(wanted, dict) and not _has_operator(wanted) and _all_scalars(wanted):
            contains[key] = wanted
    return contains, len(contains) == len(filter)


def _has_operator(value: dict) -> bool:
    return any(isinstance(k, str) and k.startswith("$") for k in value)


def _all_scalars(value: Any) -> bool:
    if isinstance(value, dict):
        return not _has_operator(value) and all(_all_scalars(v) for v in value.values())
    return isinstance(value, (str, bool, int, float))


def _matches(value: dict, filter: dict[str, Any]) -> bool:
    return all(_compare(value.get(key), wanted) for key, wanted in filter.items())


def _compare(actual: Any, wanted: Any) -> bool:
    if isinstance(wanted, dict):
        if _has_operator(wanted):
            return all(_apply(actual, operator, operand) for operator, operand in wanted.items())
        return isinstance(actual, dict) and all(_compare(actual.get(k), v) for k, v in wanted.items())
    if isinstance(wanted, (list, tuple)):
        return (
            isinstance(actual, (list, tuple))
            and len(actual) == len(wanted)
            and all(_compare(a, w) for a, w in zip(actual, wanted))
        )
    return actual == wanted


def _apply(actual: Any, operator: str, operand: Any) -> bool:
    if operator not in OPERATORS:
        raise InvalidInput("filter", f"unsupported operator {operator!r}; use one of {', '.join(sorted(OPERATORS))}")
    if operator == "$eq":
        return actual == operand
    if operator == "$ne":
        return actual != operand
    try:
        left, right = float(actual), float(operand)
    except (TypeError, ValueError):
        return False
    return {"$gt": left > right, "$gte": left >= right, "$lt": left < right, "$lte": left <= right}[operator]


def _namespace_matches(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    if condition.match_type == "prefix":
        pairs = zip(namespace, path)
    elif condition.match_type == "suffix":
        pairs = zip(reversed(namespace), reversed(path))
    else:
        raise InvalidInput("match_type", f"must be prefix or suffix, not {condition.match_type!r}")
    return all(p == "*" or n == p for n, p in pairs)
