"""The PostgreSQL statement that ends a search: the rankings fused and the best rows hydrated.

A scope's search ends in one statement whatever the mode, over:

* ``v`` — the vector ranking: the ids and scores the projection (Chroma, Qdrant) returned,
  passed in as arrays, or, when the projection is down or there is none, pgvector over the
  same rows with the same filter;
* ``k`` — the keyword ranking (:mod:`jarvis.domain.keyword`, BM25), computed beforehand —
  concurrently with the embedding and the projection's query — and passed in as arrays;
* the two fused — a convex combination of normalised scores — and the best ``limit`` rows
  hydrated, with the filter applied again, so a projection that lags behind an update or a
  delete never returns a row the filter excludes.

Statements are assembled here from fixed fragments (table and column names of
:data:`~jarvis.domain.search.SCOPES`, the filter's own fixed clauses); every value travels as
a parameter. The rankings' arrays travel in binary (``%(x)b``): in text, psycopg escapes each
id with a regular expression, 0.3 ms of a hybrid search's 110 ids (1.38 against 1.07 ms for
the statement at 10,000 items).
"""

from __future__ import annotations

from enum import Enum

#: Fusion: ``ALPHA`` x the vector score min-max normalised over its candidates + (1 - ALPHA) x
#: the keyword score divided by the best one (a convex combination of normalised scores; on
#: LoCoMo it beat reciprocal rank fusion, see docs/retrieval-notes.md). Even weights: not fitted.
ALPHA = 0.5


class Mode(str, Enum):
    """How a text scope ranks: both rankings fused (default), meaning only, or words only."""

    hybrid = "hybrid"
    vector = "vector"
    keyword = "keyword"


#: Not computed when nothing is fused: a window over the candidates costs the statement's
#: planning and running (a vector-only search's last statement: 0.64 -> 0.56 ms at 10,000 items).
_V_NORM = (
    ", CASE WHEN max(v_score) OVER () > min(v_score) OVER () THEN (v_score - min(v_score) OVER ()) / "
    "(max(v_score) OVER () - min(v_score) OVER ()) ELSE 1 END AS v_norm"
)


def _vector_from_projection(table: str, where: str, *, normalised: bool) -> str:
    """The projection's candidates that the filter admits (a projection may have been asked
    without part of it, e.g. knowledge's validity, or lag behind), best ``depth`` of them; with
    *normalised*, their scores min-max normalised too (``v_norm``, for fusing)."""
    return (
        f"SELECT id, v_score{_V_NORM if normalised else ''} FROM ("
        "SELECT h.id, h.v_score FROM unnest(%(hit_ids)b::uuid[], %(hit_scores)b::float8[]) AS h(id, v_score) "
        f"WHERE EXISTS (SELECT 1 FROM {table} t WHERE t.id = h.id AND {where}) "
        "ORDER BY h.v_score DESC LIMIT %(depth)s) kept"
    )


def _vector_from_postgres(table: str, where: str, *, euclid: bool, normalised: bool) -> str:
    op = "<->" if euclid else "<=>"
    score = "1 - ((embedding <-> %(vector)s) ^ 2) / 2" if euclid else "1 - (embedding <=> %(vector)s)"
    return (
        f"SELECT id, v_score{_V_NORM if normalised else ''} FROM ("
        f"SELECT id, {score} AS v_score FROM {table} WHERE {where} "
        f"ORDER BY embedding {op} %(vector)s LIMIT %(depth)s) nearest"
    )


_K_NORM = "k_score / max(k_score) OVER () AS k_norm"


def statement(
    *, table: str, columns: str, where: str, vector: str | None, keyword: bool, fuse: bool, euclid: bool = False
) -> str:
    """One scope's search. *vector*: ``"projection"`` (ids and scores given as ``hit_ids``,
    ``hit_scores``), ``"postgres"`` (pgvector, ``vector``), or None (keyword only). With
    *keyword*, the keyword ranking is given as ``k_ids``, ``k_scores``. With *fuse* (a hybrid
    search), the score is the fused one even where one ranking is missing (a scope without
    keywords), so that scopes merge on one scale.

    Each row carries ``vector_kept``: how many of the vector ranking's candidates the filter
    admitted (a caller that asked the projection loosely asks again when too few were).

    Parameters: ``limit``, ``depth`` (candidates per ranking), ``alpha``, and the filter's ``f_*``."""
    if vector is None and not keyword:
        raise ValueError("a search needs a vector ranking, a keyword ranking or both")
    parts = []
    if vector is not None:
        source = (
            _vector_from_projection(table, where, normalised=fuse)
            if vector == "projection"
            else _vector_from_postgres(table, where, euclid=euclid, normalised=fuse)
        )
        parts.append(f"v AS ({source})")
    if keyword:
        parts.append(
            f"k AS (SELECT h.id, h.k_score, {_K_NORM} FROM unnest(%(k_ids)b::uuid[], "
            "%(k_scores)b::float8[]) AS h(id, k_score))"
        )
    if vector is not None and keyword:
        fused = (
            "SELECT id, %(alpha)s * coalesce(v.v_norm, 0) + (1 - %(alpha)s) * coalesce(k.k_norm, 0) AS score, "
            "v.v_score, k.k_score FROM v FULL JOIN k USING (id)"
        )
    elif vector is not None:
        score = "%(alpha)s * v_norm" if fuse else "v_score"
        fused = f"SELECT id, {score} AS score, v_score, NULL::float8 AS k_score FROM v"
    else:
        score = "(1 - %(alpha)s) * k_norm" if fuse else "k_score"
        fused = f"SELECT id, {score} AS score, NULL::float8 AS v_score, k_score FROM k"
    parts.append(f"fused AS ({fused})")
    kept = "(SELECT count(*) FROM v)::int" if vector is not None else "NULL::int"
    return (
        f"WITH {', '.join(parts)} "
        f"SELECT {columns}, fused.score::float8 AS score, fused.v_score::float8 AS vector_score, "
        f"fused.k_score::float8 AS keyword_score, {kept} AS vector_kept "
        f"FROM fused JOIN {table} t USING (id) WHERE {where} "
        f"ORDER BY fused.score DESC, t.id LIMIT %(limit)s"
    )
